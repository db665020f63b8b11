import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminSocketPath, provisionAccounts } from './provision.js';
import { FakeServer } from './test-fake-server.js';

let dir: string | undefined;
let admin: net.Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (admin ? admin.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
  admin = undefined;
  dir = undefined;
});

/** Speaks the admin socket's line protocol like Strom does, with replies out of order. */
async function fakeAdmin(existing: Set<string>): Promise<{ socketPath: string; requests: unknown[] }> {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bench-admin-'));
  const socketPath = path.join(dir, 'admin.sock');
  const requests: unknown[] = [];
  admin = net.createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const request = JSON.parse(buffer.slice(0, nl)) as { username: string };
        buffer = buffer.slice(nl + 1);
        requests.push(request);
        const reply = existing.has(request.username)
          ? { ok: false, error: 'exists', problem: 'exists' }
          : request.username === 'bad name'
            ? { ok: false, error: 'Invalid username', problem: 'invalid-username' }
            : { ok: true, result: `${request.username}@localhost` };
        existing.add(request.username);
        setTimeout(() => socket.write(`${JSON.stringify(reply)}\n`), Math.random() * 5);
      }
    });
  });
  await new Promise<void>((resolve) => admin!.listen(socketPath, () => resolve()));
  return { socketPath, requests };
}

const base = { url: 'ws://unused', domain: 'localhost', password: 'pw', concurrency: 4, timeoutMs: 1000 };

describe('provisioning through the admin socket', () => {
  it('sends user.add for each account and counts existing ones', async () => {
    const { socketPath, requests } = await fakeAdmin(new Set(['u1']));
    const names = Array.from({ length: 30 }, (_, i) => `u${i + 1}`);
    const result = await provisionAccounts(names, { ...base, method: 'cli', adminSocket: socketPath });
    expect(result).toMatchObject({ method: 'cli', created: 29, existing: 1 });
    expect(requests).toHaveLength(30);
    expect(requests[0]).toMatchObject({ command: 'user.add', password: 'pw' });
  });

  it('stops on any other refusal and explains a missing socket', async () => {
    const { socketPath } = await fakeAdmin(new Set());
    await expect(
      provisionAccounts(['bad name'], { ...base, method: 'cli', adminSocket: socketPath }),
    ).rejects.toThrow(/strom user add bad name failed: Invalid username/);
    await expect(
      provisionAccounts(['x'], { ...base, method: 'cli', adminSocket: path.join(dir!, 'missing.sock') }),
    ).rejects.toThrow(/cannot reach Strom's admin socket/);
  });

  it('creates nothing with --provision none', async () => {
    expect(await provisionAccounts(['a'], { ...base, method: 'none' })).toMatchObject({
      created: 0,
      existing: 0,
    });
  });
});

describe('automatic provisioning', () => {
  let xmpp: FakeServer | undefined;
  afterEach(async () => {
    await xmpp?.stop();
    xmpp = undefined;
  });

  it('registers in-band while the server allows it', async () => {
    xmpp = await FakeServer.start();
    const result = await provisionAccounts(['a1', 'a2'], { ...base, url: xmpp.url, method: 'auto' });
    expect(result).toMatchObject({ method: 'register', created: 2 });
  });

  it('turns to the admin socket when the server refuses, and fails without one', async () => {
    xmpp = await FakeServer.start({ registrationError: 'resource-constraint' });
    const { socketPath, requests } = await fakeAdmin(new Set());
    const names = ['b1', 'b2', 'b3'];
    const result = await provisionAccounts(names, {
      ...base,
      url: xmpp.url,
      method: 'auto',
      adminSocket: socketPath,
    });
    expect(result).toMatchObject({ method: 'cli', created: 3 });
    expect(requests).toHaveLength(3);
    await expect(
      provisionAccounts(['c1'], {
        ...base,
        url: xmpp.url,
        method: 'auto',
        adminSocket: path.join(dir!, 'none.sock'),
      }),
    ).rejects.toThrow(/resource-constraint/);
  });
});

describe('adminSocketPath', () => {
  it('finds the socket the way the strom CLI does', () => {
    expect(adminSocketPath('/x/y.sock', {})).toBe('/x/y.sock');
    expect(adminSocketPath(undefined, { ADMIN_SOCKET: '/run/strom.sock', DATA_DIR: '/d' })).toBe(
      '/run/strom.sock',
    );
    expect(adminSocketPath(undefined, { DATA_DIR: '/d' })).toBe('/d/admin.sock');
    expect(adminSocketPath(undefined, {})).toBe(path.resolve('data/admin.sock'));
  });
});
