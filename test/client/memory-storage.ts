/** A `CursorStorage` over a Map, for the client's tests (what `localStorage` is in a browser). */
import type { CursorStorage } from '../../src/client/index.js';

export class MemoryStorage implements CursorStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}
