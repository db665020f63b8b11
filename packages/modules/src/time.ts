import { defineModule } from '@strom/core';
import { xml } from '@strom/xml';

export const NS_TIME = 'urn:xmpp:time';

/** XEP-0202 entity time: UTC only, so the server's local time zone is not disclosed. */
export const timeModule = defineModule({
  name: 'time',
  setup(ctx) {
    ctx.feature(NS_TIME);
    ctx.iq('get', 'host', NS_TIME, 'time', () =>
      xml('time', { xmlns: NS_TIME }, xml('tzo', {}, '+00:00'), xml('utc', {}, xmppDateTime(new Date()))),
    );
  },
});

/** XEP-0082 DateTime in UTC, without fractional seconds. */
export function xmppDateTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
