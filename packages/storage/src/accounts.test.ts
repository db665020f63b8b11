import { describe, expect, it } from 'vitest';
import {
  countRows,
  countRowsAbout,
  createAccount,
  credentials,
  rosterItem,
  uniqueName,
  useTestStorage,
} from './test-fixtures.js';
import { STORAGE_KINDS } from './testing.js';

describe.each(STORAGE_KINDS)('accounts on %s', (kind) => {
  const storage = useTestStorage(kind);

  it('reports its kind and answers the readiness probe', async () => {
    expect(storage().kind).toBe(kind);
    await expect(storage().ping()).resolves.toBeUndefined();
  });

  it('creates an account once and refuses a second one with the same username', async () => {
    const username = uniqueName();
    const before = await storage().accounts.count();
    expect(await storage().accounts.exists(username)).toBe(false);
    expect(await storage().accounts.create(username, credentials('first'))).toBe(true);
    expect(await storage().accounts.create(username, credentials('second'))).toBe(false);
    expect(await storage().accounts.exists(username)).toBe(true);
    expect(await storage().accounts.count()).toBe(before + 1);
    expect((await storage().accounts.get(username))?.credentials).toEqual(credentials('first'));
  });

  it('keeps exactly one account when the same username is created concurrently', async () => {
    const username = uniqueName();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => storage().accounts.create(username, credentials(`c${i}`))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect((await storage().accounts.get(username))?.credentials).toEqual(credentials(`c${winner}`));
  });

  it('round-trips credentials and replaces them', async () => {
    const username = uniqueName();
    const started = Date.now();
    await storage().accounts.create(username, credentials('old'));
    const account = await storage().accounts.get(username);
    expect(account).toMatchObject({ username, lastLoginAt: null, credentials: credentials('old') });
    expect(account?.createdAt).toBeInstanceOf(Date);
    expect(Math.abs((account?.createdAt.getTime() ?? 0) - started)).toBeLessThan(60_000);

    expect(await storage().accounts.setCredentials(username, credentials('new'))).toBe(true);
    expect((await storage().accounts.get(username))?.credentials).toEqual(credentials('new'));
    expect(await storage().accounts.setCredentials(uniqueName('ghost'), credentials('x'))).toBe(false);
  });

  it('returns undefined for an unknown account', async () => {
    expect(await storage().accounts.get(uniqueName('ghost'))).toBeUndefined();
  });

  it('records only the latest login', async () => {
    const username = await createAccount(storage());
    const first = new Date('2025-01-02T03:04:05.678Z');
    const second = new Date('2025-02-03T04:05:06.789Z');
    await storage().accounts.touchLogin(username, first);
    expect((await storage().accounts.get(username))?.lastLoginAt).toEqual(first);
    await storage().accounts.touchLogin(username, second);
    expect((await storage().accounts.get(username))?.lastLoginAt).toEqual(second);

    const before = Date.now();
    await storage().accounts.touchLogin(username);
    const now = (await storage().accounts.get(username))?.lastLoginAt?.getTime() ?? 0;
    expect(now).toBeGreaterThanOrEqual(before - 1000);
    expect(now).toBeLessThan(before + 60_000);
  });

  it('ignores a login for an unknown account', async () => {
    const ghost = uniqueName('ghost');
    await storage().accounts.touchLogin(ghost);
    expect(await storage().accounts.exists(ghost)).toBe(false);
  });

  it('lists accounts and filters the inactive ones', async () => {
    const active = await createAccount(storage(), 'active');
    const idle = await createAccount(storage(), 'idle');
    const neverLoggedIn = await createAccount(storage(), 'never');
    await storage().accounts.touchLogin(active, new Date());
    await storage().accounts.touchLogin(idle, new Date('2020-01-01T00:00:00Z'));

    const all = await storage().accounts.list();
    const names = all.map((account) => account.username);
    expect(names).toEqual(expect.arrayContaining([active, idle, neverLoggedIn]));
    expect(names).toEqual([...names].sort());
    const listed = all.find((account) => account.username === idle);
    expect(listed).toEqual({
      username: idle,
      createdAt: expect.any(Date),
      lastLoginAt: new Date('2020-01-01T00:00:00Z'),
    });
    expect(listed).not.toHaveProperty('credentials');

    const inactiveSinceYesterday = (
      await storage().accounts.list({ inactiveSince: new Date(Date.now() - 86_400_000) })
    ).map((account) => account.username);
    expect(inactiveSinceYesterday).toContain(idle);
    expect(inactiveSinceYesterday).not.toContain(active);
    // Created just now, so it has not been inactive for a day yet.
    expect(inactiveSinceYesterday).not.toContain(neverLoggedIn);

    const inactiveSinceTomorrow = (
      await storage().accounts.list({ inactiveSince: new Date(Date.now() + 86_400_000) })
    ).map((account) => account.username);
    expect(inactiveSinceTomorrow).toEqual(expect.arrayContaining([active, idle, neverLoggedIn]));
  });

  it('deletes an account and every row about the user, leaving other users untouched', async () => {
    const bystander = await createAccount(storage(), 'bystander');
    await storage().roster.put(bystander, rosterItem('someone@example.com'));
    const baseline = await countRows(storage());

    const doomed = await createAccount(storage(), 'doomed');
    await storage().roster.put(doomed, rosterItem(`${bystander}@example.com`, { subscription: 'both' }));
    await storage().roster.put(doomed, rosterItem('carol@elsewhere.org', { groups: ['Friends'] }));
    await storage().roster.put(doomed, rosterItem('dave@example.com'));
    await storage().roster.remove(doomed, 'dave@example.com');
    await storage().roster.addPendingIn(doomed, 'eve@example.com');
    await storage().vcards.set(doomed, '<vCard xmlns="vcard-temp"/>', 'abc123');
    await storage().offline.store(doomed, '<message/>', 10);
    await storage().blocklist.add(doomed, ['spam.example', 'mallory@example.com']);

    const about = await countRowsAbout(storage(), doomed);
    expect(Object.values(about).every((rows) => rows > 0)).toBe(true);

    expect(await storage().accounts.delete(doomed)).toBe(true);
    expect(await countRowsAbout(storage(), doomed)).toEqual({
      accounts: 0,
      roster_items: 0,
      roster_tombstones: 0,
      pending_subscriptions: 0,
      vcards: 0,
      offline_messages: 0,
      blocked_jids: 0,
    });
    expect(await countRows(storage())).toEqual(baseline);
    expect(await storage().accounts.exists(doomed)).toBe(false);
    expect(await storage().roster.count(bystander)).toBe(1);

    expect(await storage().accounts.delete(doomed)).toBe(false);
  });
});
