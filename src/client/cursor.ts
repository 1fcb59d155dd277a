/**
 * The replay cursor: the id of the last event the client applied. It is sent back on reconnect
 * (`Last-Event-ID` header and `lastEventId` query) so the bridge replays exactly what was missed, and
 * optionally kept in a storage adapter so a reloaded page resumes too.
 */
import { compareStreamIds } from '../model/wire.js';
import type { CursorStorage } from './options.js';

/** A Redis stream id `<ms>-<seq>` whose parts {@link compareStreamIds} compares exactly (below 2^53). */
const STREAM_ID = /^\d{1,15}-\d{1,15}$/;

/**
 * Whether `id` comes strictly after `previous`. Ids that are not both Redis stream ids cannot be
 * compared, and then `id` counts as newer (the server is trusted).
 */
export function isAfter(id: string, previous: string | undefined): boolean {
  if (previous === undefined) return true;
  if (!STREAM_ID.test(id) || !STREAM_ID.test(previous)) return id !== previous;
  return compareStreamIds(id, previous) > 0;
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
