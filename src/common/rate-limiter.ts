// A token bucket in bytes per second, for background work (heal, scrub) that must leave room
// for foreground traffic. take() waits until the bytes may be spent; a rate of 0 means no limit.

import type { Clock } from './clock.js';

export class RateLimiter {
  private availableBytes: number;
  private lastRefillMs: number;

  constructor(
    private bytesPerSecond: number,
    private readonly clock: Clock,
  ) {
    this.availableBytes = bytesPerSecond;
    this.lastRefillMs = clock.nowMs();
  }

  setRate(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  async take(bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    for (;;) {
      this.refill();
      // A request larger than one second's budget goes through once the bucket is full.
      if (this.availableBytes >= Math.min(bytes, this.bytesPerSecond)) {
        this.availableBytes -= bytes;
        return;
      }
      const missing = Math.min(bytes, this.bytesPerSecond) - this.availableBytes;
      await this.clock.sleep(Math.max(1, Math.ceil((missing / this.bytesPerSecond) * 1000)));
    }
  }

  private refill(): void {
    const now = this.clock.nowMs();
    this.availableBytes = Math.min(this.bytesPerSecond, this.availableBytes + ((now - this.lastRefillMs) / 1000) * this.bytesPerSecond);
    this.lastRefillMs = now;
  }
}

/** Runs `work` over `items` with at most `concurrency` at a time; stops early when `active()`
 * turns false. Failures are the worker's to handle. */
export async function forEachBounded<T>(items: readonly T[], concurrency: number, active: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length && active()) await work(items[next++]!);
  });
  await Promise.all(workers);
}
