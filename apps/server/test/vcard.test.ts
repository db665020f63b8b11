import { createHash, randomBytes } from 'node:crypto';
import { avatarHashOf, needsAvatarUpdate, setAvatarUpdate } from '@strom/modules';
import { type Element, parseFrame } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
  WAIT_MS,
} from './harness.js';
import { discoFeatures, errorCondition } from './im-helpers.js';

const NS_VCARD = 'vcard-temp';
const NS_UPDATE = 'vcard-temp:x:update';

/** Base64 wrapped at 76 columns, the way many clients send BINVAL. */
function wrappedBase64(bytes: Buffer): string {
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\n');
}

function sha1(bytes: Buffer): string {
  return createHash('sha1').update(bytes).digest('hex');
}

function vcardWithPhoto(image: Buffer, name = 'Someone'): string {
  return `<vCard xmlns="${NS_VCARD}"><FN>${name}</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>${wrappedBase64(image)}</BINVAL></PHOTO></vCard>`;
}

/** The photo hash a presence announces: undefined without x-update or photo, '' for an empty photo. */
function photoOf(presence: Element): string | undefined {
  return presence.getChild('x', NS_UPDATE)?.getChild('photo')?.text();
}

describe.each(STORAGE_KINDS)('vCards and avatar hashes (%s)', (storage) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ storage });
    for (const name of ['alice', 'bob', 'carol', 'dan', 'erin', 'fay', 'gus']) await server.addUser(name);
  });
  afterAll(() => server.stop());

  async function setVCard(client: TestClient, vcard: string, to = ''): Promise<Element> {
    return client.iq(`<iq type="set"${to ? ` to="${to}"` : ''}>${vcard}</iq>`);
  }

  it('gives the owner an empty vCard before one is set, then the stored one', async () => {
    const alice = await connectClient(server, { username: 'alice' });
    const before = await alice.iq(`<iq type="get"><vCard xmlns="${NS_VCARD}"/></iq>`);
    expect(before.attrs.type).toBe('result');
    const empty = before.getChild('vCard', NS_VCARD);
    expect(empty).toBeDefined();
    expect(empty!.elements()).toHaveLength(0);

    const set = await setVCard(
      alice,
      `<vCard xmlns="${NS_VCARD}"><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard>`,
    );
    expect(set.attrs.type).toBe('result');

    const after = await alice.iq(`<iq type="get"><vCard xmlns="${NS_VCARD}"/></iq>`);
    expect(after.getChild('vCard', NS_VCARD)?.getChildText('FN')).toBe('Alice Liddell');
    // Addressed to the own bare JID it is the same request.
    const viaBare = await alice.iq(`<iq type="get" to="alice@localhost"><vCard xmlns="${NS_VCARD}"/></iq>`);
    expect(viaBare.getChild('vCard', NS_VCARD)?.getChildText('NICKNAME')).toBe('al');
    expect((await server.strom.storage.vcards.get('alice'))?.avatarHash).toBeNull();
    await alice.stop();
  });

  it("serves another user's vCard on their behalf", async () => {
    const alice = await connectClient(server, { username: 'alice' });
    await setVCard(alice, `<vCard xmlns="${NS_VCARD}"><FN>Alice Liddell</FN></vCard>`);
    await alice.stop();

    const bob = await connectClient(server, { username: 'bob' });
    const reply = await bob.iq(`<iq type="get" to="alice@localhost"><vCard xmlns="${NS_VCARD}"/></iq>`);
    expect(reply.attrs.type).toBe('result');
    expect(reply.attrs.from).toBe('alice@localhost');
    expect(reply.getChild('vCard', NS_VCARD)?.getChildText('FN')).toBe('Alice Liddell');
    await bob.stop();
  });

  it('answers service-unavailable alike for a missing account and for an account without a vCard', async () => {
    const bob = await connectClient(server, { username: 'bob' });
    const missing = await bob.iq(`<iq type="get" to="nobody@localhost"><vCard xmlns="${NS_VCARD}"/></iq>`);
    expect(missing.attrs.type).toBe('error');
    expect(errorCondition(missing)).toBe('service-unavailable');
    // XEP-0054 §3.3: the same answer, so vCard requests cannot tell which accounts exist.
    const none = await bob.iq(`<iq type="get" to="gus@localhost"><vCard xmlns="${NS_VCARD}"/></iq>`);
    expect(errorCondition(none)).toBe('service-unavailable');
    await bob.stop();
  });

  it("refuses to set another user's vCard with forbidden", async () => {
    const bob = await connectClient(server, { username: 'bob' });
    const reply = await setVCard(
      bob,
      `<vCard xmlns="${NS_VCARD}"><FN>Not Carol</FN></vCard>`,
      'carol@localhost',
    );
    expect(reply.attrs.type).toBe('error');
    expect(errorCondition(reply)).toBe('forbidden');
    expect(await server.strom.storage.vcards.get('carol')).toBeUndefined();
    await bob.stop();
  });

  it('refuses a vCard over 64 KiB with not-acceptable and says why', async () => {
    const carol = await connectClient(server, { username: 'carol' });
    const tooBig = await setVCard(carol, vcardWithPhoto(randomBytes(50 * 1024)));
    expect(tooBig.attrs.type).toBe('error');
    expect(errorCondition(tooBig)).toBe('not-acceptable');
    expect(tooBig.getChild('error')?.getChildText('text')).toMatch(/64 KiB/);
    expect(await server.strom.storage.vcards.get('carol')).toBeUndefined();

    const fits = await setVCard(carol, vcardWithPhoto(randomBytes(40 * 1024)));
    expect(fits.attrs.type).toBe('result');
    await carol.stop();
  });

  it('stores the SHA-1 of the decoded BINVAL as the avatar hash and refuses BINVAL that is not Base64', async () => {
    const dan = await connectClient(server, { username: 'dan' });
    const image = randomBytes(3000);
    expect((await setVCard(dan, vcardWithPhoto(image, 'Dan'))).attrs.type).toBe('result');
    const stored = await server.strom.storage.vcards.get('dan');
    expect(stored?.avatarHash).toBe(sha1(image));
    expect(parseFrame(stored!.xml).getChild('FN', NS_VCARD)?.text()).toBe('Dan');

    const broken = await setVCard(
      dan,
      `<vCard xmlns="${NS_VCARD}"><PHOTO><BINVAL>not*base64!</BINVAL></PHOTO></vCard>`,
    );
    expect(errorCondition(broken)).toBe('not-acceptable');
    expect((await server.strom.storage.vcards.get('dan'))?.avatarHash).toBe(sha1(image));
    await dan.stop();
  });

  it('forgets the vCard when an empty one is set', async () => {
    const gus = await connectClient(server, { username: 'gus' });
    await setVCard(gus, `<vCard xmlns="${NS_VCARD}"><FN>Gus</FN></vCard>`);
    expect(await server.strom.storage.vcards.get('gus')).toBeDefined();
    expect((await setVCard(gus, `<vCard xmlns="${NS_VCARD}"/>`)).attrs.type).toBe('result');
    expect(await server.strom.storage.vcards.get('gus')).toBeUndefined();
    const reply = await gus.iq(`<iq type="get"><vCard xmlns="${NS_VCARD}"/></iq>`);
    expect(reply.getChild('vCard', NS_VCARD)?.elements()).toHaveLength(0);
    await gus.stop();
  });

  it('advertises vcard-temp on accounts', async () => {
    const bob = await connectClient(server, { username: 'bob' });
    expect(await discoFeatures(bob, 'bob@localhost')).toContain(NS_VCARD);
    await bob.stop();
  });

  it('puts the avatar hash into available presence a user sends, as XEP-0398 asks', async () => {
    const image = randomBytes(2000);
    const erin = await connectClient(server, { username: 'erin', resource: 'desk' });
    const sender = await connectClient(server, { username: 'erin', resource: 'phone' });
    await setVCard(sender, vcardWithPhoto(image, 'Erin'));
    const to = 'erin@localhost/desk';
    const received = (id: string) =>
      erin.inbox.waitFor((s) => s.name === 'presence' && s.attrs.id === id, WAIT_MS, `presence ${id}`);

    // Directed presence reaches the full JID whatever the roster says, so it shows the decoration.
    await sender.send(`<presence to="${to}" id="p1"/>`);
    expect(photoOf(await received('p1'))).toBe(sha1(image));

    // An empty <x/> and a stale hash are overwritten; exactly one x-update remains.
    await sender.send(`<presence to="${to}" id="p2"><x xmlns="${NS_UPDATE}"/></presence>`);
    expect(photoOf(await received('p2'))).toBe(sha1(image));
    await sender.send(
      `<presence to="${to}" id="p3"><x xmlns="${NS_UPDATE}"><photo>${'0'.repeat(40)}</photo></x></presence>`,
    );
    const stale = await received('p3');
    expect(photoOf(stale)).toBe(sha1(image));
    expect(stale.getChildren('x', NS_UPDATE)).toHaveLength(1);

    // An empty <photo/> is the client's own statement and stays untouched.
    await sender.send(`<presence to="${to}" id="p4"><x xmlns="${NS_UPDATE}"><photo/></x></presence>`);
    expect(photoOf(await received('p4'))).toBe('');

    // Unavailable presence carries no hash.
    await sender.send(`<presence to="${to}" id="p5" type="unavailable"/>`);
    expect(photoOf(await received('p5'))).toBeUndefined();
    await sender.stop();
    await erin.stop();
  });

  it('announces an empty photo for a user without an avatar', async () => {
    const bob = await connectClient(server, { username: 'bob', resource: 'desk' });
    const alice = await connectClient(server, { username: 'alice', resource: 'phone' });
    await setVCard(alice, `<vCard xmlns="${NS_VCARD}"><FN>No Picture</FN></vCard>`);
    await alice.send('<presence to="bob@localhost/desk" id="np1"/>');
    const presence = await bob.inbox.waitFor((s) => s.name === 'presence' && s.attrs.id === 'np1');
    expect(photoOf(presence)).toBe('');
    await alice.stop();
    await bob.stop();
  });

  it("re-announces the new hash to the user's other resources after an avatar change (needs the presence module)", async () => {
    const phone = await connectClient(server, { username: 'fay', resource: 'phone', presence: true });
    const laptop = await connectClient(server, { username: 'fay', resource: 'laptop', presence: true });
    const image = randomBytes(1500);
    const hash = sha1(image);
    expect((await setVCard(phone, vcardWithPhoto(image, 'Fay'))).attrs.type).toBe('result');

    const announced = await laptop.inbox.waitFor(
      (s) => s.name === 'presence' && s.attrs.from === phone.jid && photoOf(s) === hash,
      WAIT_MS,
      'presence with the new avatar hash',
    );
    expect(announced.attrs.type).toBeUndefined();

    // Presence the client sends later carries the hash too.
    await phone.send('<presence id="later"><show>away</show></presence>');
    const later = await laptop.inbox.waitFor(
      (s) => s.name === 'presence' && s.attrs.from === phone.jid && s.getChildText('show') === 'away',
    );
    expect(photoOf(later)).toBe(hash);
    await phone.stop();
    await laptop.stop();
  });
});

