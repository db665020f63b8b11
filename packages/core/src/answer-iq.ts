import type { Element } from '@strom/xml';
import type { IqHandler } from './context.js';
import { errorReply, iqResult, StanzaError } from './errors.js';
import type { StanzaEvent } from './events.js';
import type { ModuleRegistry } from './registry.js';
import type { Router } from './router.js';

/** Runs an IQ handler and answers the request with its result or its error. */
export async function answerIq(
  event: StanzaEvent,
  handler: IqHandler,
  router: Router,
  registry: ModuleRegistry,
): Promise<true> {
  const { stanza } = event;
  const payload = stanza.firstElement()!;
  let reply: Element | undefined;
  try {
    const result = await handler({ ...event, payload });
    reply = iqResult(stanza, result ?? undefined);
  } catch (err) {
    reply = errorReply(stanza, err instanceof StanzaError ? err : registry.internalError(err));
  }
  if (reply) await router.reply(event, reply);
  return true;
}
