// Test-only dependencies that ship no type declarations.

declare module '@xmpp/client' {
  interface XmppElement {
    toString(): string;
  }
  interface XmppClient {
    start(): Promise<{ toString(): string }>;
    stop(): Promise<void>;
    send(element: XmppElement): Promise<void>;
    write(data: string): Promise<void>;
    on(event: string, listener: (...args: never[]) => void): void;
    saslFactory: { use(name: string, mechanism: new () => object): void };
    reconnect: { stop(): void };
    socket?: unknown;
    [key: string]: unknown;
  }
  export function client(options: Record<string, unknown>): XmppClient;
  export function xml(
    name: string,
    attrs?: Record<string, string | undefined>,
    ...children: unknown[]
  ): XmppElement;
}

declare module 'sasl-scram-sha-1' {
  const Mechanism: new () => {
    name: string;
    clientFirst: boolean;
    response(credentials: Record<string, unknown>): string;
    challenge(challenge: string): unknown;
  };
  export default Mechanism;
}
