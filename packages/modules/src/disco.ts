import { defineModule, type IqEvent, type ModuleContext, StanzaError } from '@strom/core';
import { type Element, xml } from '@strom/xml';

export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

/**
 * XEP-0030 for the server and for accounts. Features come from the modules that registered them,
 * so disco always tells the truth about what is loaded.
 */
export const discoModule = defineModule({
  name: 'disco',
  setup(ctx) {
    ctx.feature(NS_DISCO_INFO, NS_DISCO_ITEMS);
    ctx.accountFeature(NS_DISCO_INFO, NS_DISCO_ITEMS);
    ctx.identity({ category: 'server', type: 'im', name: 'Strom' });

    const { disco } = ctx;
    const serverInfo = (event: IqEvent): Element => {
      rejectNode(event);
      const query = xml('query', { xmlns: NS_DISCO_INFO });
      for (const identity of disco.identities()) query.c('identity', { ...identity });
      for (const feature of disco.serverFeatures()) query.c('feature', { var: feature });
      return query;
    };
    const accountInfo = async (event: IqEvent): Promise<Element> => {
      rejectNode(event);
      // Only the owner and contacts with a presence subscription learn that an account exists
      // (XEP-0030 §8); everyone else gets the same answer as for a missing account.
      if (!(await visibleAccount(ctx, event))) throw new StanzaError('service-unavailable');
      const query = xml('query', { xmlns: NS_DISCO_INFO });
      query.c('identity', { category: 'account', type: 'registered' });
      for (const identity of disco.accountIdentities()) query.c('identity', { ...identity });
      for (const feature of disco.accountFeatures()) query.c('feature', { var: feature });
      return query;
    };
    const items = (event: IqEvent): Element => {
      rejectNode(event);
      return xml('query', { xmlns: NS_DISCO_ITEMS });
    };
    const accountItems = async (event: IqEvent): Promise<Element> => {
      if (!(await visibleAccount(ctx, event))) throw new StanzaError('service-unavailable');
      return items(event);
    };

    ctx.iq('get', 'host', NS_DISCO_INFO, 'query', serverInfo);
    ctx.iq('get', 'host', NS_DISCO_ITEMS, 'query', items);
    ctx.iq('get', 'bare', NS_DISCO_INFO, 'query', accountInfo);
    ctx.iq('get', 'bare', NS_DISCO_ITEMS, 'query', accountItems);
  },
});

function rejectNode(event: IqEvent): void {
  if (event.payload.attrs.node !== undefined) throw new StanzaError('item-not-found');
}

async function visibleAccount(ctx: ModuleContext, event: IqEvent): Promise<boolean> {
  const { from, to } = event;
  if (from.bareString === to.bareString) return true;
  if (!(await ctx.storage.accounts.exists(to.local))) return false;
  const item = await ctx.storage.roster.getItem(to.local, from.bareString);
  return item?.subscription === 'from' || item?.subscription === 'both';
}
