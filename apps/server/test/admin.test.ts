import { accounts } from '@strom/storage';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleAdminRequest } from '../src/admin.js';
import { connectClient, startTestServer, type TestServer } from './harness.js';

const DAY = 86_400_000;

describe('user list --inactive-days', () => {
  let server: TestServer;
  const daysAgo = (days: number) => new Date(Date.now() - days * DAY);

  beforeAll(async () => {
    server = await startTestServer();
    const { storage } = server.strom;
    const created = async (username: string, createdDaysAgo: number, lastLoginDaysAgo?: number) => {
      await server.addUser(username);
      await storage.database
        .update(accounts)
        .set({ createdAt: daysAgo(createdDaysAgo) })
        .where(eq(accounts.username, username));
      if (lastLoginDaysAgo !== undefined)
        await storage.accounts.touchLogin(username, daysAgo(lastLoginDaysAgo));
    };
    await created('fresh', 0);
    await created('newcomer', 0.5);
    await created('forgotten', 40);
    await created('lapsed', 90, 30);
    await created('recent', 90, 0.1);
    await created('daily', 90, 2);
  });
  afterAll(() => server.stop());

  const inactive = async (inactiveDays: number | undefined) => {
    const reply = await handleAdminRequest(server.strom.xmpp, { command: 'user.list', inactiveDays });
    if (!reply.ok) throw new Error(reply.error);
    return (reply.result as Array<{ jid: string }>).map((account) => account.jid.split('@')[0]);
  };

  it('counts an account that never logged in from its creation', async () => {
    expect(await inactive(1)).toEqual(['daily', 'forgotten', 'lapsed']);
    expect(await inactive(7)).toEqual(['forgotten', 'lapsed']);
    expect(await inactive(35)).toEqual(['forgotten']);
  });

  it('never counts an account that is online right now', async () => {
    const { storage } = server.strom;
    const daily = await connectClient(server, { username: 'daily' });
    // Binding touches the last login; wait for that, then make it old while the session stays open
    // (a session kept for days looks just like this).
    await expect
      .poll(async () => (await storage.accounts.get('daily'))?.lastLoginAt?.getTime() ?? 0)
      .toBeGreaterThan(Date.now() - 60_000);
    await storage.accounts.touchLogin('daily', daysAgo(2));
    const stored = await storage.accounts.list({ inactiveSince: daysAgo(1) });
    expect(stored.map((account) => account.username)).toContain('daily');
    expect(await inactive(1)).toEqual(['forgotten', 'lapsed']);
    await daily.stop();
  });

  it('lists everyone without the option, and refuses days that are not whole and positive', async () => {
    expect(await inactive(undefined)).toEqual([
      'daily',
      'forgotten',
      'fresh',
      'lapsed',
      'newcomer',
      'recent',
    ]);
    for (const days of [0, -1, 1.5]) {
      const reply = await handleAdminRequest(server.strom.xmpp, { command: 'user.list', inactiveDays: days });
      expect(reply.ok, String(days)).toBe(false);
    }
  });
});
