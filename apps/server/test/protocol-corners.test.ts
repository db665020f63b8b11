import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestStorage } from '@strom/storage';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Strom, startStrom } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { connectClient, RawClient, type TestClient, WAIT_MS } from './harness.js';
import { makeTestCertificates, type TestCertificates } from './tls-fixtures.js';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const OPEN = `<open xmlns="${FRAMING}" to="localhost" version="1.0"/>`;
const STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
const TCP_HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;
const AUTH_TIMEOUT_S = 3;

interface LogEntry {
  level: number;
  msg?: string;
  err?: { stack?: string };
  [key: string]: unknown;
}

const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8 } as const;

/**
 * A WebSocket client on a bare TCP socket, for frames no WebSocket library sends: continuation
 * frames out of place, reserved opcodes and bits, unmasked frames, lengths that never arrive.
 */
class RawFrames {
  readonly texts: string[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<void>;
  private buffer = Buffer.alloc(0);
  private upgraded = false;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.closed.then(() => this.wake());
  }

  static async connect(port: number): Promise<RawFrames> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new RawFrames(socket);
    socket.write(
      'GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n',
    );
    await client.until(() => client.upgraded, 'the 101 response');
    return client;
  }

  /** One frame; masked (as a client must) unless told otherwise. */
  frame(
    opcode: number,
    payload: Buffer | string,
    options: { fin?: boolean; mask?: boolean; rsv1?: boolean; declaredLength?: number } = {},
  ): void {
    const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const length = options.declaredLength ?? data.length;
    const first = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | opcode;
    const masked = options.mask ?? true;
    let header: Buffer;
    if (length < 126) header = Buffer.from([first, (masked ? 0x80 : 0) | length]);
    else if (length < 65536) {
      header = Buffer.alloc(4);
      header.writeUInt8(first, 0);
      header.writeUInt8((masked ? 0x80 : 0) | 126, 1);
      header.writeUInt16BE(length, 2);
    } else {
      header = Buffer.alloc(10);
      header.writeUInt8(first, 0);
      header.writeUInt8((masked ? 0x80 : 0) | 127, 1);
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    if (!masked) {
      this.socket.write(Buffer.concat([header, data]));
      return;
    }
    const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const body = Buffer.from(data.map((byte, i) => byte ^ key[i % 4]!));
    this.socket.write(Buffer.concat([header, key, body]));
  }

  text(payload: Buffer | string): void {
    this.frame(OPCODE.text, payload);
  }

  /** Waits for a text frame containing `needle`. */
  async next(needle: string): Promise<string> {
    let found: string | undefined;
    await this.until(() => {
      const index = this.texts.findIndex((t) => t.includes(needle));
      if (index !== -1) found = this.texts.splice(index, 1)[0];
      return found !== undefined;
    }, needle);
    return found!;
  }

  /** The stream error's condition, then the framing close, then the WebSocket close. */
  async expectStreamError(condition: string): Promise<void> {
    const error = await this.next('<stream:error');
    expect(error).toContain(`<${condition} xmlns="${STREAMS}"/>`);
    expect(await this.next('<close')).toBe(`<close xmlns="${FRAMING}"/>`);
    await this.until(() => this.closeCode !== undefined || this.socket.destroyed, 'the close frame');
    this.socket.destroy();
  }

  private async until(done: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!done()) {
      if (this.socket.destroyed && !done())
        throw new Error(`closed before ${what}: ${this.texts.join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.texts.join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (!this.upgraded) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      if (!this.buffer.subarray(0, 12).toString().includes('101')) throw new Error('upgrade refused');
      this.upgraded = true;
      this.buffer = this.buffer.subarray(end + 4);
    }
    // Server frames are unmasked and, here, never longer than 64 KiB.
    for (;;) {
      if (this.buffer.length < 2) break;
      const opcode = this.buffer[0]! & 0x0f;
      let length = this.buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) break;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      }
      if (this.buffer.length < offset + length) break;
      const payload = this.buffer.subarray(offset, offset + length);
      this.buffer = this.buffer.subarray(offset + length);
      if (opcode === OPCODE.text) this.texts.push(payload.toString());
      if (opcode === OPCODE.close) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    }
    this.wake();
  }
}

/** A raw TCP client stream (RFC 6120) collecting what arrives until the server closes. */
async function tcpExchange(port: number, data: Buffer | string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(data);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    closed,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still open; got: ${text}`)), WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
  return text;
}

