import { defineModule, StanzaError, type StanzaEvent } from '@strom/core';
import type { Element } from '@strom/xml';
import { routeBareMessage } from './delivery.js';

export { type BareRoute, type Candidate, routeBareMessage } from './delivery.js';

/**
 * Fired with the original event when a chat or normal message finds no resource to take it. A
 * handler that stores or answers it returns true; without one the sender gets `service-unavailable`
 * (RFC 6121 §8.5.2.2.1).
 */
export const OFFLINE_MESSAGE_HOOK = 'message/offline';

/** Where a bare-JID message went, kept while the cluster bus might still report a node gone. */
interface FanOut {
  targets: Set<string>;
  failed: Set<string>;
}

/**
 * RFC 6121 §8.5.2 delivery of messages to an account's bare JID, and of chat/normal messages to a
 * resource that is gone (§8.5.3.2, the core hands them back here), through the session directory.
 */
export const messageModule = defineModule({
  name: 'message',
  setup(ctx) {
    const { server } = ctx;
    // A bare-JID message sent to a node that died comes back once per unreachable resource; this
    // tells those echoes from new messages so they neither loop nor reach a resource twice.
    const fanOuts = new WeakMap<Element, FanOut>();

    ctx.hook('message/bare', async (event) => {
      try {
        await deliverToBare(event, fanOuts);
      } catch (err) {
        server.log.error({ error: err instanceof Error ? err.name : typeof err }, 'message delivery failed');
        await server.router.bounce(event.stanza, new StanzaError('internal-server-error'), event.origin);
      }
      return true;
    });
  },
});

async function deliverToBare(event: StanzaEvent, fanOuts: WeakMap<Element, FanOut>): Promise<void> {
  const { stanza, server, to } = event;
  let entries = await server.resources(to.bare());
  let failed: Set<string> | undefined;
  if (to.resource !== '') {
    // The addressed resource could not be reached: the other resources are the candidates.
    const unreachable = to.toString();
    const earlier = fanOuts.get(stanza);
    if (earlier) {
      earlier.failed.add(unreachable);
      // Only when every resource it was sent to failed does it need another route.
      for (const target of earlier.targets) if (!earlier.failed.has(target)) return;
      failed = earlier.failed;
    } else {
      failed = new Set([unreachable]);
    }
    const skip = failed;
    entries = entries.filter((entry) => !skip.has(entry.jid));
  }

  const route = routeBareMessage(event.type, entries);
  switch (route.action) {
    case 'deliver':
      if (route.to.some((entry) => entry.node !== server.cluster.nodeId)) {
        fanOuts.set(stanza, {
          targets: new Set(route.to.map((entry) => entry.jid)),
          failed: failed ?? new Set(),
        });
      }
      await server.deliverMany([{ stanza, entries: route.to }]);
      return;
    case 'offline':
      if (await server.registry.stanzaHooks.fire(OFFLINE_MESSAGE_HOOK, event)) return;
      await server.router.bounce(stanza, new StanzaError('service-unavailable'), event.origin);
      return;
    case 'bounce':
      await server.router.bounce(stanza, new StanzaError('service-unavailable'), event.origin);
      return;
    case 'drop':
      return;
  }
}
