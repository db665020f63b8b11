import { createHash, randomBytes } from 'node:crypto';
import type { Element } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestServer, type TestClient, type TestServer } from './harness.js';
import { becomeAvailable, storeMutualSubscription } from './im-helpers.js';

const PUBSUB = 'http://jabber.org/protocol/pubsub';
const DATA = 'urn:xmpp:avatar:data';
const METADATA = 'urn:xmpp:avatar:metadata';
const VCARD = 'vcard-temp';
const UPDATE = 'vcard-temp:x:update';

const sha1 = (bytes: Buffer) => createHash('sha1').update(bytes).digest('hex');

function publish(node: string, id: string, payload: string): string {
  return `<iq type="set"><pubsub xmlns="${PUBSUB}"><publish node="${node}"><item id="${id}">${payload}</item></publish></pubsub></iq>`;
}

async function vcardPhoto(client: TestClient): Promise<Element | undefined> {
  const reply = await client.iq(`<iq type="get"><vCard xmlns="${VCARD}"/></iq>`);
  return reply.getChild('vCard', VCARD)?.getChild('PHOTO');
}

const photoHashIn = (from: string, hash: string) => (s: Element) =>
  s.name === 'presence' && s.attrs.from === from && s.getChild('x', UPDATE)?.getChildText('photo') === hash;

describe('one avatar however it is set (XEP-0398: XEP-0084 and the vCard photo)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    for (const name of ['alice', 'bob', 'carol']) await server.addUser(name);
    await storeMutualSubscription(server.strom.storage, 'alice', 'bob');
  });
  afterAll(() => server.stop());

  it('copies an avatar published over PEP into the vCard and the presence hash, and clears it when disabled', async () => {
    const alice = await connectClient(server, { username: 'alice' });
    const bob = await connectClient(server, { username: 'bob' });
    await becomeAvailable(bob);
    await becomeAvailable(alice);
    const image = randomBytes(64);
    const hash = sha1(image);
    expect(
      (await alice.iq(publish(DATA, hash, `<data xmlns="${DATA}">${image.toString('base64')}</data>`))).attrs
        .type,
    ).toBe('result');
    const meta = `<metadata xmlns="${METADATA}"><info id="${hash}" bytes="64" type="image/png"/></metadata>`;
    expect((await alice.iq(publish(METADATA, hash, meta))).attrs.type).toBe('result');

    const photo = await vcardPhoto(alice);
    expect(photo?.getChildText('TYPE')).toBe('image/png');
    expect(Buffer.from(photo!.getChildText('BINVAL')!, 'base64').equals(image)).toBe(true);
    // Contacts see the new hash in presence (XEP-0153), announced by the server.
    await bob.inbox.waitFor(photoHashIn(alice.jid, hash), undefined, 'presence with the new avatar hash');

    expect((await alice.iq(publish(METADATA, 'none', `<metadata xmlns="${METADATA}"/>`))).attrs.type).toBe(
      'result',
    );
    expect(await vcardPhoto(alice)).toBeUndefined();
    await bob.inbox.waitFor(photoHashIn(alice.jid, ''), undefined, 'presence with no avatar');
    await alice.stop();
    await bob.stop();
  });

  it('publishes a photo set through the vCard as XEP-0084 data and metadata', async () => {
    const carol = await connectClient(server, { username: 'carol' });
    const image = randomBytes(48);
    const hash = sha1(image);
    const set = await carol.iq(
      `<iq type="set"><vCard xmlns="${VCARD}"><FN>Carol</FN><PHOTO><TYPE>image/jpeg</TYPE><BINVAL>${image.toString('base64')}</BINVAL></PHOTO></vCard></iq>`,
    );
    expect(set.attrs.type).toBe('result');
    const items = async (node: string) =>
      (
        await carol.iq(
          `<iq type="get" to="carol@localhost"><pubsub xmlns="${PUBSUB}"><items node="${node}"/></pubsub></iq>`,
        )
      )
        .getChild('pubsub', PUBSUB)
        ?.getChild('items')
        ?.getChildren('item') ?? [];
    const [metadata] = await items(METADATA);
    expect(metadata?.attrs.id).toBe(hash);
    expect(metadata!.getChild('metadata', METADATA)!.getChild('info')!.attrs).toMatchObject({
      id: hash,
      type: 'image/jpeg',
      bytes: '48',
    });
    const [data] = await items(DATA);
    expect(data?.attrs.id).toBe(hash);
    expect(Buffer.from(data!.getChild('data', DATA)!.text(), 'base64').equals(image)).toBe(true);
    // Setting the same photo again publishes nothing new.
    await carol.iq(
      `<iq type="set"><vCard xmlns="${VCARD}"><FN>Carol C</FN><PHOTO><TYPE>image/jpeg</TYPE><BINVAL>${image.toString('base64')}</BINVAL></PHOTO></vCard></iq>`,
    );
    expect((await items(METADATA)).map((i) => i.attrs.id)).toEqual([hash]);
    await carol.stop();
  });
});
