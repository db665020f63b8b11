import type { Cluster, SessionEntry } from '@strom/cluster';
import { JID } from '@strom/jid';
import type { Element } from '@strom/xml';
import type { DeliveryItem } from './context.js';
import { NS } from './namespaces.js';
import type { ClientSession } from './session.js';
import { serializeStanza } from './stream-namespace.js';

/**
 * This node's bound sessions and delivery to sessions anywhere: local ones directly, others with
 * one bus message per node. What cannot be delivered is handed to `undeliverable` (RFC 6121 §8.5.3.2).
 */
export class LocalSessions {
  /** Bound local sessions by full JID. */
  readonly byJid = new Map<string, ClientSession>();

  constructor(
    private readonly cluster: Cluster,
    private readonly undeliverable: (stanza: Element, to: JID) => Promise<void>,
  ) {}

  get(fullJid: string): ClientSession | undefined {
    return this.byJid.get(fullJid);
  }

  ofAccount(username: string): ClientSession[] {
    const result: ClientSession[] = [];
    for (const session of this.byJid.values()) if (session.username === username) result.push(session);
    return result;
  }

  /** Delivers a stanza to one resource wherever it is; false when it is not online. */
  async deliverFull(stanza: Element, to: JID): Promise<boolean> {
    const key = to.toString();
    const local = this.byJid.get(key);
    if (local) {
      local.send(stanza);
      return true;
    }
    const entries = await this.cluster.resources(to.bareString);
    const entry = entries.find((e) => e.jid === key);
    if (!entry || entry.node === this.cluster.nodeId) return false;
    return this.cluster.send(entry.node, { type: 'deliver', items: [{ stanza, to: [key] }] });
  }

  /** Delivers stanzas to resources known from the directory, one bus message per node. */
  async deliverMany(items: readonly DeliveryItem[]): Promise<void> {
    // The hot path (every recipient on this node) allocates nothing but the serialized stanza,
    // rendered once however many local resources get it.
    const nodeId = this.cluster.nodeId;
    let byNode: Map<string, Array<{ stanza: Element; to: string[] }>> | undefined;
    for (const { stanza, entries } of items) {
      let text: string | undefined;
      for (const entry of entries) {
        if (entry.node === nodeId) {
          const session = this.byJid.get(entry.jid);
          if (session) {
            text ??= serializeStanza(stanza, NS.client);
            session.sendSerialized(text, stanza);
          }
          continue;
        }
        byNode ??= new Map();
        let batch = byNode.get(entry.node);
        if (!batch) {
          batch = [];
          byNode.set(entry.node, batch);
        }
        const last = batch[batch.length - 1];
        if (last && last.stanza === stanza) last.to.push(entry.jid);
        else batch.push({ stanza, to: [entry.jid] });
      }
    }
    if (byNode === undefined) return;
    await Promise.all(
      [...byNode].map(async ([node, batch]) => {
        if (await this.cluster.send(node, { type: 'deliver', items: batch })) return;
        for (const item of batch) {
          for (const to of item.to) await this.undeliverable(item.stanza, JID.parse(to));
        }
      }),
    );
  }

  /** Stanzas another node handed over for sessions here. */
  receive(items: ReadonlyArray<{ stanza: Element; to: readonly string[] }>): void {
    for (const item of items) {
      for (const to of item.to) {
        const session = this.byJid.get(to);
        if (session) session.send(item.stanza);
        else void this.undeliverable(item.stanza, JID.parse(to));
      }
    }
  }

  isHere(entry: SessionEntry): boolean {
    return entry.node === this.cluster.nodeId;
  }
}
