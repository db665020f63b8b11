import { describe, expect, it } from 'vitest';
import { createAccount, rosterItem, uniqueName, useTestStorage } from './test-fixtures.js';
import { STORAGE_KINDS } from './testing.js';

describe.each(STORAGE_KINDS)('roster on %s', (kind) => {
  const HISTORY_LIMIT = 5;
  const storage = useTestStorage(kind, { rosterHistoryLimit: HISTORY_LIMIT });
  const roster = () => storage().roster;

  it('starts empty at version 0', async () => {
    const owner = await createAccount(storage());
    expect(await roster().get(owner)).toEqual({ version: 0, items: [] });
    expect(await roster().count(owner)).toBe(0);
    expect(await roster().getItem(owner, 'bob@example.com')).toBeUndefined();
  });

  it('stores every field of an item, including contacts on other domains', async () => {
    const owner = await createAccount(storage());
    const bob = rosterItem('bob@example.com', {
      name: 'Bob',
      groups: ['Friends', 'Work'],
      subscription: 'both',
      askOut: true,
      approved: true,
    });
    const carol = rosterItem('carol@elsewhere.org', { subscription: 'from' });
    expect(await roster().put(owner, bob)).toBe(1);
    expect(await roster().put(owner, carol)).toBe(2);

    expect(await roster().getItem(owner, 'bob@example.com')).toEqual(bob);
    const unnamed = await roster().getItem(owner, 'carol@elsewhere.org');
    expect(unnamed).toEqual(carol);
    expect(unnamed).not.toHaveProperty('name');
    expect(await roster().get(owner)).toEqual({ version: 2, items: [bob, carol] });
    expect(await roster().count(owner)).toBe(2);
  });

  it('replaces an item on put and bumps the version every time', async () => {
    const owner = await createAccount(storage());
    await roster().put(owner, rosterItem('bob@example.com', { name: 'Bob', groups: ['A'] }));
    const updated = rosterItem('bob@example.com', { subscription: 'to', groups: [] });
    expect(await roster().put(owner, updated)).toBe(2);
    expect(await roster().getItem(owner, 'bob@example.com')).toEqual(updated);
    expect(await roster().count(owner)).toBe(1);
  });

  it('removes items and reports absent ones as undefined', async () => {
    const owner = await createAccount(storage());
    await roster().put(owner, rosterItem('bob@example.com'));
    expect(await roster().remove(owner, 'bob@example.com')).toBe(2);
    expect(await roster().getItem(owner, 'bob@example.com')).toBeUndefined();
    expect(await roster().remove(owner, 'bob@example.com')).toBeUndefined();
    expect(await roster().get(owner)).toEqual({ version: 2, items: [] });
  });

  it('keeps rosters of different owners apart', async () => {
    const alice = await createAccount(storage(), 'alice');
    const dave = await createAccount(storage(), 'dave');
    await roster().put(alice, rosterItem('bob@example.com', { name: 'Bobby' }));
    await roster().put(dave, rosterItem('bob@example.com', { name: 'Robert' }));
    await roster().remove(dave, 'bob@example.com');
    expect((await roster().getItem(alice, 'bob@example.com'))?.name).toBe('Bobby');
    expect(await roster().get(dave)).toEqual({ version: 2, items: [] });
    expect(await roster().get(alice)).toMatchObject({ version: 1 });
  });

  it('refuses to change the roster of an unknown account', async () => {
    await expect(roster().put(uniqueName('ghost'), rosterItem('bob@example.com'))).rejects.toThrow();
    expect(await roster().remove(uniqueName('ghost'), 'bob@example.com')).toBeUndefined();
  });

  it('reports changes and removals since a version', async () => {
    const owner = await createAccount(storage());
    const bob = rosterItem('bob@example.com');
    const carol = rosterItem('carol@example.com');
    await roster().put(owner, bob); // v1
    await roster().put(owner, carol); // v2
    const carolFriend = { ...carol, subscription: 'both' as const };
    await roster().put(owner, carolFriend); // v3
    await roster().remove(owner, 'bob@example.com'); // v4
    const dave = rosterItem('dave@example.com');
    await roster().put(owner, dave); // v5

    expect(await roster().changesSince(owner, 5)).toEqual({ version: 5, items: [], removed: [] });
    expect(await roster().changesSince(owner, 4)).toEqual({ version: 5, items: [dave], removed: [] });
    expect(await roster().changesSince(owner, 3)).toEqual({
      version: 5,
      items: [dave],
      removed: ['bob@example.com'],
    });
    expect(await roster().changesSince(owner, 1)).toEqual({
      version: 5,
      items: [carolFriend, dave],
      removed: ['bob@example.com'],
    });
    expect(await roster().changesSince(owner, 0)).toEqual({
      version: 5,
      items: [carolFriend, dave],
      removed: ['bob@example.com'],
    });
  });

  it('reports a re-added contact as changed, not removed', async () => {
    const owner = await createAccount(storage());
    await roster().put(owner, rosterItem('bob@example.com')); // v1
    await roster().remove(owner, 'bob@example.com'); // v2
    const again = rosterItem('bob@example.com', { name: 'Bob again' });
    await roster().put(owner, again); // v3
    expect(await roster().changesSince(owner, 1)).toEqual({ version: 3, items: [again], removed: [] });
  });

  it('returns undefined for versions ahead, invalid, or of an unknown owner', async () => {
    const owner = await createAccount(storage());
    await roster().put(owner, rosterItem('bob@example.com'));
    expect(await roster().changesSince(owner, 2)).toBeUndefined();
    expect(await roster().changesSince(owner, -1)).toBeUndefined();
    expect(await roster().changesSince(owner, 0.5)).toBeUndefined();
    expect(await roster().changesSince(owner, Number.NaN)).toBeUndefined();
    expect(await roster().changesSince(uniqueName('ghost'), 0)).toBeUndefined();
  });

  it('forgets removals beyond the history limit and then refuses versions that are too old', async () => {
    const owner = await createAccount(storage());
    const contacts = Array.from({ length: HISTORY_LIMIT + 2 }, (_, i) => `contact${i}@example.com`);
    for (const jid of contacts) await roster().put(owner, rosterItem(jid)); // v1..v7
    let version = contacts.length;
    for (const jid of contacts) version = (await roster().remove(owner, jid)) ?? version; // v8..v14

    // The first two removals (v8, v9) were forgotten, so only versions from v9 on can be answered.
    expect(await roster().changesSince(owner, 0)).toBeUndefined();
    expect(await roster().changesSince(owner, 8)).toBeUndefined();
    expect(await roster().changesSince(owner, 9)).toEqual({
      version,
      items: [],
      removed: contacts.slice(2),
    });
    expect(await roster().changesSince(owner, version)).toEqual({ version, items: [], removed: [] });
  });

  it('serializes concurrent changes into distinct consecutive versions', async () => {
    const owner = await createAccount(storage());
    const versions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => roster().put(owner, rosterItem(`c${i}@example.com`))),
    );
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await roster().get(owner)).toMatchObject({ version: 20 });
    expect(await roster().count(owner)).toBe(20);
  });

  it('tracks pending inbound subscription requests idempotently', async () => {
    const owner = await createAccount(storage());
    await roster().addPendingIn(owner, 'bob@example.com');
    await roster().addPendingIn(owner, 'bob@example.com');
    await roster().addPendingIn(owner, 'alice@elsewhere.org');
    expect(await roster().hasPendingIn(owner, 'bob@example.com')).toBe(true);
    expect(await roster().hasPendingIn(owner, 'carol@example.com')).toBe(false);
    expect(await roster().listPendingIn(owner)).toEqual(['alice@elsewhere.org', 'bob@example.com']);

    expect(await roster().removePendingIn(owner, 'bob@example.com')).toBe(true);
    expect(await roster().removePendingIn(owner, 'bob@example.com')).toBe(false);
    expect(await roster().hasPendingIn(owner, 'bob@example.com')).toBe(false);
    expect(await roster().listPendingIn(owner)).toEqual(['alice@elsewhere.org']);
    // Pending requests are not roster items and do not change the roster version.
    expect(await roster().get(owner)).toEqual({ version: 0, items: [] });
  });

  it('finds every owner whose roster contains a contact', async () => {
    const contact = `${uniqueName('target')}@example.com`;
    const first = await createAccount(storage(), 'first');
    const second = await createAccount(storage(), 'second');
    const unrelated = await createAccount(storage(), 'unrelated');
    await roster().put(first, rosterItem(contact));
    await roster().put(second, rosterItem(contact, { subscription: 'both' }));
    await roster().put(unrelated, rosterItem('other@example.com'));
    expect(await roster().ownersWithContact(contact)).toEqual([first, second].sort());
    expect(await roster().ownersWithContact(`${uniqueName('nobody')}@example.com`)).toEqual([]);
  });
});
