import type { StanzaErrorCondition } from '@strom/core';
import type { Subscription } from '@strom/storage';
import type { NodeConfig } from './config.js';

/** How the requester stands towards the node's owner, from the owner's roster. */
export interface Relation {
  isOwner: boolean;
  /** The owner's roster item for the requester, if any. */
  subscription: Subscription | undefined;
  groups: readonly string[];
}

/** Why access is refused (XEP-0060 §6.5.9, §7.2.3): the stanza error and its pubsub condition. */
export interface Refusal {
  condition: StanzaErrorCondition;
  pubsubCondition: string;
}

/**
 * XEP-0060 §4.5 access models for retrieving items and receiving notifications: the owner always;
 * `open` anyone; `presence` contacts allowed to see the owner's presence; `roster` contacts in the
 * allowed roster groups; `whitelist` (XEP-0223 private nodes) nobody else.
 */
export function mayAccess(config: NodeConfig, relation: Relation): Refusal | undefined {
  if (relation.isOwner) return undefined;
  switch (config.accessModel) {
    case 'open':
      return undefined;
    case 'presence':
      return relation.subscription === 'from' || relation.subscription === 'both'
        ? undefined
        : { condition: 'not-authorized', pubsubCondition: 'presence-subscription-required' };
    case 'roster':
      return relation.subscription !== undefined &&
        relation.groups.some((group) => config.rosterGroupsAllowed.includes(group))
        ? undefined
        : { condition: 'not-authorized', pubsubCondition: 'not-in-roster-group' };
    case 'whitelist':
      return { condition: 'not-allowed', pubsubCondition: 'closed-node' };
  }
}
