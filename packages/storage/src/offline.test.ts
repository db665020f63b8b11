import { describe, expect, it } from 'vitest';
import { createAccount, uniqueName, useTestStorage } from './test-fixtures.js';
import { STORAGE_KINDS } from './testing.js';

describe.each(STORAGE_KINDS)('offline messages on %s', (kind) => {
  const storage = useTestStorage(kind);
  const offline = () => storage().offline;

  it('stores messages and lists them oldest first', async () => {
    const owner = await createAccount(storage());
    const before = Date.now();
    for (const body of ['one', 'two', 'three']) {
      expect(await offline().store(owner, `<message><body>${body}</body></message>`, 10)).toBe('stored');
    }
    const messages = await offline().list(owner);
    expect(messages.map((message) => message.stanza)).toEqual([
      '<message><body>one</body></message>',
      '<message><body>two</body></message>',
      '<message><body>three</body></message>',
    ]);
    const ids = messages.map((message) => message.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (const message of messages) {
      expect(message.storedAt).toBeInstanceOf(Date);
      expect(message.storedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    }
    expect((await offline().list(owner, 2)).map((message) => message.stanza)).toEqual(
      messages.slice(0, 2).map((message) => message.stanza),
    );
    expect(await offline().count(owner)).toBe(3);
  });

  it('refuses messages beyond the quota', async () => {
    const owner = await createAccount(storage());
    expect(await offline().store(owner, '<message/>', 2)).toBe('stored');
    expect(await offline().store(owner, '<message/>', 2)).toBe('stored');
    expect(await offline().store(owner, '<message/>', 2)).toBe('quota-exceeded');
    expect(await offline().count(owner)).toBe(2);
    expect(await offline().store(owner, '<message/>', 0)).toBe('quota-exceeded');
  });

  it('never exceeds the quota under concurrent stores', async () => {
    const owner = await createAccount(storage());
    const other = await createAccount(storage());
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        offline().store(i % 5 === 0 ? other : owner, `<message id="m${i}"/>`, 10),
      ),
    );
    const stored = results.filter((result) => result === 'stored').length;
    expect(stored).toBe(20);
    expect(results.filter((result) => result === 'quota-exceeded')).toHaveLength(30);
    expect(await offline().count(owner)).toBe(10);
    expect(await offline().count(other)).toBe(10);
  });

  it('hands every message out once to concurrent claims, oldest first, and puts claimed ones back', async () => {
    const owner = await createAccount(storage());
    const other = await createAccount(storage());
    for (let n = 0; n < 30; n++) await offline().store(owner, `<message id="c${n}"/>`, 100);
    await offline().store(other, '<message id="other"/>', 100);
    const claims = await Promise.all(Array.from({ length: 6 }, () => offline().claim(owner, 7)));
    const ids = claims.flat().map((message) => message.stanza);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(Array.from({ length: 30 }, (_, n) => `<message id="c${n}"/>`).sort());
    for (const claim of claims)
      expect(claim.map((m) => m.id)).toEqual([...claim.map((m) => m.id)].sort((a, b) => a - b));
    expect(await offline().count(owner)).toBe(0);
    expect(await offline().count(other)).toBe(1);

    const [first] = claims.filter((claim) => claim.length > 0);
    await offline().restore(owner, first!);
    const back = await offline().list(owner);
    expect(back.map((m) => m.stanza)).toEqual(first!.map((m) => m.stanza));
    expect(back.map((m) => m.storedAt.getTime())).toEqual(first!.map((m) => m.storedAt.getTime()));
  });

  it('deletes delivered messages by id, only the owner’s', async () => {
    const owner = await createAccount(storage());
    const stranger = await createAccount(storage());
    for (const n of [1, 2, 3]) await offline().store(owner, `<message id="${n}"/>`, 10);
    await offline().store(stranger, '<message id="s"/>', 10);
    const [first, second, third] = await offline().list(owner);
    const [strangers] = await offline().list(stranger);

    expect(await offline().delete(owner, [first!.id, third!.id, strangers!.id])).toBe(2);
    expect(await offline().list(owner)).toEqual([second]);
    expect(await offline().count(stranger)).toBe(1);
    expect(await offline().delete(owner, [first!.id])).toBe(0);
    expect(await offline().delete(owner, [])).toBe(0);
  });

  it('clears all messages of an owner', async () => {
    const owner = await createAccount(storage());
    for (const n of [1, 2, 3, 4]) await offline().store(owner, `<message id="${n}"/>`, 10);
    expect(await offline().clear(owner)).toBe(4);
    expect(await offline().count(owner)).toBe(0);
    expect(await offline().list(owner)).toEqual([]);
    expect(await offline().clear(owner)).toBe(0);
  });

  it('refuses to store for an unknown account', async () => {
    await expect(offline().store(uniqueName('ghost'), '<message/>', 10)).rejects.toThrow(/unknown account/);
  });
});
