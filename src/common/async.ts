// Small async helpers with no policy of their own: a keyed mutex and deadline arithmetic.

import { qfsError } from './errors.js';

/** Serialises async work per key (e.g. per inode), so read-modify-write cycles don't interleave.
 * Waiters are released in arrival order; a key's queue is dropped when it empties. */
export class KeyedMutex<K> {
  private readonly tails = new Map<K, Promise<void>>();

  async run<T>(key: K, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Milliseconds left until an absolute Date.now() deadline; TIMEOUT if none are. */
export function remainingMs(deadlineMs: number, what: string): number {
  const left = deadlineMs - Date.now();
  if (left <= 0) throw qfsError('TIMEOUT', `${what}: deadline passed`);
  return left;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
