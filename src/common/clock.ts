// Wall-clock time with nanoseconds, for timestamps (mtime, ctime). Decisions never read it
// directly: processes pass it in as `now` so tests and simulations can use their own clocks.

import type { Timespec } from './types.js';

const HRTIME_AT_START = process.hrtime.bigint();
const WALL_AT_START_NS = BigInt(Date.now()) * 1_000_000n;

/** The current time: the wall clock at start plus the monotonic time since, so it never runs
 * backwards within a process and has nanosecond resolution. */
export function nowTimespec(): Timespec {
  const ns = process.hrtime.bigint() - HRTIME_AT_START + WALL_AT_START_NS;
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}
