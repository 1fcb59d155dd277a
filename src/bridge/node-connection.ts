/**
 * {@link SseConnection} on Node's `ServerResponse`. Once the head is out with chunked encoding and
 * nothing stands between the response and its socket, frames go to the socket itself (each frame's
 * pre-built chunk in one `write()`, none of `ServerResponse`'s per-write work); otherwise (an HTTP/1.0
 * client, a middleware wrapping `write`) through the response. With `detachable`, {@link release}
 * takes the socket off the HTTP server (see `detach.ts`) and the connection holds the socket alone.
 */
import { OutgoingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { detachStream } from './detach.js';
import type { Frame } from './frames.js';
import type { RemoteInfo, SseConnection } from './sse-connection.js';

/** The last chunk of a chunked body: written by the connection itself once the socket is detached. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** Socket errors end in `close`, which ends the session; nothing else to do. */
function ignoreSocketError(): void {}

/** A stream's connection on a Node HTTP/1 response. */
export class NodeSseConnection implements SseConnection {
  /** Where frames go: the socket (direct, chunked) or the response. */
  private out: Writable;
  private direct = false;
  /** The response, until the socket is detached (`null` from then on). */
  private res: ServerResponse | null;
  /** The socket while the head waits in it (corked) for {@link flush}. */
  private corked: Socket | null = null;
  private closeListener: (() => void) | null = null;
  /** The socket, for {@link remote} (read when asked: `remoteAddress` costs a system call). */
  private readonly socket: Socket | null;

  /**
   * @param res - the response; the connection owns it from now on
   * @param detachable - whether {@link release} may detach the socket (the bridge's `detachStreams`)
   */
  constructor(
    res: ServerResponse,
    private readonly detachable: boolean,
  ) {
    this.res = res;
    this.out = res;
    this.socket = res.socket;
    // The response's `close` is the one reliable disconnect signal (the request's `close` comes as
    // soon as a request body has been read, by any middleware).
    res.once('close', () => this.closed());
    res.on('error', ignoreSocketError);
  }

  get remote(): RemoteInfo {
    return { address: this.socket?.remoteAddress, port: this.socket?.remotePort };
  }

  get writable(): boolean {
    const { res, out } = this;
    return !out.destroyed && !out.writableEnded && (res === null || (!res.destroyed && !res.writableEnded));
  }

  get bufferedBytes(): number {
    return this.out.writableLength;
  }

  get released(): boolean {
    return this.res === null;
  }

  open(headers: Readonly<Record<string, string>>): boolean {
    const { res } = this;
    if (res === null || res.destroyed || res.writableEnded) return false;
    const { socket } = res;
    socket?.setNoDelay(true);
    socket?.cork();
    res.writeHead(200, headers);
    res.flushHeaders();
    // Straight to the socket only when nothing stands between the response and it: chunked encoding,
    // our response is the socket's current one with nothing waiting in its own buffer, and no
    // middleware wrapped `write`/`end` (compression, logging taps: they get every write as before).
    if (
      res.chunkedEncoding &&
      socket !== null &&
      res.writableLength === socket.writableLength &&
      !socket.destroyed &&
      res.write === OutgoingMessage.prototype.write &&
      res.end === OutgoingMessage.prototype.end
    ) {
      this.out = socket;
      this.direct = true;
      this.corked = socket;
    } else socket?.uncork();
    return true;
  }

  write(frame: Frame): void {
    this.out.write(this.direct ? frame.chunk : frame.bytes);
  }

  flush(): void {
    const socket = this.corked;
    if (socket === null) return;
    this.corked = null;
    socket.uncork();
  }

  onDrain(listener: () => void): () => void {
    const { out, res } = this;
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      off();
      listener();
    };
    const off = (): void => {
      out.off('drain', once);
      out.off('close', once);
      res?.off('close', once);
    };
    out.on('drain', once);
    out.on('close', once);
    res?.on('close', once);
    return () => {
      done = true;
      off();
    };
  }

  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  release(): boolean {
    const { res } = this;
    if (!this.detachable || !this.direct || res === null) return false;
    const socket = detachStream(res);
    if (socket === null) return false;
    this.res = null;
    socket.once('close', () => this.closed());
    // A client that ends its side is gone (the server allows half-open sockets).
    socket.once('end', () => this.closed());
    return true;
  }

  end(): void {
    this.flush();
    const { res, out } = this;
    if (res !== null) {
      if (!res.writableEnded) res.end();
    } else if (!out.destroyed && !out.writableEnded) {
      // A detached socket: end the chunked body, then the connection (it cannot serve another request).
      out.write(LAST_CHUNK);
      (out as Socket).destroySoon();
    }
  }

  destroy(): void {
    this.flush();
    this.res?.destroy();
    this.out.destroy();
  }

  private closed(): void {
    const listener = this.closeListener;
    this.closeListener = null;
    listener?.();
  }
}
