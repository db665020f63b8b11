import { randomBytes } from 'node:crypto';
import { type ModuleContext, StanzaError, setting } from '@strom/core';
import type { JID } from '@strom/jid';
import type { RosterItem } from '@strom/storage';
import type { Element } from '@strom/xml';
import { currentPresence } from '../presence/fan-out.js';
import { unavailablePresence } from '../presence/rules.js';
import { itemElement, removedItemElement, rosterPush, stateOf } from './roster-items.js';
import { NO_SUBSCRIPTION, type SubscriptionState, sameState } from './subscription-state.js';

export const DEFAULT_MAX_ROSTER_ITEMS = 1000;

/**
 * The settings of the roster and subscription modules: both add items, so both enforce the same
 * limit, read from the same variable.
 */
export const rosterSettings = {
  maxRosterItems: setting.int(
    'MAX_ROSTER_ITEMS',
    DEFAULT_MAX_ROSTER_ITEMS,
    1,
    100_000,
    'items one account may have in its roster',
  ),
};

export interface RosterOptions {
  /** Items one account may have in its roster (default: the MAX_ROSTER_ITEMS setting, else 1000). */
  maxRosterItems?: number;
}

/** One contact as the owner's server sees it: the roster item, if any, and a pending inbound request. */
export interface ContactRecord {
  item: RosterItem | undefined;
  pendingIn: boolean;
}

let pushCounter = 0;
const pushPrefix = randomBytes(4).toString('hex');

/**
 * Roster changes with their side effects: the size limit, the version bump and the push to every
 * interested resource, wherever in the cluster it is.
 */
export class RosterService {
  readonly maxItems: number;

  constructor(
    private readonly ctx: ModuleContext,
    options: RosterOptions = {},
  ) {
    this.maxItems = options.maxRosterItems ?? DEFAULT_MAX_ROSTER_ITEMS;
  }

  async contact(owner: JID, contact: string): Promise<ContactRecord> {
    const roster = this.ctx.storage.roster;
    const [item, pendingIn] = await Promise.all([
      roster.getItem(owner.local, contact),
      roster.hasPendingIn(owner.local, contact),
    ]);
    return { item, pendingIn };
  }

  /** Throws policy-violation when the owner's roster has no room for one more item. */
  async ensureRoom(owner: JID): Promise<void> {
    const count = await this.ctx.storage.roster.count(owner.local);
    if (count >= this.maxItems) {
      throw new StanzaError(
        'policy-violation',
        `The roster is full: an account can have at most ${this.maxItems} contacts`,
      );
    }
  }

  /** Stores the item and pushes it; a new item must fit in the roster. */
  async put(owner: JID, item: RosterItem, isNew: boolean): Promise<void> {
    if (isNew) await this.ensureRoom(owner);
    const version = await this.ctx.storage.roster.put(owner.local, item);
    await this.push(owner, itemElement(item), version);
  }

  /** Deletes the item and pushes the removal; false when there was no such item. */
  async remove(owner: JID, contact: string): Promise<boolean> {
    const version = await this.ctx.storage.roster.remove(owner.local, contact);
    if (version === undefined) return false;
    await this.push(owner, removedItemElement(contact), version);
    return true;
  }

  /**
   * Records a subscription state change for one contact. The item is created only when the new
   * state needs one (a pending inbound request alone lives outside the roster, RFC 6121 §3.1.3).
   */
  async applyState(
    owner: JID,
    contact: string,
    record: ContactRecord,
    next: SubscriptionState,
  ): Promise<void> {
    const before = stateOf(record.item, record.pendingIn);
    if (sameState(before, next)) return;
    const itemChanged =
      before.subscription !== next.subscription ||
      before.pendingOut !== next.pendingOut ||
      before.approved !== next.approved;
    const needsItem = itemChanged && (record.item !== undefined || !isBareState(next));
    if (needsItem && record.item === undefined) await this.ensureRoom(owner);

    const roster = this.ctx.storage.roster;
    if (before.pendingIn !== next.pendingIn) {
      if (next.pendingIn) await roster.addPendingIn(owner.local, contact);
      else await roster.removePendingIn(owner.local, contact);
    }
    if (!needsItem) return;
    const item: RosterItem = {
      ...(record.item ?? { jid: contact, groups: [] }),
      subscription: next.subscription,
      askOut: next.pendingOut,
      approved: next.approved,
    };
    await this.put(owner, item, false);
  }

  /** Sends a roster push to every interested resource of the owner (RFC 6121 §2.1.6). */
  async push(owner: JID, item: Element, version: number): Promise<void> {
    const entries = (await this.ctx.sessions.resources(owner.bare())).filter((entry) => entry.interested);
    if (entries.length === 0) return;
    await this.ctx.deliverMany(
      entries.map((entry) => ({
        stanza: rosterPush(entry.jid, nextPushId(), version, item.clone()),
        entries: [entry],
      })),
    );
  }

  /** Delivers a stanza to every available resource of the owner; false when none is online. */
  async toAvailableResources(owner: JID, stanza: Element): Promise<boolean> {
    const entries = (await this.ctx.sessions.resources(owner.bare())).filter((entry) => entry.available);
    if (entries.length === 0) return false;
    await this.ctx.deliverMany([{ stanza, entries }]);
    return true;
  }

  /**
   * Sends the owner's current presence to a contact that just gained a subscription: one stanza per
   * available resource, wherever it is connected (the directory carries each one's last presence).
   */
  async sendCurrentPresence(owner: JID, contact: JID): Promise<void> {
    const entries = (await this.ctx.sessions.resources(owner.bare())).filter((entry) => entry.available);
    for (const entry of entries) {
      const presence = currentPresence(this.ctx, entry, contact.bareString);
      delete presence.attrs.id;
      await this.ctx.route(presence);
    }
  }

  /** Tells a contact that lost its subscription that every available resource of the owner is gone. */
  async sendUnavailable(owner: JID, contact: JID): Promise<void> {
    const entries = (await this.ctx.sessions.resources(owner.bare())).filter((entry) => entry.available);
    for (const entry of entries) {
      await this.ctx.route(unavailablePresence(entry.jid, contact.bareString));
    }
  }
}

function isBareState(state: SubscriptionState): boolean {
  return (
    state.subscription === NO_SUBSCRIPTION.subscription &&
    state.pendingOut === NO_SUBSCRIPTION.pendingOut &&
    state.approved === NO_SUBSCRIPTION.approved
  );
}

/** A unique id for a server-generated roster push. */
export function nextPushId(): string {
  return `push-${pushPrefix}-${(++pushCounter).toString(36)}`;
}
