import { describe, expect, it } from 'vitest';
import { sharedSecret } from './secrets.js';
import { useTestStorage } from './test-fixtures.js';
import { STORAGE_KINDS } from './testing.js';

describe.each(STORAGE_KINDS)('shared secrets on %s', (kind) => {
  const storage = useTestStorage(kind);

  it('creates a secret once and hands every caller the same bytes', async () => {
    const first = await sharedSecret(storage(), 'test-once');
    expect(first.length).toBe(32);
    expect(await sharedSecret(storage(), 'test-once')).toEqual(first);
  });

  it('gives concurrent first callers one value (the insert that loses keeps the winner)', async () => {
    const values = await Promise.all(Array.from({ length: 8 }, () => sharedSecret(storage(), 'test-race')));
    for (const value of values) expect(value).toEqual(values[0]);
  });

  it('keeps secrets of different names apart', async () => {
    const a = await sharedSecret(storage(), 'test-a');
    const b = await sharedSecret(storage(), 'test-b');
    expect(a).not.toEqual(b);
  });
});
