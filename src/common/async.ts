// Small async helpers with no policy of their own: a keyed mutex and a real-time pause (for
// process shells; code that runs in the simulator waits on its injected Clock instead).


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

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
