import {
  defineEvent,
  defineModule,
  type ModuleContext,
  type SessionEntry,
  StanzaError,
  type StanzaEvent,
} from '@strom/core';
import type { Element } from '@strom/xml';
import { routeBareMessage } from './delivery.js';

export { type BareRoute, type Candidate, routeBareMessage } from './delivery.js';

/**
 * Fired with the original event when a chat or normal message finds no resource to take it. A
 * handler that stores or answers it returns true; without one the sender gets `service-unavailable`
 * (RFC 6121 §8.5.2.2.1).
 */
export const messageUndeliverable = defineEvent<StanzaEvent>('message/undeliverable');

/**
 * Fired once a message to an account's bare JID was handed to the resources that get it under
 * RFC 6121 §8.5.2 (copies to the other resources, archives and the like listen here).
 */
export const messageDelivered = defineEvent<{ event: StanzaEvent; to: readonly SessionEntry[] }>(
  'message/delivered',
);

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
    // A bare-JID message sent to a node that died comes back once per unreachable resource; this
    // tells those echoes from new messages so they neither loop nor reach a resource twice.
    const fanOuts = new WeakMap<Element, FanOut>();

    ctx.hook('message/bare', async (event) => {
      try {
        await deliverToBare(ctx, event, fanOuts);
      } catch (err) {
        ctx.log.error({ error: err instanceof Error ? err.name : typeof err }, 'message delivery failed');
        await ctx.bounce(event.stanza, new StanzaError('internal-server-error'), event.origin);
      }
      return true;
    });
  },
});

async function deliverToBare(
  ctx: ModuleContext,
  event: StanzaEvent,
  fanOuts: WeakMap<Element, FanOut>,
): Promise<void> {
  const { stanza, to } = event;
  let entries = await ctx.sessions.resources(to.bare());
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
      if (route.to.some((entry) => !ctx.sessions.isHere(entry))) {
        fanOuts.set(stanza, {
          targets: new Set(route.to.map((entry) => entry.jid)),
          failed: failed ?? new Set(),
        });
      }
      await ctx.deliverMany([{ stanza, entries: route.to }]);
      await ctx.fire(messageDelivered, { event, to: route.to });
      return;
    case 'offline':
      if (await ctx.fire(messageUndeliverable, event)) return;
      await ctx.bounce(stanza, new StanzaError('service-unavailable'), event.origin);
      return;
    case 'bounce':
      await ctx.bounce(stanza, new StanzaError('service-unavailable'), event.origin);
      return;
    case 'drop':
      return;
  }
}
