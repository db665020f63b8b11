/** A handler returns true when it has fully dealt with the event, which stops lower-priority handlers. */
export type HookResult = boolean | undefined | void;
export type HookHandler<E> = (event: E) => HookResult | Promise<HookResult>;

interface Registration<E> {
  handler: HookHandler<E>;
  priority: number;
}

/**
 * Named events with prioritised handlers, in the manner of Prosody's event names
 * (`message/bare`, `iq-get/host/urn:xmpp:ping:ping`, `session-closed`, …).
 */
export class HookBus<E = unknown> {
  private readonly handlers = new Map<string, Registration<E>[]>();

  on(name: string, handler: HookHandler<E>, priority = 0): () => void {
    const list = this.handlers.get(name) ?? [];
    const registration = { handler, priority };
    list.push(registration);
    // Stable: equal priorities run in registration order.
    list.sort((a, b) => b.priority - a.priority);
    this.handlers.set(name, list);
    return () => {
      const current = this.handlers.get(name);
      if (!current) return;
      const index = current.indexOf(registration);
      if (index !== -1) current.splice(index, 1);
    };
  }

  has(name: string): boolean {
    const list = this.handlers.get(name);
    return list !== undefined && list.length > 0;
  }

  /** Runs handlers by priority until one returns true; resolves whether any did. */
  async fire(name: string, event: E): Promise<boolean> {
    const list = this.handlers.get(name);
    if (list === undefined) return false;
    for (const { handler } of list) {
      const result = handler(event);
      if ((result instanceof Promise ? await result : result) === true) return true;
    }
    return false;
  }
}
