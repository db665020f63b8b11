import { describe, expect, it } from 'vitest';
import {
  inbound,
  NO_SUBSCRIPTION,
  outbound,
  type SubscriptionState,
  type SubscriptionType,
} from './subscription-state.js';

// The nine states of RFC 6121 Appendix A.1, by the names the RFC's tables use.
const STATES = {
  None: { subscription: 'none', pendingOut: false, pendingIn: false },
  'None + Pending Out': { subscription: 'none', pendingOut: true, pendingIn: false },
  'None + Pending In': { subscription: 'none', pendingOut: false, pendingIn: true },
  'None + Pending Out/In': { subscription: 'none', pendingOut: true, pendingIn: true },
  To: { subscription: 'to', pendingOut: false, pendingIn: false },
  'To + Pending In': { subscription: 'to', pendingOut: false, pendingIn: true },
  From: { subscription: 'from', pendingOut: false, pendingIn: false },
  'From + Pending Out': { subscription: 'from', pendingOut: true, pendingIn: false },
  Both: { subscription: 'both', pendingOut: false, pendingIn: false },
} as const;
type StateName = keyof typeof STATES;

function state(name: StateName, approved = false): SubscriptionState {
  return { ...NO_SUBSCRIPTION, ...STATES[name], approved };
}

function nameOf(s: SubscriptionState): StateName {
  const found = (Object.keys(STATES) as StateName[]).find((name) => {
    const candidate = STATES[name];
    return (
      candidate.subscription === s.subscription &&
      candidate.pendingOut === s.pendingOut &&
      candidate.pendingIn === s.pendingIn
    );
  });
  if (!found) throw new Error(`not one of the RFC states: ${JSON.stringify(s)}`);
  return found;
}

/** A table row: existing state, whether the stanza goes on, and the new state (same = "no state change"). */
type Row = [StateName, boolean, StateName | 'same'];

function checkOutbound(type: SubscriptionType, rows: Row[]) {
  it.each(rows)(`outbound ${type} in "%s": route %s, new state %s`, (existing, route, expected) => {
    const result = outbound(state(existing), type, { preApproval: false });
    expect(result.route).toBe(route);
    expect(nameOf(result.state)).toBe(expected === 'same' ? existing : expected);
    expect(result.state.approved).toBe(false);
  });
}

function checkInbound(type: SubscriptionType, rows: Row[]) {
  it.each(rows)(`inbound ${type} in "%s": deliver %s, new state %s`, (existing, deliver, expected) => {
    const result = inbound(state(existing), type);
    expect(result.deliver).toBe(deliver);
    expect(nameOf(result.state)).toBe(expected === 'same' ? existing : expected);
  });
}

describe('RFC 6121 A.2: outbound subscription stanzas', () => {
  describe('A.2.1 subscribe', () => {
    checkOutbound('subscribe', [
      ['None', true, 'None + Pending Out'],
      ['None + Pending Out', true, 'same'],
      ['None + Pending In', true, 'None + Pending Out/In'],
      ['None + Pending Out/In', true, 'same'],
      ['To', true, 'same'],
      ['To + Pending In', true, 'same'],
      ['From', true, 'From + Pending Out'],
      ['From + Pending Out', true, 'same'],
      ['Both', true, 'same'],
    ]);
  });

  describe('A.2.2 unsubscribe', () => {
    checkOutbound('unsubscribe', [
      ['None', true, 'same'],
      ['None + Pending Out', true, 'None'],
      ['None + Pending In', true, 'same'],
      ['None + Pending Out/In', true, 'None + Pending In'],
      ['To', true, 'None'],
      ['To + Pending In', true, 'None + Pending In'],
      ['From', true, 'same'],
      ['From + Pending Out', true, 'From'],
      ['Both', true, 'From'],
    ]);
  });

  describe('A.2.3 subscribed', () => {
    checkOutbound('subscribed', [
      ['None', false, 'same'],
      ['None + Pending Out', false, 'same'],
      ['None + Pending In', true, 'From'],
      ['None + Pending Out/In', true, 'From + Pending Out'],
      ['To', false, 'same'],
      ['To + Pending In', true, 'Both'],
      ['From', false, 'same'],
      ['From + Pending Out', false, 'same'],
      ['Both', false, 'same'],
    ]);
  });

  describe('A.2.4 unsubscribed', () => {
    checkOutbound('unsubscribed', [
      ['None', false, 'same'],
      ['None + Pending Out', false, 'same'],
      ['None + Pending In', true, 'None'],
      ['None + Pending Out/In', true, 'None + Pending Out'],
      ['To', false, 'same'],
      ['To + Pending In', true, 'To'],
      ['From', true, 'None'],
      ['From + Pending Out', true, 'None + Pending Out'],
      ['Both', true, 'To'],
    ]);
  });
});