describe('avatar hash rules', () => {
  const presence = (inner = '') => parseFrame(`<presence xmlns="jabber:client">${inner}</presence>`);

  it('fills in the hash unless the client announced an empty photo', () => {
    expect(needsAvatarUpdate(presence())).toBe(true);
    expect(needsAvatarUpdate(presence(`<x xmlns="${NS_UPDATE}"/>`))).toBe(true);
    expect(needsAvatarUpdate(presence(`<x xmlns="${NS_UPDATE}"><photo>abc</photo></x>`))).toBe(true);
    expect(needsAvatarUpdate(presence(`<x xmlns="${NS_UPDATE}"><photo/></x>`))).toBe(false);
    expect(needsAvatarUpdate(presence(`<x xmlns="${NS_UPDATE}"><photo> </photo></x>`))).toBe(false);
  });

  it('replaces every x-update with exactly one', () => {
    const stanza = presence(
      `<x xmlns="${NS_UPDATE}"/><show>dnd</show><x xmlns="${NS_UPDATE}"><photo>old</photo></x>`,
    );
    setAvatarUpdate(stanza, 'f00d');
    expect(stanza.getChildren('x', NS_UPDATE)).toHaveLength(1);
    expect(photoOf(stanza)).toBe('f00d');
    expect(stanza.getChildText('show')).toBe('dnd');
    setAvatarUpdate(stanza, null);
    expect(stanza.toString()).toContain(`<x xmlns="${NS_UPDATE}"><photo/></x>`);
  });

  it('hashes the first PHOTO with a BINVAL, or gives null without one', () => {
    const image = randomBytes(100);
    const vcard = parseFrame(
      `<vCard xmlns="${NS_VCARD}"><PHOTO><EXTVAL>https://example.org/a.png</EXTVAL></PHOTO><PHOTO><BINVAL>\n${wrappedBase64(image)}\n</BINVAL></PHOTO></vCard>`,
    );
    expect(avatarHashOf(vcard)).toBe(sha1(image));
    expect(avatarHashOf(parseFrame(`<vCard xmlns="${NS_VCARD}"><FN>x</FN></vCard>`))).toBeNull();
    expect(
      avatarHashOf(parseFrame(`<vCard xmlns="${NS_VCARD}"><PHOTO><BINVAL/></PHOTO></vCard>`)),
    ).toBeNull();
  });
});
