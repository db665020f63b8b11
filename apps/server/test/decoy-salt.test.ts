import type { Transport, XmppServer } from '@strom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodePair, startNodePair } from './message-helpers.js';

/** The salt and iteration count a node announces in its first SCRAM challenge for `username`. */
async function announced(node: XmppServer, username: string): Promise<string> {
  const frames: string[] = [];
  let wake: (() => void) | undefined;
  const transport: Transport = {
    secure: true,
    remoteAddress: '192.0.2.10',
    send: (frame) => {
      frames.push(frame);
      wake?.();
    },
    close: () => {},
  };
  const next = async (needle: string): Promise<string> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const frame = frames.find((f) => f.includes(needle));
      if (frame) return frame;
      if (Date.now() > deadline) throw new Error(`no ${needle} in ${frames.join(' | ')}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 20);
      });
    }
  };
  const session = node.openStream(transport);
  session.receive('<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>');
  await next('<mechanism>');
  const first = Buffer.from(`n,,n=${username},r=fixedclientnonce`).toString('base64');
  session.receive(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="SCRAM-SHA-256">${first}</auth>`);
  const challenge = await next('<challenge');
  const decoded = Buffer.from(/>([^<]+)</.exec(challenge)![1]!, 'base64').toString();
  session.receive('<abort xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>');
  return /,(s=[^,]+,i=\d+)$/.exec(decoded)![1]!;
}

describe.each(['pglite', 'postgres'] as const)('SCRAM salts on two nodes of one deployment (%s)', (kind) => {
  let pair: NodePair;
  beforeAll(async () => {
    pair = await startNodePair(kind);
    await pair.a.createAccount('realname', 'secret');
  });
  afterAll(() => pair.stop());

  it('gives an unknown name the same salt on every node, as a real account has', async () => {
    const real = await announced(pair.a, 'realname');
    expect(await announced(pair.b, 'realname')).toBe(real);
    const ghostOnA = await announced(pair.a, 'ghost');
    expect(await announced(pair.b, 'ghost')).toBe(ghostOnA);
    expect(await announced(pair.a, 'ghost')).toBe(ghostOnA);
    // Decoys look like real salts and differ by name.
    expect(ghostOnA).toMatch(/^s=[A-Za-z0-9+/]{22}==,i=4096$/);
    expect(await announced(pair.b, 'phantom')).not.toBe(ghostOnA);
  });

  it("takes it from the deployment's storage, not the process: another deployment differs", async () => {
    const other = await startNodePair(kind);
    try {
      expect(await announced(other.a, 'ghost')).toBe(await announced(other.b, 'ghost'));
      expect(await announced(other.a, 'ghost')).not.toBe(await announced(pair.a, 'ghost'));
    } finally {
      await other.stop();
    }
  });
});
