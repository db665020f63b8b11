import { describe, expect, it } from 'vitest';
import { createAccount, useTestStorage } from './test-fixtures.js';
import { STORAGE_KINDS } from './testing.js';

describe.each(STORAGE_KINDS)('blocklist on %s', (kind) => {
  const storage = useTestStorage(kind);
  const blocklist = () => storage().blocklist;

  it('adds bare, full and domain JIDs idempotently', async () => {
    const owner = await createAccount(storage());
    expect(await blocklist().list(owner)).toEqual([]);
    await blocklist().add(owner, ['spam.example', 'mallory@example.com', 'eve@example.com/phone']);
    await blocklist().add(owner, ['mallory@example.com', 'mallory@example.com']);
    expect(await blocklist().list(owner)).toEqual([
      'eve@example.com/phone',
      'mallory@example.com',
      'spam.example',
    ]);
    await blocklist().add(owner, []);
    expect(await blocklist().list(owner)).toHaveLength(3);
  });

  it('removes some JIDs, ignoring ones that are not blocked', async () => {
    const owner = await createAccount(storage());
    await blocklist().add(owner, ['a@example.com', 'b@example.com', 'c@example.com']);
    await blocklist().remove(owner, ['a@example.com', 'nobody@example.com']);
    expect(await blocklist().list(owner)).toEqual(['b@example.com', 'c@example.com']);
    await blocklist().remove(owner, []);
    expect(await blocklist().list(owner)).toEqual(['b@example.com', 'c@example.com']);
  });

  it('clears one owner’s list without touching another’s', async () => {
    const owner = await createAccount(storage());
    const neighbour = await createAccount(storage());
    await blocklist().add(owner, ['a@example.com', 'b@example.com']);
    await blocklist().add(neighbour, ['a@example.com']);
    await blocklist().clear(owner);
    expect(await blocklist().list(owner)).toEqual([]);
    expect(await blocklist().list(neighbour)).toEqual(['a@example.com']);
  });
});
