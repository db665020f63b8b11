import {
  AccountError,
  type AnyModule,
  type ClientSession,
  defineModule,
  errorReply,
  iqEventName,
  iqResult,
  networkKey,
  normalizeUsername,
  StanzaError,
  type StanzaEvent,
  type StreamIqEvent,
  setting,
} from '@strom/core';
import { JID } from '@strom/jid';
import { Element, xml } from '@strom/xml';

export const NS_REGISTER = 'jabber:iq:register';
export const NS_REGISTER_FEATURE = 'http://jabber.org/features/iq-register';

/**
 * XEP-0077 in-band registration: account creation before login (when open, on a secure connection,
 * limited per network unless the address is exempt), and for logged-in users password change and
 * account removal (always).
 */
export const registerModule: AnyModule = defineModule({
  name: 'register',
  settings: {
    registration: setting.oneOf(
      'REGISTRATION',
      ['open', 'closed'] as const,
      'open',
      'who may create accounts in-band',
    ),
    limit: setting.int('REGISTRATION_LIMIT', 5, 1, 1_000_000, 'accounts one address may register per hour'),
    interval: setting.int(
      'REGISTRATION_INTERVAL',
      10,
      0,
      86_400,
      'seconds between two registrations from one address',
    ),
    exempt: setting.addresses('REGISTRATION_EXEMPT', 'addresses and ranges without a registration limit'),
  },
  setup(ctx, settings) {
    const open = settings.registration === 'open';
    const throttle = new RegistrationThrottle({
      maxPerWindow: settings.limit,
      minIntervalMs: settings.interval * 1000,
    });
    // Passwords travel in clear inside the stream (XEP-0077 §8), so only over a secure transport.
    const mayRegister = (session: ClientSession) => open && session.transport.secure;

    ctx.feature(NS_REGISTER);
    ctx.streamFeature('pre-auth', (session) =>
      mayRegister(session) ? xml('register', { xmlns: NS_REGISTER_FEATURE }) : undefined,
    );

    ctx.streamIq('pre-auth', 'get', NS_REGISTER, 'query', ({ session }) => {
      // XEP-0077 §3.1: a host without in-band registration answers service-unavailable.
      if (!mayRegister(session)) throw new StanzaError('service-unavailable');
      return xml(
        'query',
        { xmlns: NS_REGISTER },
        xml('instructions', {}, 'Choose a username and password.'),
        xml('username'),
        xml('password'),
      );
    });

    const register = async ({ session }: StreamIqEvent, username: string, password: string) => {
      let local: string | undefined;
      try {
        local = normalizeUsername(username, ctx.domain);
      } catch {
        local = undefined;
      }
      // A taken name is answered as such whatever the limits say, and costs the network nothing.
      if (local !== undefined && (await ctx.storage.accounts.exists(local))) {
        throw new StanzaError('conflict', 'That username is taken');
      }
      const address = session.transport.remoteAddress;
      // Checking the limit and taking a slot are one synchronous step, so parallel requests from
      // one network cannot all pass the check before any of them is counted.
      const slot = settings.exempt.has(address) ? EXEMPT : throttle.reserve(networkKey(address));
      if (typeof slot === 'number') {
        throw new StanzaError(
          'resource-constraint',
          `Too many registrations from your network; try again in ${describeWait(slot)}`,
        );
      }
      try {
        if (local === undefined) throw new AccountError('invalid-username', 'invalid username');
        await ctx.accounts.create(username, password);
      } catch (err) {
        slot.cancel();
        throw accountProblem(err);
      }
      session.data.set(REGISTERED_ON_STREAM, true);
      ctx.log.info({}, 'account registered in-band');
    };

    ctx.streamIq('pre-auth', 'set', NS_REGISTER, 'query', async (event) => {
      const { session, payload } = event;
      if (!open) throw new StanzaError('not-allowed', 'Registration is closed on this server');
      if (!session.transport.secure) {
        throw new StanzaError('not-allowed', 'Registration needs an encrypted connection');
      }
      if (payload.getChild('remove') !== undefined) {
        throw new StanzaError('unexpected-request', 'Log in to remove an account', 'cancel');
      }
      // XEP-0077 §3.1.1: one account per stream; log in with it next.
      if (session.data.has(REGISTERED_ON_STREAM)) {
        throw new StanzaError('not-acceptable', 'An account was already registered on this connection');
      }
      const username = payload.getChildText('username')?.trim() ?? '';
      const password = payload.getChildText('password') ?? '';
      if (username === '' || password === '') {
        throw new StanzaError('not-acceptable', 'Both a username and a password are required');
      }
      await register(event, username, password);
    });

    ctx.iq('get', 'host', NS_REGISTER, 'query', (event) => registrationInfo(event.from));
    ctx.iq('get', 'self', NS_REGISTER, 'query', (event) => registrationInfo(event.from));

    const unexpected = (err: unknown): StanzaError => {
      ctx.log.error({ err }, 'account management failed');
      return new StanzaError('internal-server-error');
    };

    // Handled as raw hooks rather than ctx.iq: removal must answer before the session ends (and
    // after the account is locked), and error replies must not echo the password back (§3.3).
    const manageAccount = async (event: StanzaEvent): Promise<true> => {
      const { stanza, session } = event;
      const query = stanza.firstElement()!;
      try {
        // Only the account's own client, connected here, manages it.
        if (!session) throw new StanzaError('not-allowed');
        if (query.getChild('remove') !== undefined) {
          if (query.elements().length !== 1) {
            throw new StanzaError('bad-request', '<remove/> must be the only child of <query/>');
          }
          await removeAccount(event);
          return true;
        }
        await changePassword(event, session, query);
        await ctx.reply(event, iqResult(stanza));
      } catch (err) {
        const error = err instanceof StanzaError ? err : unexpected(err);
        const reply = errorReply(withoutPayload(stanza), error);
        if (reply) await ctx.reply(event, reply);
      }
      return true;
    };

    const removeAccount = async (event: StanzaEvent) => {
      // XEP-0077 §3.2: the result, then every session of the account ends with a stream error. The
      // result goes out only once the account is locked everywhere: no login with its password
      // succeeds on any node after the client has read it. Contacts are told afterwards, while the
      // roster still exists, and the rows go last.
      let answered = false;
      try {
        await ctx.accounts.delete(event.from.local, {
          onLocked: async () => {
            answered = true;
            await ctx.reply(event, iqResult(event.stanza));
          },
        });
      } catch (err) {
        if (!answered) throw accountProblem(err);
        ctx.log.error({ err }, 'account removal failed after it was confirmed');
      }
    };

    const changePassword = async (event: StanzaEvent, session: ClientSession, query: Element) => {
      const username = query.getChildText('username');
      const password = query.getChildText('password');
      if (username === undefined || password === undefined) {
        throw new StanzaError('bad-request', 'A password change needs <username/> and <password/>');
      }
      if (!session.transport.secure) {
        throw new StanzaError('not-authorized', 'Password changes need an encrypted connection', 'modify');
      }
      if (!sameAccount(username, event.from, ctx.domain)) {
        throw new StanzaError('forbidden', 'You can only change your own password');
      }
      // XEP-0077 §3.3: an empty password never replaces the existing one.
      if (password === '') throw new StanzaError('not-acceptable', 'The new password must not be empty');
      try {
        await ctx.accounts.changePassword(event.from.local, password);
      } catch (err) {
        throw accountProblem(err);
      }
    };

    for (const addressing of ['host', 'self'] as const) {
      ctx.hook(iqEventName('set', addressing, NS_REGISTER, 'query'), manageAccount);
    }
  },
});

