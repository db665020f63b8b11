import { normalizeDomainpart } from './domainpart.js';
import { JidMalformedError } from './errors.js';
import { normalizeLocalpart } from './localpart.js';
import { normalizeResourcepart } from './resourcepart.js';

/**
 * An XMPP address (RFC 7622) with every part prepared and validated, so two JIDs are the same address
 * exactly when their parts are equal strings. Instances are immutable; string forms are computed once.
 */
export class JID {
  /** The prepared localpart, or '' when the address has none. */
  readonly local: string;
  /** The prepared domainpart: lower case, U-labels, no trailing dot. */
  readonly domain: string;
  /** The prepared resourcepart, or '' when the address has none. */
  readonly resource: string;
  private cachedString: string | undefined;
  private cachedBareString: string | undefined;
  private cachedBare: JID | undefined;

  /** Parts must already be prepared; `canonical`, when known, is the address's string form. */
  private constructor(local: string, domain: string, resource: string, canonical: string | undefined) {
    this.local = local;
    this.domain = domain;
    this.resource = resource;
    this.cachedString = canonical;
    this.cachedBareString = resource === '' ? canonical : undefined;
    this.cachedBare = undefined;
  }

  /** Parses and prepares an address; throws JidMalformedError when it is not a valid JID. */
  static parse(input: string): JID {
    // RFC 7622 §3.1: the first '/' starts the resourcepart (which may hold '/' and '@'), then the
    // first '@' before it ends the localpart. Splitting precedes preparation, which can create either.
    const slash = input.indexOf('/');
    const bareEnd = slash === -1 ? input.length : slash;
    const at = input.indexOf('@');
    const hasLocal = at !== -1 && at < bareEnd;
    const rawLocal = hasLocal ? input.slice(0, at) : '';
    const rawDomain = input.slice(hasLocal ? at + 1 : 0, bareEnd);
    const rawResource = slash === -1 ? '' : input.slice(slash + 1);
    const local = hasLocal ? normalizeLocalpart(rawLocal) : '';
    const domain = normalizeDomainpart(rawDomain);
    const resource = slash === -1 ? '' : normalizeResourcepart(rawResource);
    // Preparation hands back the very same string when a part needs no change, so in the common case
    // these comparisons are identity checks and the input doubles as the canonical string form.
    const unchanged = local === rawLocal && domain === rawDomain && resource === rawResource;
    return new JID(local, domain, resource, unchanged ? input : undefined);
  }

  /** Like parse, but returns undefined instead of throwing for a malformed address. */
  static tryParse(input: string): JID | undefined {
    try {
      return JID.parse(input);
    } catch (error) {
      if (error instanceof JidMalformedError) return undefined;
      throw error;
    }
  }

  /** Builds an address from separate parts, preparing each; '' (or no resource) means the part is absent. */
  static of(local: string, domain: string, resource?: string): JID {
    return new JID(
      local === '' ? '' : normalizeLocalpart(local),
      normalizeDomainpart(domain),
      resource === undefined || resource === '' ? '' : normalizeResourcepart(resource),
      undefined,
    );
  }

  get isBare(): boolean {
    return this.resource === '';
  }

  get isDomain(): boolean {
    return this.local === '' && this.resource === '';
  }

  /** The address without its resourcepart; `this` when there is none. */
  bare(): JID {
    if (this.resource === '') return this;
    this.cachedBare ??= new JID(this.local, this.domain, '', this.bareString);
    return this.cachedBare;
  }

  /** The same bare address with the given resourcepart, which is prepared and must not be empty. */
  withResource(resource: string): JID {
    const full = new JID(this.local, this.domain, normalizeResourcepart(resource), undefined);
    full.cachedBare = this.bare();
    full.cachedBareString = this.bareString;
    return full;
  }

  toString(): string {
    this.cachedString ??= this.resource === '' ? this.bareString : this.bareString + '/' + this.resource;
    return this.cachedString;
  }

  /** `local@domain` or `domain`: the key under which a bare address is routed and stored. */
  get bareString(): string {
    this.cachedBareString ??= this.local === '' ? this.domain : this.local + '@' + this.domain;
    return this.cachedBareString;
  }

  equals(other: JID | undefined): boolean {
    if (other === undefined) return false;
    if (other === this) return true;
    // Resources differ most often between JIDs that get compared, so they are checked first.
    return this.resource === other.resource && this.local === other.local && this.domain === other.domain;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Parses and prepares an address; throws JidMalformedError when it is not a valid JID. */
export function parseJID(input: string): JID {
  return JID.parse(input);
}
