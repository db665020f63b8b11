import type { StanzaEvent } from './events.js';

/** Handles every stanza addressed to a component host (`conference.example.org`, …). */
export type ComponentHandler = (event: StanzaEvent) => void | Promise<void>;

/**
 * The domains this server answers for: the main domain, where accounts live, and the hosts that
 * modules register for their components. Anything else is remote.
 */
export class HostTable {
  private readonly components = new Map<string, ComponentHandler>();

  constructor(readonly main: string) {}

  /** Claims a host for a component; two modules claiming the same host is a configuration error. */
  register(host: string, handler: ComponentHandler): void {
    const domain = host.toLowerCase();
    if (domain === this.main || this.components.has(domain)) {
      throw new Error(`The host ${domain} is already served`);
    }
    this.components.set(domain, handler);
  }

  /** Whether a domain is served here (the main domain or a component). */
  isLocal(domain: string): boolean {
    return domain === this.main || this.components.has(domain);
  }

  /** The component serving a domain, if it is one. */
  component(domain: string): ComponentHandler | undefined {
    return this.components.get(domain);
  }

  /** Every domain served here, main first. */
  all(): string[] {
    return [this.main, ...this.components.keys()];
  }
}
