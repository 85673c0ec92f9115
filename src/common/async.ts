// Small async helpers with no policy of their own: a keyed mutex, a queue that runs a bounded
// number of tasks at once, a semaphore, and a real-time pause (for process shells; code that runs in the
// simulator waits on its injected Clock instead).


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

/** Runs at most `limit` pieces of work at once; the others wait and start in the order they came
 * (a freed slot passes straight to the first waiter, so a later caller cannot overtake it). */
export class Semaphore {
  private free: number;
  private readonly waiters: Array<() => void> = [];

  constructor(limit: number) {
    this.free = limit;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0 && this.waiters.length === 0) this.free--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs queued tasks, at most `limit` at a time, in the order queued; a task's failure is its
 * own business (tasks handle their errors). */
export class TaskQueue {
  private waiting: Array<() => Promise<unknown>> = [];
  /** Index of the next task to run in `waiting` (shift() would copy the array each time). */
  private next = 0;
  private running = 0;

  constructor(private readonly limit: number) {}

  /** Tasks queued or running. */
  get pending(): number {
    return this.waiting.length - this.next + this.running;
  }

  add(task: () => Promise<unknown>): void {
    this.waiting.push(task);
    this.pump();
  }

  private pump(): void {
    while (this.running < this.limit && this.next < this.waiting.length) {
      const task = this.waiting[this.next++]!;
      if (this.next === this.waiting.length) {
        this.waiting = [];
        this.next = 0;
      }
      this.running++;
      void task()
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }
}
