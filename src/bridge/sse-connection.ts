/**
 * What an SSE session needs from the connection its stream travels on (issue 17, item 3; the same
 * seam as better-sse's `Connection`): send the head, write whole frames, hold writes back and flush
 * them in one go, learn how much waits to be sent and when it drained, end or cut the stream, hear
 * that it closed. `sse-session.ts` is written against this interface only; `node-connection.ts`
 * implements it on Node's `ServerResponse` (and the socket detached from it, `detach.ts`).
 */
import type { Frame } from './frames.js';

/** The peer of a connection, for logs. */
export interface RemoteInfo {
  address: string | undefined;
  port: number | undefined;
}

/** One stream's connection. */
export interface SseConnection {
  /** Who is at the other end (for logs; never used to decide anything). */
  readonly remote: RemoteInfo;
  /** Whether a frame written now can still reach the client (not ended, not destroyed). */
  readonly writable: boolean;
  /** Bytes written but not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /**
   * Sends the response head (`200`, `headers`) and holds it back, with every frame written after it,
   * until {@link flush}: the head and the first events leave in one socket write. `false` when the
   * client is gone already.
   */
  open(headers: Readonly<Record<string, string>>): boolean;
  /** Writes one whole event (one write of its pre-encoded bytes). */
  write(frame: Frame): void;
  /** Lets whatever {@link open} held back leave now. Idempotent. */
  flush(): void;
  /**
   * Calls `listener` once the buffered bytes were handed on (`drain`) or the connection closed;
   * returns a function that unregisters it.
   */
  onDrain(listener: () => void): () => void;
  /** Calls `listener` once when the connection closes, whoever closed it. */
  onClose(listener: () => void): void;
  /**
   * Lets go of everything but the stream itself (for Node: the request, the response and the HTTP
   * parser, see `detach.ts`). `true` when it did; call only after {@link open}, outside the request's
   * own parsing.
   */
  release(): boolean;
  /** Whether {@link release} took effect. */
  readonly released: boolean;
  /** Ends the stream gracefully (after what was written). */
  end(): void;
  /** Cuts the connection at once (a client that stopped reading). */
  destroy(): void;
}