describe('protocol corner cases get their spec answers, quietly, and harm no one else', () => {
  const logs: LogEntry[] = [];
  let certs: TestCertificates;
  let strom: Strom;
  let dataDir: string;
  let wsUrl: string;
  let httpPort: number;
  let tcpPort: number;
  let bystander: TestClient;

  beforeAll(async () => {
    certs = makeTestCertificates();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'strom-test-'));
    const config = loadConfig({
      XMPP_DOMAIN: 'localhost',
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'debug',
      AUTH_TIMEOUT: String(AUTH_TIMEOUT_S),
      CONNECTION_RATE_PER_ADDRESS: '0',
      C2S: 'on',
      C2S_PORT: '0',
      C2S_DIRECT_TLS: 'false',
      XMPP_CERT_FILE: certs.certFile,
      XMPP_KEY_FILE: certs.keyFile,
    });
    // Every line the server logs, parsed, so the tests can say what a misbehaving client may cause.
    const logger = pino(
      { level: 'debug' },
      {
        write(line: string) {
          logs.push(JSON.parse(line) as LogEntry);
        },
      },
    );
    strom = await startStrom(config, {
      storage: await createTestStorage('pglite'),
      adminSocket: false,
      logger,
    });
    httpPort = strom.port();
    tcpPort = strom.tcpPorts().port!;
    wsUrl = `ws://127.0.0.1:${httpPort}${config.websocketPath}`;
    for (const name of ['alice', 'bob']) await strom.xmpp.createAccount(name, 'secret');
    bystander = await connectClient(
      { wsUrl, domain: 'localhost' },
      { username: 'bob', resource: 'bystander' },
    );
  });
  afterAll(async () => {
    await bystander?.stop();
    await strom?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(certs.dir, { recursive: true, force: true });
  });

  async function bystanderServed(): Promise<void> {
    const pong = await bystander.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(pong.attrs.type).toBe('result');
  }

  async function expectStreamError(raw: RawClient, condition: string): Promise<void> {
    const error = await raw.next('stream:error');
    expect(error).toContain(`<${condition} xmlns="${STREAMS}"/>`);
    expect(await raw.next('<close')).toBe(`<close xmlns="${FRAMING}"/>`);
    expect(await raw.closed).toBe(1000);
  }

  it('refuses a second <open/> in a bound session with policy-violation instead of offering binding again', async () => {
    const raw = await RawClient.connect(wsUrl);
    await raw.login('alice', 'secret', 'reopen');
    raw.send(OPEN);
    await expectStreamError(raw, 'policy-violation');
    expect(raw.frames.some((frame) => frame.includes('urn:ietf:params:xml:ns:xmpp-bind'))).toBe(false);
    await expect.poll(() => strom.xmpp.local.byJid.has('alice@localhost/reopen')).toBe(false);
    await bystanderServed();
  });

  it('answers a restart to another domain with host-unknown', async () => {
    const raw = await RawClient.connect(wsUrl);
    await raw.open();
    raw.send(
      `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from('\0alice\0secret').toString('base64')}</auth>`,
    );
    await raw.next('<success');
    raw.send(`<open xmlns="${FRAMING}" to="elsewhere.example" version="1.0"/>`);
    await expectStreamError(raw, 'host-unknown');
    await bystanderServed();
  });

  it('still lets a fragmented text message through', async () => {
    const raw = await RawFrames.connect(httpPort);
    raw.frame(OPCODE.text, OPEN.slice(0, 20), { fin: false });
    raw.frame(OPCODE.continuation, OPEN.slice(20, 40), { fin: false });
    raw.frame(OPCODE.continuation, OPEN.slice(40));
    expect(await raw.next('<open')).toContain(`from="localhost"`);
    expect(await raw.next('features')).toContain('SCRAM-SHA-256');
    raw.socket.destroy();
  });

  it('answers frames no WebSocket client may send with bad-format', async () => {
    const cases: Array<[string, (raw: RawFrames) => void]> = [
      ['a continuation with nothing to continue', (raw) => raw.frame(OPCODE.continuation, OPEN)],
      [
        'a new message inside a fragmented one',
        (raw) => {
          raw.frame(OPCODE.text, OPEN.slice(0, 10), { fin: false });
          raw.text(OPEN);
        },
      ],
      ['a reserved opcode', (raw) => raw.frame(0x3, OPEN)],
      ['a reserved bit without an extension', (raw) => raw.frame(OPCODE.text, OPEN, { rsv1: true })],
      ['an unmasked frame', (raw) => raw.frame(OPCODE.text, OPEN, { mask: false })],
    ];
    for (const [what, send] of cases) {
      const raw = await RawFrames.connect(httpPort);
      raw.text(OPEN);
      await raw.next('features');
      send(raw);
      await raw.expectStreamError('bad-format').catch((error: Error) => {
        throw new Error(`${what}: ${error.message}`);
      });
    }
    await bystanderServed();
  });

  it('answers a binary message with bad-format', async () => {
    const raw = await RawFrames.connect(httpPort);
    raw.text(OPEN);
    await raw.next('features');
    raw.frame(OPCODE.binary, OPEN);
    await raw.expectStreamError('bad-format');
  });

  it('answers a frame announcing more than the stanza limit at once, before any of it arrives', async () => {
    const raw = await RawFrames.connect(httpPort);
    raw.text(OPEN);
    await raw.next('features');
    raw.frame(OPCODE.text, Buffer.alloc(0), { declaredLength: 2 ** 40 });
    await raw.expectStreamError('policy-violation');
    await bystanderServed();
  });

  it('ends a stream whose announced frame never arrives at the login deadline', async () => {
    const raw = await RawFrames.connect(httpPort);
    raw.text(OPEN);
    await raw.next('features');
    // 100 bytes announced, 10 sent, and nothing more.
    raw.frame(OPCODE.text, Buffer.alloc(10, 0x41), { declaredLength: 100 });
    await raw.expectStreamError('connection-timeout');
    await bystanderServed();
  });

  it('answers invalid UTF-8 with unsupported-encoding and NUL with not-well-formed', async () => {
    const utf8 = await RawFrames.connect(httpPort);
    utf8.text(OPEN);
    await utf8.next('features');
    utf8.text(Buffer.from([0x3c, 0x61, 0xc3, 0x28, 0x2f, 0x3e]));
    await utf8.expectStreamError('unsupported-encoding');

    const nul = await RawClient.connect(wsUrl);
    await nul.open();
    nul.send('<iq xmlns="jabber:client" type="get" id="n">\u0000</iq>');
    await expectStreamError(nul, 'not-well-formed');

    expect(
      await tcpExchange(tcpPort, Buffer.concat([Buffer.from(TCP_HEADER), Buffer.from([0xff, 0xfe])])),
    ).toContain(`<unsupported-encoding xmlns="${STREAMS}"/>`);
    expect(await tcpExchange(tcpPort, `${TCP_HEADER}<iq>\u0000</iq>`)).toContain(
      `<not-well-formed xmlns="${STREAMS}"/>`,
    );
    await bystanderServed();
  });

  it('answers namespace bombs with policy-violation, quickly', async () => {
    const started = Date.now();
    // Many declarations on one element: beyond the attribute limit.
    const wide = await RawClient.connect(wsUrl);
    await wide.login('alice', 'secret', 'wide');
    const declarations = Array.from({ length: 5000 }, (_, i) => `xmlns:p${i}="urn:bomb:${i}"`).join(' ');
    wide.send(`<message xmlns="jabber:client" ${declarations}/>`);
    await expectStreamError(wide, 'policy-violation');
    // Declarations on every level of a deep tree: beyond the depth limit.
    const deep = await RawClient.connect(wsUrl);
    await deep.login('alice', 'secret', 'deep');
    const level = (i: number) =>
      `<p${i}_0:x ${Array.from({ length: 60 }, (_, j) => `xmlns:p${i}_${j}="urn:${'n'.repeat(10)}:${i}:${j}"`).join(' ')}>`;
    let nested = '';
    for (let i = 0; i < 100; i++) nested += level(i);
    deep.send(`<message xmlns="jabber:client">${nested}</message>`);
    await expectStreamError(deep, 'policy-violation');
    expect(Date.now() - started).toBeLessThan(WAIT_MS);
    await bystanderServed();
  });

  it('logs what clients did wrong without errors or stack traces, and only so many lines', async () => {
    // Twenty-five more clients sending broken frames in a burst.
    for (let i = 0; i < 25; i++) {
      const raw = await RawFrames.connect(httpPort);
      raw.frame(OPCODE.text, Buffer.from([0xff]));
      await raw.expectStreamError('unsupported-encoding');
    }
    await bystanderServed();
    const serious = logs.filter((entry) => entry.level >= 40);
    expect(serious, JSON.stringify(serious)).toEqual([]);
    expect(logs.filter((entry) => entry.err?.stack !== undefined)).toEqual([]);
    // What there is, is there: the faults of the earlier cases and these, within their budgets.
    const wsErrors = logs.filter((entry) => entry.msg === 'WebSocket connection error');
    expect(wsErrors.length).toBeGreaterThan(0);
    expect(wsErrors.length).toBeLessThanOrEqual(20);
    const streamErrors = logs.filter((entry) => entry.msg === 'stream error');
    expect(streamErrors.length).toBeGreaterThan(0);
    expect(streamErrors.length).toBeLessThanOrEqual(30);
  });
});
