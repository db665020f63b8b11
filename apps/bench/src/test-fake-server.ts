/**
 * A small scripted RFC 7395 server for the client's unit tests: real WebSocket, real SASL (the
 * server mechanisms of @strom/sasl), and knobs for the variations other servers show (required
 * session IQ, SHA-1 only, throttled registration).
 */
import type { AddressInfo } from 'node:net';
import { createMechanism, deriveCredentials, type SaslMechanism, type StoredCredentials } from '@strom/sasl';
import { type Element, parseFrame } from '@strom/xml';
import { type WebSocket, WebSocketServer } from 'ws';

export interface FakeServerOptions {
  mechanisms?: string[];
  /** Advertise `<session/>` without `<optional/>`, as older servers do. */
  sessionRequired?: boolean;
  /** Answer registrations with this error condition. */
  registrationError?: string;
  /** Sent right after a client's initial presence, as servers hand over pending requests then. */
  afterPresence?: string;
}

export interface FakeConnection {
  socket: WebSocket;
  username?: string;
  received: string[];
}

export class FakeServer {
  readonly connections: FakeConnection[] = [];
  readonly accounts = new Map<string, StoredCredentials>();
  sessionRequests = 0;

  private constructor(
    private readonly wss: WebSocketServer,
    private readonly options: FakeServerOptions,
  ) {
    wss.on('connection', (socket) => {
      const connection: FakeConnection = { socket, received: [] };
      this.connections.push(connection);
      let mechanism: SaslMechanism | undefined;
      let authenticated = false;
      socket.on('message', async (data) => {
        const frame = data.toString();
        connection.received.push(frame);
        const el = parseFrame(frame);
        const send = (text: string) => socket.send(text);
        if (el.localName === 'open') {
          send('<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" from="localhost" id="s1" version="1.0"/>');
          send(this.features(authenticated));
        } else if (el.localName === 'close') {
          send('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>');
          socket.close();
        } else if (el.localName === 'auth' || el.localName === 'response') {
          if (el.localName === 'auth') {
            mechanism = createMechanism(el.attrs.mechanism ?? '', async (u) => this.accounts.get(u));
          }
          try {
            const step = await mechanism!.step(Buffer.from(el.text(), 'base64'));
            if (step.type === 'challenge') {
              send(
                `<challenge xmlns="urn:ietf:params:xml:ns:xmpp-sasl">${step.data.toString('base64')}</challenge>`,
              );
            } else {
              authenticated = true;
              connection.username = step.username;
              send(
                `<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl">${step.data?.toString('base64') ?? ''}</success>`,
              );
            }
          } catch {
            send('<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/></failure>');
          }
        } else if (el.localName === 'iq') {
          await this.iq(connection, el, send);
        } else if (el.localName === 'presence' && this.options.afterPresence) {
          send(this.options.afterPresence);
        } else if (el.localName === 'message') {
          this.route(connection, el);
        }
      });
    });
  }

  static async start(options: FakeServerOptions = {}): Promise<FakeServer> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    return new FakeServer(wss, options);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/`;
  }

  async addUser(username: string, password: string): Promise<void> {
    this.accounts.set(username, await deriveCredentials(password, { iterations: 64 }));
  }

  /** Sends a frame to every connection of `username`. */
  push(username: string, frame: string): void {
    for (const c of this.connections) if (c.username === username) c.socket.send(frame);
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.socket.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private features(authenticated: boolean): string {
    const inner = authenticated
      ? `<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/><session xmlns="urn:ietf:params:xml:ns:xmpp-session">${this.options.sessionRequired ? '' : '<optional/>'}</session>`
      : `<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl">${(this.options.mechanisms ?? ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']).map((m) => `<mechanism>${m}</mechanism>`).join('')}</mechanisms><register xmlns="http://jabber.org/features/iq-register"/>`;
    return `<stream:features xmlns:stream="http://etherx.jabber.org/streams">${inner}</stream:features>`;
  }

  private async iq(connection: FakeConnection, iq: Element, send: (text: string) => void): Promise<void> {
    const id = iq.attrs.id ?? '';
    const result = (payload = '') =>
      send(`<iq xmlns="jabber:client" type="result" id="${id}">${payload}</iq>`);
    const payload = iq.elements()[0];
    switch (payload?.getNS()) {
      case 'urn:ietf:params:xml:ns:xmpp-bind':
        result(
          `<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>${connection.username}@localhost/${payload.getChildText('resource')}</jid></bind>`,
        );
        return;
      case 'urn:ietf:params:xml:ns:xmpp-session':
        this.sessionRequests++;
        result();
        return;
      case 'jabber:iq:roster':
        result('<query xmlns="jabber:iq:roster"><item jid="friend@localhost" subscription="both"/></query>');
        return;
      case 'urn:xmpp:ping':
        result();
        return;
      case 'jabber:iq:register': {
        const username = payload.getChildText('username') ?? '';
        const condition =
          this.options.registrationError ?? (this.accounts.has(username) ? 'conflict' : undefined);
        if (condition) {
          send(
            `<iq xmlns="jabber:client" type="error" id="${id}"><error type="cancel"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">no</text></error></iq>`,
          );
          return;
        }
        await this.addUser(username, payload.getChildText('password') ?? '');
        result();
        return;
      }
      default:
      // Answers from the client to our own requests are just recorded.
    }
  }

  /** Delivers to the addressee's connection, or bounces like a server does for unknown users. */
  private route(from: FakeConnection, message: Element): void {
    const to = (message.attrs.to ?? '').split('@')[0];
    const target = this.connections.find((c) => c.username === to);
    const copy = message.clone();
    if (target) {
      copy.attrs.from = `${from.username}@localhost/bench`;
      target.socket.send(copy.toString());
    } else {
      copy.attrs.from = message.attrs.to ?? '';
      copy.attrs.to = `${from.username}@localhost/bench`;
      copy.attrs.type = 'error';
      from.socket.send(copy.toString());
    }
  }
}
