/**
 * A plain `ws` echo server (the `xmpp` subprotocol accepted, every text frame sent straight back),
 * run as a child process of the load tool so that its CPU can be read from /proc on its own: the
 * ceiling of a Node WebSocket stack on the machine. Prints `{"port":N}` once listening and exits
 * when its standard input closes, so it never outlives the tool.
 */
import { WebSocketServer } from 'ws';

const server = new WebSocketServer({
  host: process.env.ECHO_HOST ?? '127.0.0.1',
  port: Number(process.env.ECHO_PORT ?? 0),
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
});

server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => {});
});

server.on('listening', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