const REGISTERED_ON_STREAM = 'register';

function registrationInfo(from: JID): Element {
  return xml('query', { xmlns: NS_REGISTER }, xml('registered'), xml('username', {}, from.local));
}

/** Accepts the username as the localpart or as the bare JID. */
function sameAccount(given: string, account: JID, domain: string): boolean {
  const trimmed = given.trim();
  const jid = trimmed.includes('@') ? JID.tryParse(trimmed) : JID.tryParse(`${trimmed}@${domain}`);
  return jid !== undefined && jid.resource === '' && jid.bareString === account.bareString;
}

function accountProblem(err: unknown): unknown {
  if (!(err instanceof AccountError)) return err;
  switch (err.problem) {
    case 'exists':
      return new StanzaError('conflict', 'That username is taken');
    case 'invalid-username':
      return new StanzaError('jid-malformed', 'That username is not allowed');
    case 'invalid-password':
      return new StanzaError('not-acceptable', err.message);
    case 'not-found':
      return new StanzaError('item-not-found');
  }
}

/** A copy of the request without its payload, for error replies that must not carry a password. */
function withoutPayload(stanza: Element): Element {
  return new Element(stanza.name, { ...stanza.attrs });
}

function describeWait(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 120) return `${seconds} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

/** A registration slot taken from the limit: kept when the account is created, given back if not. */
export interface RegistrationSlot {
  cancel(): void;
}

const EXEMPT: RegistrationSlot = { cancel() {} };

export interface RegistrationThrottleOptions {
  /** Successful registrations allowed per network within `windowMs` (default 5). */
  maxPerWindow: number;
  /** Registration attempts of any outcome per network within `windowMs`, which also slows username probing (default 30). */
  maxAttemptsPerWindow: number;
  windowMs: number;
  /** Time between two successful registrations from one network (default 10 s). */
  minIntervalMs: number;
}

const DEFAULT_THROTTLE: RegistrationThrottleOptions = {
  maxPerWindow: 5,
  maxAttemptsPerWindow: 30,
  windowMs: 60 * 60_000,
  minIntervalMs: 10_000,
};

/** Beyond this many tracked networks, expired ones are swept out on the next write. */
const SWEEP_THRESHOLD = 1000;

/**
 * Per-network registration limits, in memory only: addresses are never logged or stored, and the
 * timestamps kept for one are dropped once they are older than the window.
 */
export class RegistrationThrottle {
  private readonly options: RegistrationThrottleOptions;
  private readonly networks = new Map<string, { attempts: number[]; successes: number[] }>();

  constructor(options: Partial<RegistrationThrottleOptions> = {}) {
    this.options = { ...DEFAULT_THROTTLE, ...options };
  }

  /** Milliseconds until a registration from `key` is allowed again; 0 when it is allowed now. */
  check(key: string, now = Date.now()): number {
    const entry = this.current(key, now);
    if (!entry) return 0;
    const { maxPerWindow, maxAttemptsPerWindow, windowMs, minIntervalMs } = this.options;
    let wait = 0;
    const last = entry.successes[entry.successes.length - 1];
    if (last !== undefined) wait = Math.max(wait, last + minIntervalMs - now);
    if (entry.successes.length >= maxPerWindow) {
      wait = Math.max(wait, entry.successes[entry.successes.length - maxPerWindow]! + windowMs - now);
    }
    if (entry.attempts.length >= maxAttemptsPerWindow) {
      wait = Math.max(wait, entry.attempts[entry.attempts.length - maxAttemptsPerWindow]! + windowMs - now);
    }
    return Math.max(0, wait);
  }

  /**
   * Checks the limits and, when they allow it, counts an attempt and a registration at once: the
   * slot is taken before any asynchronous work, so concurrent requests see each other. Returns the
   * wait in milliseconds when refused.
   */
  reserve(key: string, now = Date.now()): RegistrationSlot | number {
    const wait = this.check(key, now);
    if (wait > 0) return wait;
    const entry = this.entry(key, now);
    entry.attempts.push(now);
    entry.successes.push(now);
    return {
      cancel: () => {
        const index = entry.successes.lastIndexOf(now);
        if (index !== -1) entry.successes.splice(index, 1);
      },
    };
  }

  recordAttempt(key: string, now = Date.now()): void {
    this.entry(key, now).attempts.push(now);
  }

  recordSuccess(key: string, now = Date.now()): void {
    this.entry(key, now).successes.push(now);
  }

  /** How many networks are tracked (for tests and metrics). */
  get size(): number {
    return this.networks.size;
  }

  private current(key: string, now: number) {
    const entry = this.networks.get(key);
    if (!entry) return undefined;
    const since = now - this.options.windowMs;
    entry.attempts = entry.attempts.filter((t) => t > since);
    entry.successes = entry.successes.filter((t) => t > since);
    if (entry.attempts.length === 0 && entry.successes.length === 0) {
      this.networks.delete(key);
      return undefined;
    }
    return entry;
  }

  private entry(key: string, now: number) {
    let entry = this.current(key, now);
    if (!entry) {
      if (this.networks.size >= SWEEP_THRESHOLD) this.sweep(now);
      entry = { attempts: [], successes: [] };
      this.networks.set(key, entry);
    }
    return entry;
  }

  private sweep(now: number): void {
    for (const key of [...this.networks.keys()]) this.current(key, now);
  }
}

/** The throttling key for a client address: IPv4 as is, IPv6 by its /64 (see `networkKey`). */
export function throttleKey(address: string | undefined): string {
  return networkKey(address);
}
