import type { Element } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestServer, type TestClient, type TestServer } from './harness.js';
import { becomeAvailable, discoFeatures, errorCondition } from './im-helpers.js';

const MAM = 'urn:xmpp:mam:2';
const SID = 'urn:xmpp:sid:0';
const RSM = 'http://jabber.org/protocol/rsm';

interface Page {
  ids: string[];
  bodies: string[];
  fin: Element;
}

async function query(client: TestClient, fields = '', set = '', queryid = 'q'): Promise<Page> {
  const form = `<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>${MAM}</value></field>${fields}</x>`;
  const reply = await client.iq(
    `<iq type="set"><query xmlns="${MAM}" queryid="${queryid}">${form}${set}</query></iq>`,
  );
  if (reply.attrs.type !== 'result') throw Object.assign(new Error('query failed'), { reply });
  const results = client.inbox.all.filter((s) => s.getChild('result', MAM)?.attrs.queryid === queryid);
  for (const r of results) client.inbox.all.splice(client.inbox.all.indexOf(r), 1);
  return {
    ids: results.map((r) => r.getChild('result', MAM)!.attrs.id!),
    bodies: results.map(
      (r) =>
        r.getChild('result', MAM)!.getChild('forwarded')!.getChild('message')!.getChildText('body') ?? '',
    ),
    fin: reply.getChild('fin', MAM)!,
  };
}

const withField = (jid: string) => `<field var="with"><value>${jid}</value></field>`;

describe('message archive (XEP-0313), off by default', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    await server.addUser('alice');
  });
  afterAll(() => server.stop());

  it('advertises nothing and keeps nothing unless ARCHIVE_RETENTION is set', async () => {
    const alice = await connectClient(server, { username: 'alice' });
    expect(await discoFeatures(alice, 'alice@localhost')).not.toContain(MAM);
    const reply = await alice.iq(`<iq type="set"><query xmlns="${MAM}"/></iq>`);
    expect(errorCondition(reply)).toBe('service-unavailable');
    await alice.stop();
  });
});

