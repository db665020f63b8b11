import { randomBytes } from 'node:crypto';
import { parseFrame } from '@strom/xml';
import { attributeOf, escapeAttrValue, NS, type XmppConnection, XmppError } from '../client.js';
import { formatInt, formatMs, formatNumber, latencyRow } from '../format.js';
import { Histogram } from '../histogram.js';
import { sleep, waitUntil } from '../pool.js';
import { ownCpuSeconds } from '../proc.js';
import type { Row, Scenario, ScenarioReport } from '../scenario.js';
import { closeAll, connectAll, type Session } from '../sessions.js';
import { alternatingUrl, prepareAccounts } from '../setup.js';

const MARKER = 'bp_';
const ROUND_TIMEOUT_MS = 10_000;
const ROUND_GAP_MS = 100;

/**
 * One user with K online, mutually subscribed contacts changes presence M times; each broadcast is
 * timed until every contact has it. Subscriptions are made over XMPP (RFC 6121 §3) so the scenario
 * works against any server, and kept between runs.
 */
export const presenceScenario: Scenario = {
  name: 'presence',
  summary: 'one user with K online contacts changes presence: time until all K have it, CPU per delivery',
  async run(ctx): Promise<ScenarioReport> {
    const { options, progress, monitor, keyCache } = ctx;
    const hubName = `${options.userPrefix}hub`;
    const contactNames = Array.from({ length: options.contacts }, (_, i) => `${options.userPrefix}c${i + 1}`);
    const provisioning = await prepareAccounts(ctx, [hubName, ...contactNames]);

    const hubJid = `${hubName}@${options.domain}`.toLowerCase();
    const contactJids = contactNames.map((n) => `${n}@${options.domain}`.toLowerCase());
    // Approvals run from each login on: a server hands over requests left pending by an interrupted
    // run as soon as the session becomes available (RFC 6121 §3.1.3).
    const mutual = new Set<string>();
    const approveFrom =
      (accept: (from: string) => boolean, onFrame?: (frame: string) => void) =>
      (frame: string, connection: XmppConnection) => {
        const from = subscribeRequestFrom(frame);
        if (from !== undefined && accept(from)) connection.send(presenceTo(from, 'subscribed'));
        onFrame?.(frame);
      };
    const trackMutual = (frame: string) => {
      if (frame.startsWith('<iq') && frame.includes(NS.roster))
        for (const jid of mutualContacts(frame)) mutual.add(jid);
    };

    let done = 0;
    progress.phase('login', () => `${done}/${contactNames.length + 1} sessions`);
    const contacts = await connectAll(contactNames, {
      options,
      keyCache,
      urlFor: alternatingUrl(ctx),
      onStanza: () => approveFrom((from) => from === hubJid),
      onProgress: (n) => {
        done = n;
      },
    }).finally(() => progress.end());
    const sessions: Session[] = [...contacts.sessions];
    try {
      const hubLogin = await connectAll([hubName], {
        options,
        keyCache,
        urlFor: () => options.ws,
        onStanza: () => approveFrom(() => true, trackMutual),
      });
      const hub = hubLogin.sessions[0]!;
      sessions.push(hub);
      for (const jid of mutualContacts(hub.roster)) mutual.add(jid);

      const missing = contactJids.filter((jid) => !mutual.has(jid));
      if (missing.length > 0) {
        progress.phase(
          'subscribing',
          () => `${missing.filter((jid) => mutual.has(jid)).length}/${missing.length} contacts`,
        );
        await subscribeMutually(
          hub.connection,
          hubJid,
          contacts.sessions,
          missing,
          mutual,
          options.domain,
        ).finally(() => progress.end());
        progress.log(`made ${missing.length} mutual subscriptions`);
      }
      // Let the presence exchanged while subscribing settle before timing anything.
      await sleep(500);

      const run = randomBytes(3).toString('hex');
      const pending: number[] = new Array(options.rounds).fill(contactNames.length);
      const allReached: Array<number | undefined> = new Array(options.rounds).fill(undefined);
      const sentAt: number[] = [];
      const perDelivery = new Histogram();
      const token = `${MARKER}${run}_`;
      for (const contact of contacts.sessions) {
        const seen = new Set<number>();
        contact.connection.onStanza = (frame) => {
          if (!frame.startsWith('<presence')) return;
          const at = frame.indexOf(token);
          if (at === -1) return;
          const round = Number.parseInt(frame.slice(at + token.length, at + token.length + 8), 10);
          if (!(round >= 0 && round < options.rounds) || seen.has(round)) return;
          seen.add(round);
          const now = performance.now();
          perDelivery.recordMs(now - sentAt[round]!);
          if (--pending[round]! === 0) allReached[round] = now - sentAt[round]!;
        };
      }
      hub.connection.onStanza = () => {};

      const reached = new Histogram();
      const before = await monitor.sample();
      const toolBefore = ownCpuSeconds();
      let round = 0;
      progress.phase('broadcasts', () => `round ${round + 1}/${options.rounds}`);
      let incomplete = 0;
      for (; round < options.rounds; round++) {
        sentAt[round] = performance.now();
        hub.connection.send(`<presence xmlns="jabber:client"><status>${token}${round}</status></presence>`);
        const r = round;
        const complete = await waitUntil(() => pending[r] === 0, ROUND_TIMEOUT_MS, 1);
        if (complete) reached.recordMs(allReached[r]!);
        else incomplete++;
        if (round < options.rounds - 1) await sleep(ROUND_GAP_MS);
      }
      progress.end();
      const after = await monitor.sample();
      const toolCpu = ownCpuSeconds() - toolBefore;
      const deliveries = options.rounds * contactNames.length - pending.reduce((a, b) => a + b, 0);
      const serverCpu = before && after ? after.cpuSeconds - before.cpuSeconds : undefined;

      const results = {
        provisioning,
        contacts: contactNames.length,
        subscriptionsMade: missing.length,
        rounds: options.rounds,
        allReached: reached.summary(),
        perDelivery: perDelivery.summary(),
        deliveries,
        missedDeliveries: options.rounds * contactNames.length - deliveries,
        incompleteRounds: incomplete,
        server:
          serverCpu === undefined
            ? null
            : {
                cpuSeconds: serverCpu,
                cpuSecondsPer10000Deliveries: deliveries > 0 ? (serverCpu / deliveries) * 10_000 : 0,
              },
        tool: { cpuSeconds: toolCpu },
      };
      const rows: Row[] = [
        {
          label: 'shape',
          value: `1 user, ${contactNames.length} online contacts, ${options.rounds} broadcasts`,
        },
        latencyRow('all contacts reached', results.allReached),
        latencyRow('each delivery', results.perDelivery),
        {
          label: 'deliveries',
          value: `${formatInt(deliveries)} (missed ${formatInt(results.missedDeliveries)})`,
        },
      ];
      if (results.server) {
        rows.push({
          label: 'server CPU per 10,000 deliveries',
          value: `${formatNumber(results.server.cpuSecondsPer10000Deliveries, 3)} s`,
        });
      }
      rows.push({ label: 'tool CPU', value: `${formatNumber(toolCpu)} s` });
      if (incomplete > 0)
        rows.push({
          label: 'incomplete rounds',
          value: `${incomplete} (after ${formatMs(ROUND_TIMEOUT_MS)})`,
        });
      return { results, rows };
    } finally {
      await closeAll(sessions);
    }
  },
};

