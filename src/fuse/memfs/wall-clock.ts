// The memfs clock: wall time with nanosecond resolution, as a Timespec. Anchored once to
// Date.now() and advanced by the monotonic high-resolution timer, so timestamps taken in a row
// never go backwards within one process.

import type { Timespec } from '../fuse-operations.js';

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;
const anchorNs = BigInt(Date.now()) * NS_PER_MS - process.hrtime.bigint();

export function wallClockNow(): Timespec {
  const ns = anchorNs + process.hrtime.bigint();
  return { sec: Number(ns / NS_PER_S), nsec: Number(ns % NS_PER_S) };
}
