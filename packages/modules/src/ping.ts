import { defineModule } from '@strom/core';

export const NS_PING = 'urn:xmpp:ping';

/** XEP-0199: the server answers pings addressed to it (and to an account, on its behalf). */
export const pingModule = defineModule({
  name: 'ping',
  setup(ctx) {
    ctx.feature(NS_PING);
    ctx.iq('get', 'host', NS_PING, 'ping', () => undefined);
    ctx.iq('get', 'self', NS_PING, 'ping', () => undefined);
  },
});
