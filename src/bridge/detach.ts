/**
 * Takes an SSE stream's socket away from Node's HTTP server once the response head is out, the way
 * Node itself hands a socket over on `upgrade`: the server's listeners leave the socket, its HTTP
 * parser goes back to the pool (and out of the server's connection list), and the request and
 * response objects become garbage. What stays per stream is the socket and the session (issue 15:
 * about 5 KiB less per idle stream — the `IncomingMessage`/`ServerResponse` pair with Express's own
 * copy of their shapes, the parser, and a dozen bound listeners).
 *
 * Node offers no public call for this, so every step is checked before anything is changed: the
 * server's listeners must be the ones Node 20+ installs (found by name), the request must be whole
 * and the parser done with it (no body still arriving, nothing pipelined behind it), and the response
 * must be the socket's current one. The session detaches only after the connect's first Redis read,
 * never from inside the parser's own callbacks. Anything else (another runtime, a Node that changed them, a pipelined request) leaves the
 * stream on its response as before.
 *
 * `server.closeAllConnections()` still ends detached streams: the server's method is wrapped (once
 * per server) to destroy them too. `server.close()` did not end SSE streams before (they were never
 * idle) and does not now; `bridge.close()` / `seenn.close()` end them with their final frame.
 */
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const require = createRequire(import.meta.url);

type Listener = (...args: unknown[]) => void;

interface HttpParser {
  incoming: unknown;
  _consumed?: boolean;
  unconsume?: () => void;
  finish?: () => unknown;
}

interface HttpCommon {
  freeParser?: (parser: HttpParser, req: unknown, socket: Socket) => void;
}

/** Node's `_http_common` (its `freeParser`), or `null` where it is not there. */
const httpCommon: HttpCommon | null = (() => {
  try {
    return require('_http_common') as HttpCommon;
  } catch {
    return null;
  }
})();

/** The listeners Node's HTTP server puts on a connection (`connectionListenerInternal`), by event. */
const SERVER_LISTENERS: ReadonlyArray<readonly [string, string]> = [
  ['data', 'bound socketOnData'],
  ['end', 'bound socketOnEnd'],
  ['close', 'bound socketOnClose'],
  ['drain', 'bound socketOnDrain'],
  ['error', 'socketOnError'],
];
/** Present on some connections only (a socket timeout; a parser consuming the socket's handle). */
const OPTIONAL_LISTENERS: ReadonlyArray<readonly [string, string]> = [
  ['timeout', 'socketOnTimeout'],
  ['pause', 'onSocketPause'],
  ['resume', 'onSocketResume'],
];

/** The one listener of `event` named `name`, or `null` (none, or several). */
function named(socket: Socket, event: string, name: string): Listener | null {
  const found = (socket.listeners(event) as Listener[]).filter((listener) => listener.name === name);
  return found.length === 1 ? (found[0] as Listener) : null;
}

/** Sockets detached from each server, so its `closeAllConnections()` still reaches them. */
const DETACHED = Symbol('seenn.detachedStreams');
type TrackedServer = { closeAllConnections?: () => void; [DETACHED]?: Set<Socket> };

function track(socket: Socket): void {
  const server = (socket as Socket & { server?: TrackedServer }).server;
  if (server === undefined || typeof server.closeAllConnections !== 'function') return;
  let sockets = server[DETACHED];
  if (sockets === undefined) {
    const detached = new Set<Socket>();
    sockets = detached;
    server[DETACHED] = detached;
    const closeAll = server.closeAllConnections;
    server.closeAllConnections = function closeAllConnections(this: TrackedServer) {
      closeAll.call(this);
      for (const stream of [...detached]) stream.destroy();
    };
  }
  sockets.add(socket);
  const set = sockets;
  socket.once('close', () => set.delete(socket));
}

/**
 * Detaches `res`'s socket from the HTTP server (see the module comment) after the head was sent.
 * Returns the socket, now the stream's alone (reading, discarding whatever the client sends; its
 * errors ignored — `close` follows), or `null` when it was left as it was.
 */
export function detachStream(res: ServerResponse): Socket | null {
  const socket = res.socket;
  const freeParser = httpCommon?.freeParser;
  if (socket === null || freeParser === undefined || socket.destroyed || !res.headersSent) return null;
  const parser = (socket as Socket & { parser?: HttpParser | null }).parser;
  const req = (res as ServerResponse & { req?: IncomingMessage }).req;
  // The request must be whole (a body still arriving keeps the parser at work on this connection).
  if (parser === null || parser === undefined || req === undefined || parser.incoming !== req || !req.complete)
    return null;
  if ((socket as Socket & { _httpMessage?: unknown })._httpMessage !== res) return null;
  const required: Array<readonly [string, Listener]> = [];
  for (const [event, name] of SERVER_LISTENERS) {
    const listener = named(socket, event, name);
    if (listener === null) return null;
    required.push([event, listener]);
  }
  // From here on, nothing can fail half way: only removals and Node's own clean-up.
  for (const [event, listener] of required) socket.removeListener(event, listener);
  for (const [event, name] of OPTIONAL_LISTENERS) {
    const listener = named(socket, event, name);
    if (listener !== null) socket.removeListener(event, listener);
  }
  res.detachSocket(socket);
  freeParser(parser, req, socket);
  socket.setTimeout(0);
  socket.on('error', ignore);
  // Keep reading: a client that goes away must be noticed (`end`, `close`); its bytes mean nothing.
  socket.on('data', ignore);
  socket.resume();
  track(socket);
  return socket;
}

function ignore(): void {}
