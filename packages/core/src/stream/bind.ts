import { randomBytes } from 'node:crypto';
import { JID, normalizeResourcepart } from '@strom/jid';
import { xml } from '@strom/xml';
import { defineModule } from '../context.js';
import { StanzaError } from '../errors.js';
import { NS } from '../namespaces.js';
import { setting } from '../settings.js';

/**
 * RFC 6120 §7 resource binding, and the RFC 3921 session establishment that older clients still
 * send (answered, it means nothing today), as a module of the stream's pre-bind stage.
 */
export const bindModule = defineModule({
  name: 'bind',
  settings: {
    // Resources one account may have bound at once, across the cluster (hibernating ones count);
    // beyond it a new bind gets `resource-constraint` (RFC 6120 §7.6.2.1). 0: no limit.
    maxSessions: setting.int(
      'MAX_SESSIONS_PER_ACCOUNT',
      50,
      0,
      1_000_000,
      'resources one account may have bound at once',
    ),
  },
  setup(ctx, { maxSessions }) {
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
      if (maxSessions > 0) {
        // A resource that is bound already is replaced (conflict), so it does not add one.
        const full = JID.of(session.username!, ctx.domain, resource).toString();
        const bound = await ctx.sessions.resources(JID.of(session.username!, ctx.domain));
        if (bound.filter((entry) => entry.jid !== full).length >= maxSessions) {
          throw new StanzaError(
            'resource-constraint',
            `This account has reached its limit of ${maxSessions} connected resources`,
          );
        }
      }
      await ctx.sessions.bind(session, resource);
      if (!session.activate()) return undefined;
      return xml('bind', { xmlns: NS.bind }, xml('jid', {}, session.jid!.toString()));
    });
    ctx.streamIq('pre-bind', 'set', NS.session, 'session', () => undefined);
  },
});