describe('message archive (XEP-0313) with a retention period', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ARCHIVE_RETENTION: '30d' } });
    for (const name of ['alice', 'bob', 'carol']) await server.addUser(name);
  });
  afterAll(() => server.stop());

  it('stamps delivered messages with the archive id and keeps a copy for both parties', async () => {
    const alice = await connectClient(server, { username: 'alice' });
    const bob = await connectClient(server, { username: 'bob' });
    expect(await discoFeatures(bob, 'bob@localhost')).toEqual(expect.arrayContaining([MAM, SID]));
    await becomeAvailable(bob);
    // A stanza-id claiming bob's archive from a client is not believed.
    await alice.send(
      `<message to="bob@localhost" type="chat" id="s1"><body>hello bob</body><stanza-id xmlns="${SID}" by="bob@localhost" id="forged"/></message>`,
    );
    const got = await bob.inbox.waitFor((s) => s.attrs.id === 's1', undefined, 'message');
    const sids = got.getChildren('stanza-id', SID);
    expect(sids).toHaveLength(1);
    expect(sids[0]!.attrs.by).toBe('bob@localhost');
    expect(sids[0]!.attrs.id).not.toBe('forged');

    const bobs = await query(bob, withField('alice@localhost'));
    expect(bobs.ids).toEqual([sids[0]!.attrs.id]);
    expect(bobs.bodies).toEqual(['hello bob']);
    expect(bobs.fin.attrs.complete).toBe('true');
    const alices = await query(alice, withField('bob@localhost'));
    expect(alices.bodies).toEqual(['hello bob']);
    await alice.stop();
    await bob.stop();
  });

  it('pages forwards and backwards with RSM and filters by id', async () => {
    const carol = await connectClient(server, { username: 'carol' });
    for (let n = 1; n <= 7; n++) {
      await carol.send(`<message to="alice@localhost" type="chat" id="p${n}"><body>m${n}</body></message>`);
    }
    // Archived on the way in: all seven are there once alice's offline queue holds them.
    await expect.poll(() => server.strom.storage.offline.count('alice'), { timeout: 20_000 }).toBe(7);
    const first = await query(
      carol,
      withField('alice@localhost'),
      `<set xmlns="${RSM}"><max>3</max></set>`,
      'f1',
    );
    expect(first.bodies).toEqual(['m1', 'm2', 'm3']);
    expect(first.fin.attrs.complete).toBeUndefined();
    expect(first.fin.getChild('set', RSM)!.getChildText('count')).toBe('7');
    const last = first.fin.getChild('set', RSM)!.getChildText('last')!;
    const second = await query(
      carol,
      withField('alice@localhost'),
      `<set xmlns="${RSM}"><max>3</max><after>${last}</after></set>`,
      'f2',
    );
    expect(second.bodies).toEqual(['m4', 'm5', 'm6']);
    const newest = await query(
      carol,
      withField('alice@localhost'),
      `<set xmlns="${RSM}"><max>2</max><before/></set>`,
      'f3',
    );
    expect(newest.bodies).toEqual(['m6', 'm7']);
    const byId = await query(carol, `<field var="ids"><value>${first.ids[1]}</value></field>`, '', 'f4');
    expect(byId.bodies).toEqual(['m2']);
    const afterId = await query(
      carol,
      `${withField('alice@localhost')}<field var="after-id"><value>${second.ids[2]}</value></field>`,
      '',
      'f5',
    );
    expect(afterId.bodies).toEqual(['m7']);
    const unknown = await carol.iq(
      `<iq type="set"><query xmlns="${MAM}"><x xmlns="jabber:x:data" type="submit"><field var="after-id"><value>nope</value></field></x></query></iq>`,
    );
    expect(errorCondition(unknown)).toBe('item-not-found');
    const badField = await carol.iq(
      `<iq type="set"><query xmlns="${MAM}"><x xmlns="jabber:x:data" type="submit"><field var="{urn:x}search"><value>x</value></field></x></query></iq>`,
    );
    expect(errorCondition(badField)).toBe('feature-not-implemented');
    await carol.stop();
  });

  it('delivers an offline message once and archives it once', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'off' });
    await alice.send('<message to="bob@localhost" type="chat" id="o1"><body>while away</body></message>');
    await expect.poll(async () => server.strom.storage.offline.count('bob')).toBe(1);
    const bob = await connectClient(server, { username: 'bob', resource: 'back' });
    await becomeAvailable(bob);
    const got = await bob.inbox.waitFor((s) => s.attrs.id === 'o1', undefined, 'offline message');
    const sid = got.getChild('stanza-id', SID)!.attrs.id;
    const archived = await query(bob, withField('alice@localhost'), '', 'o');
    expect(archived.bodies.filter((b) => b === 'while away')).toHaveLength(1);
    expect(archived.ids).toContain(sid);
    expect(await bob.inbox.nothing((s) => s.attrs.id === 'o1')).toBe(true);
    await alice.stop();
    await bob.stop();
  });

  it('honours preferences: default never keeps nothing new', async () => {
    const carol = await connectClient(server, { username: 'carol', resource: 'prefs' });
    const set = await carol.iq(
      `<iq type="set"><prefs xmlns="${MAM}" default="never"><always/><never/></prefs></iq>`,
    );
    expect(set.getChild('prefs', MAM)?.attrs.default).toBe('never');
    const before = (await query(carol, withField('bob@localhost'), '', 'pr1')).ids.length;
    await carol.send('<message to="bob@localhost" type="chat" id="n1"><body>not kept</body></message>');
    await carol.inbox.quiet();
    expect((await query(carol, withField('bob@localhost'), '', 'pr2')).ids.length).toBe(before);
    expect(
      (await carol.iq(`<iq type="get"><prefs xmlns="${MAM}"/></iq>`)).getChild('prefs', MAM)?.attrs.default,
    ).toBe('never');
    await carol.stop();
  });
});

describe('archive retention', () => {
  it('deletes messages older than the retention period', async () => {
    const server = await startTestServer({ env: { ARCHIVE_RETENTION: '2s' } });
    try {
      await server.addUser('alice');
      await server.addUser('bob');
      const alice = await connectClient(server, { username: 'alice' });
      await alice.send('<message to="bob@localhost" type="chat"><body>short-lived</body></message>');
      const rows = async () => {
        const result = (await server.strom.storage.database.execute(
          'select count(*) as n from archive_messages',
        )) as unknown as { rows: Array<{ n: unknown }> } | Array<{ n: unknown }>;
        return Number((Array.isArray(result) ? result : result.rows)[0]!.n);
      };
      await expect.poll(rows).toBe(2);
      await expect.poll(rows, { timeout: 15_000, interval: 250 }).toBe(0);
      await alice.stop();
    } finally {
      await server.stop();
    }
  });
});
