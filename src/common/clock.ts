// Time, injected: every process shell and library that waits or reads the time takes a Clock, so
// a simulation can run the same code on virtual time. systemClock is the real one: the wall clock
// at start plus the monotonic time since, so it never runs backwards within a process.

import type { Timespec } from './types.js';

/** A timer that can be cancelled; cancelling a fired or cancelled timer does nothing. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch (virtual in a simulation); never decreases. */
  nowMs(): number;
  /** The current time with nanoseconds, for timestamps (mtime, ctime). */
  nowTimespec(): Timespec;
  /** Calls `fn` once, `ms` from now. `background` timers do not keep a process alive. */
  setTimer(ms: number, fn: () => void, background?: boolean): Timer;
  /** Resolves `ms` from now. */
  sleep(ms: number): Promise<void>;
}

const HRTIME_AT_START = process.hrtime.bigint();
const WALL_AT_START_NS = BigInt(Date.now()) * 1_000_000n;

/** The current time: the wall clock at start plus the monotonic time since, with nanosecond
 * resolution. */
export function nowTimespec(): Timespec {
  const ns = process.hrtime.bigint() - HRTIME_AT_START + WALL_AT_START_NS;
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  nowTimespec,
  setTimer(ms, fn, background = false) {
    const handle = setTimeout(fn, ms);
    if (background) handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Calls `fn` every `ms` until the returned timer is cancelled (the next call is scheduled when
 * this one starts, so a slow `fn` does not shift the period). */
export function every(clock: Clock, ms: number, fn: () => void): Timer {
  let current: Timer | undefined;
  let cancelled = false;
  const schedule = (): void => {
    current = clock.setTimer(ms, () => {
      if (cancelled) return;
      schedule();
      fn();
    });
  };
  schedule();
  return {
    cancel: () => {
      cancelled = true;
      current?.cancel();
    },
  };
}
