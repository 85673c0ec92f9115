// Virtual time for the simulator and for tests: a Clock whose time moves only when the run
// loop fires the next timer, so a run with hours of timeouts takes milliseconds and replays
// exactly. Timers due at the same time fire in the order they were set.

import type { Clock, Timer } from '../src/common/clock.js';
import type { Timespec } from '../src/common/types.js';

interface Entry {
  atMs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Lets every promise continuation already queued run (there is no real I/O in a simulation,
 * so once this resolves the world is waiting on virtual timers only). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class VirtualClock implements Clock {
  private currentMs: number;
  private seq = 0;
  private readonly heap: Entry[] = [];

  constructor(startMs = 1_700_000_000_000) {
    this.currentMs = startMs;
  }

  nowMs(): number {
    return this.currentMs;
  }

  nowTimespec(): Timespec {
    return { sec: Math.floor(this.currentMs / 1000), nsec: (this.currentMs % 1000) * 1_000_000 };
  }

  setTimer(ms: number, fn: () => void): Timer {
    const entry: Entry = { atMs: this.currentMs + Math.max(0, Math.ceil(ms)), seq: this.seq++, fn, cancelled: false };
    this.push(entry);
    return { cancel: () => void (entry.cancelled = true) };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }

  /** Timers set and not yet fired or cancelled. */
  get pending(): number {
    return this.heap.filter((e) => !e.cancelled).length;
  }

  /** Fires the earliest timer, moving time to it; false when none is set. */
  fireNext(): boolean {
    for (;;) {
      const entry = this.pop();
      if (!entry) return false;
      if (entry.cancelled) continue;
      this.currentMs = Math.max(this.currentMs, entry.atMs);
      entry.fn();
      return true;
    }
  }

  /** Runs until `until()` holds (checked whenever the world is settled) or virtual time reaches
   * `limitMs`; resolves with whether `until()` held. */
  async runUntil(until: () => boolean, limitMs: number): Promise<boolean> {
    for (;;) {
      await settle();
      if (until()) return true;
      const next = this.peekAtMs();
      if (next === undefined || next > limitMs) {
        this.currentMs = Math.max(this.currentMs, limitMs);
        return until();
      }
      this.fireNext();
    }
  }

  /** Runs every timer due up to `ms` from now, then leaves time there. */
  async advance(ms: number): Promise<void> {
    await this.runUntil(() => false, this.currentMs + ms);
  }

  /** Waits (in virtual time) for a promise, firing timers until it settles; fails if nothing is
   * left to fire and it has not settled (a hang) or `limitMs` of virtual time passes. */
  async await<T>(promise: Promise<T>, limitMs: number): Promise<T> {
    let done = false;
    const tracked = promise.finally(() => void (done = true));
    tracked.catch(() => undefined);
    const deadline = this.currentMs + limitMs;
    if (!(await this.runUntil(() => done, deadline))) {
      throw new Error(`still waiting after ${limitMs} ms of virtual time (${this.pending} timers set)`);
    }
    return tracked;
  }

  private peekAtMs(): number | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0]?.atMs;
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