/** Bare JIDs with subscription "both" in a roster result or push. */
export function mutualContacts(rosterFrame: string): Set<string> {
  const result = new Set<string>();
  const query = parseFrame(rosterFrame).getChild('query', NS.roster);
  for (const item of query?.getChildren('item') ?? []) {
    if (item.attrs.subscription === 'both' && item.attrs.jid) result.add(item.attrs.jid.toLowerCase());
  }
  return result;
}

const presenceTo = (to: string, type: string) =>
  `<presence xmlns="jabber:client" to="${escapeAttrValue(to)}" type="${type}"/>`;

/** The bare JID asking for a subscription, when the frame is such a request. */
export function subscribeRequestFrom(frame: string): string | undefined {
  if (!frame.startsWith('<presence')) return undefined;
  const head = frame.slice(0, frame.indexOf('>'));
  if (attributeOf(head, 'type') !== 'subscribe') return undefined;
  return attributeOf(head, 'from')?.split('/')[0]?.toLowerCase();
}

/**
 * Both sides ask (RFC 6121 §3.1) and the login handlers approve, which works whatever state an
 * earlier, interrupted run left behind. Done for a contact when the hub's roster push says "both".
 */
async function subscribeMutually(
  hub: XmppConnection,
  hubJid: string,
  contacts: Session[],
  missing: string[],
  mutual: ReadonlySet<string>,
  domain: string,
): Promise<void> {
  const wanted = new Set(missing);
  for (const contact of contacts) {
    if (wanted.has(`${contact.username}@${domain}`.toLowerCase())) {
      contact.connection.send(presenceTo(hubJid, 'subscribe'));
    }
  }
  for (const jid of missing) hub.send(presenceTo(jid, 'subscribe'));
  const complete = () => missing.every((jid) => mutual.has(jid));
  if (!(await waitUntil(complete, 60_000, 20))) {
    const made = missing.filter((jid) => mutual.has(jid)).length;
    throw new XmppError(
      `only ${made} of ${missing.length} contacts reached a mutual subscription; does the server support RFC 6121 subscriptions?`,
    );
  }
}