describe('RFC 6121 A.3: inbound subscription stanzas', () => {
  describe('A.3.1 subscribe', () => {
    checkInbound('subscribe', [
      ['None', true, 'None + Pending In'],
      ['None + Pending Out', true, 'None + Pending Out/In'],
      ['None + Pending In', false, 'same'],
      ['None + Pending Out/In', false, 'same'],
      ['To', true, 'To + Pending In'],
      ['To + Pending In', false, 'same'],
      ['From', false, 'same'],
      ['From + Pending Out', false, 'same'],
      ['Both', false, 'same'],
    ]);

    it.each<StateName>(['From', 'From + Pending Out', 'Both'])(
      'answers a subscribe in "%s" with subscribed and the current presence (§3.1.3)',
      (existing) => {
        const result = inbound(state(existing), 'subscribe');
        expect(result.autoReply).toBe('subscribed');
        expect(result.presenceToContact).toBe('available');
      },
    );

    it.each<StateName>(['None', 'None + Pending Out', 'None + Pending In', 'To', 'To + Pending In'])(
      'leaves the answer to the user in "%s"',
      (existing) => {
        expect(inbound(state(existing), 'subscribe').autoReply).toBeUndefined();
      },
    );
  });

  describe('A.3.2 unsubscribe', () => {
    checkInbound('unsubscribe', [
      ['None', false, 'same'],
      ['None + Pending Out', false, 'same'],
      ['None + Pending In', true, 'None'],
      ['None + Pending Out/In', true, 'None + Pending Out'],
      ['To', false, 'same'],
      ['To + Pending In', true, 'To'],
      ['From', true, 'None'],
      ['From + Pending Out', true, 'None + Pending Out'],
      ['Both', true, 'To'],
    ]);

    it.each<StateName>(['From', 'From + Pending Out', 'Both'])(
      'sends unavailable to a contact whose subscription ends in "%s" (§3.3.3)',
      (existing) => {
        expect(inbound(state(existing), 'unsubscribe').presenceToContact).toBe('unavailable');
      },
    );
  });

  describe('A.3.3 subscribed', () => {
    checkInbound('subscribed', [
      ['None', false, 'same'],
      ['None + Pending Out', true, 'To'],
      ['None + Pending In', false, 'same'],
      ['None + Pending Out/In', true, 'To + Pending In'],
      ['To', false, 'same'],
      ['To + Pending In', false, 'same'],
      ['From', false, 'same'],
      ['From + Pending Out', true, 'Both'],
      ['Both', false, 'same'],
    ]);
  });

  describe('A.3.4 unsubscribed', () => {
    checkInbound('unsubscribed', [
      ['None', false, 'same'],
      ['None + Pending Out', true, 'None'],
      ['None + Pending In', false, 'same'],
      ['None + Pending Out/In', true, 'None + Pending In'],
      ['To', true, 'None'],
      ['To + Pending In', true, 'None + Pending In'],
      ['From', false, 'same'],
      ['From + Pending Out', true, 'From'],
      ['Both', true, 'From'],
    ]);
  });
});

describe('presence that follows a change of the contact\'s "from"', () => {
  it("sends the owner's presence when the owner approves a request", () => {
    expect(outbound(state('None + Pending In'), 'subscribed').presenceToContact).toBe('available');
    expect(outbound(state('To + Pending In'), 'subscribed').presenceToContact).toBe('available');
  });

  it("sends unavailable when the owner cancels the contact's subscription", () => {
    expect(outbound(state('From'), 'unsubscribed').presenceToContact).toBe('unavailable');
    expect(outbound(state('Both'), 'unsubscribed').presenceToContact).toBe('unavailable');
  });

  it("sends nothing when only a request is declined or the owner's own subscription changes", () => {
    expect(outbound(state('None + Pending In'), 'unsubscribed').presenceToContact).toBeUndefined();
    expect(outbound(state('Both'), 'unsubscribe').presenceToContact).toBeUndefined();
    expect(inbound(state('To'), 'unsubscribed').presenceToContact).toBeUndefined();
  });
});

describe('RFC 6121 §3.4 pre-approval', () => {
  it.each<StateName>(['None', 'None + Pending Out', 'To'])(
    'records a subscribed in "%s" as a pre-approval without routing it',
    (existing) => {
      const result = outbound(state(existing), 'subscribed', { preApproval: true });
      expect(result.route).toBe(false);
      expect(result.state).toEqual(state(existing, true));
    },
  );

  it.each<StateName>(['From', 'From + Pending Out', 'Both'])(
    'has nothing to pre-approve in "%s"',
    (existing) => {
      expect(outbound(state(existing), 'subscribed', { preApproval: true }).state.approved).toBe(false);
    },
  );

  it.each<[StateName, StateName]>([
    ['None', 'From'],
    ['None + Pending Out', 'From + Pending Out'],
    ['To', 'Both'],
  ])(
    'turns an inbound subscribe in pre-approved "%s" into "%s" with an automatic subscribed',
    (existing, expected) => {
      const result = inbound(state(existing, true), 'subscribe');
      expect(result.deliver).toBe(false);
      expect(result.autoReply).toBe('subscribed');
      expect(result.presenceToContact).toBe('available');
      expect(nameOf(result.state)).toBe(expected);
      expect(result.state.approved).toBe(false);
    },
  );

  it('withdraws a pre-approval with unsubscribed, without routing it', () => {
    const result = outbound(state('None', true), 'unsubscribed');
    expect(result.route).toBe(false);
    expect(result.state).toEqual(state('None'));
  });

  it('consumes the pre-approval when the owner approves a pending request', () => {
    // A pre-approval cannot coexist with a pending request, but a stale flag must not survive approval.
    const result = outbound(state('None + Pending In', true), 'subscribed');
    expect(nameOf(result.state)).toBe('From');
    expect(result.state.approved).toBe(false);
  });
});
