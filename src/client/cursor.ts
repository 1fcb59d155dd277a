/**
 * The replay cursor: the id of the last event the client applied. It is sent back on reconnect
 * (`Last-Event-ID` header and `lastEventId` query) so the bridge replays exactly what was missed, and
 * optionally kept in a storage adapter so a reloaded page resumes too.
 */
import type { CursorStorage } from './options.js';

/** Parses a Redis stream id `<ms>-<seq>`; `null` for any other shape. */
function streamId(id: string): [bigint, bigint] | null {
  const match = /^(\d{1,20})-(\d{1,20})$/.exec(id);
  return match?.[1] === undefined || match[2] === undefined ? null : [BigInt(match[1]), BigInt(match[2])];
}

/**
 * Whether `id` comes strictly after `previous`. Ids that are not both Redis stream ids cannot be
 * compared, and then `id` counts as newer (the server is trusted).
 */
export function isAfter(id: string, previous: string | undefined): boolean {
  if (previous === undefined) return true;
  const a = streamId(id);
  const b = streamId(previous);
  if (a === null || b === null) return id !== previous;
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

/** The last event id, kept in memory and, when a storage adapter is given, in storage. */
export class Cursor {
  private value: string | undefined;

  /**
   * @param storage - opt-in persistence
   * @param key - the storage key
   * @param initial - an id to start from (wins over the stored one)
   * @param onStorageError - told when the storage adapter throws (private mode, quota)
   */
  constructor(
    private readonly storage: CursorStorage | undefined,
    private readonly key: string,
    initial: string | undefined,
    private readonly onStorageError: (error: unknown) => void,
  ) {
    this.value = initial ?? this.load();
  }

  /** The id to resume after, if any. */
  get current(): string | undefined {
    return this.value;
  }

  /** Moves the cursor to `id`. */
  set(id: string): void {
    this.value = id;
    this.persist(() => this.storage?.setItem(this.key, id));
  }

  /** Forgets the cursor (the bridge said it does not know it). */
  reset(): void {
    this.value = undefined;
    this.persist(() => this.storage?.removeItem(this.key));
  }

  private load(): string | undefined {
    if (this.storage === undefined) return undefined;
    try {
      return this.storage.getItem(this.key) ?? undefined;
    } catch (error) {
      this.onStorageError(error);
      return undefined;
    }
  }

  private persist(write: () => void): void {
    try {
      write();
    } catch (error) {
      this.onStorageError(error);
    }
  }
}
