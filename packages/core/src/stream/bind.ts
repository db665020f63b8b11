import { randomBytes } from 'node:crypto';
import { normalizeResourcepart } from '@strom/jid';
import { xml } from '@strom/xml';
import { defineModule } from '../context.js';
import { StanzaError } from '../errors.js';
import { NS } from '../namespaces.js';

/**
 * RFC 6120 §7 resource binding, and the RFC 3921 session establishment that older clients still
 * send (answered, it means nothing today), as a module of the stream's pre-bind stage.
 */
export const bindModule = defineModule({
  name: 'bind',
  setup(ctx) {
    ctx.streamFeature('pre-bind', () => xml('bind', { xmlns: NS.bind }));
    ctx.streamFeature('pre-bind', () => xml('session', { xmlns: NS.session }, xml('optional')));

    ctx.streamIq('pre-bind', 'set', NS.bind, 'bind', async ({ session, payload }) => {
      if (session.state !== 'authenticated') throw new StanzaError('not-allowed', 'Bind a resource first');
      const requested = payload.getChildText('resource')?.trim();
      let resource: string;
      try {
        resource = requested ? normalizeResourcepart(requested) : randomBytes(6).toString('hex');
      } catch {
        throw new StanzaError('bad-request', 'Invalid resource');
      }
      await ctx.sessions.bind(session, resource);
      if (!session.activate()) return undefined;
      return xml('bind', { xmlns: NS.bind }, xml('jid', {}, session.jid!.toString()));
    });
    ctx.streamIq('pre-bind', 'set', NS.session, 'session', () => undefined);
  },
});
