// Replication decisions that are policy, as pure functions: which servers a read asks first and
// which it widens to, where a repair copy is looked for, whether a failed write is sent again,
// and how freed block versions are grouped for deletion. No clock or randomness inside: the
// caller passes the time and its random source.

import type { ErrorCode } from '../common/errors.js';
import { blockKey, type OrphanBlock } from '../common/types.js';
import { pickReadSet } from './quorum.js';

export interface ReadPlan {
  /** Asked at once: Qr live servers chosen at random (fewer if fewer are live). */
  first: string[];
  /** Asked only if none of the first had a good copy: every other writable server, those
   * being healed included (any good copy will do). */
  widen: string[];
}

/** The servers a quorum read asks, leaving out `exclude` (a server known to lack a good copy). */
export function readPlan(live: readonly string[], writable: readonly string[], readQuorum: number, random: () => number, exclude?: string): ReadPlan {
  const first = pickReadSet(live.filter((id) => id !== exclude), readQuorum, random);
  const widen = writable.filter((id) => id !== exclude && !first.includes(id));
  return { first, widen };
}

/** The order a repair looks for one verified copy in: live servers in random order (spreading
 * the load), then those being healed; never `exclude`. */
export function copySourceOrder(live: readonly string[], writable: readonly string[], random: () => number, exclude?: string): string[] {
  const liveOthers = live.filter((id) => id !== exclude);
  const shuffled = pickReadSet(liveOthers, liveOthers.length, random);
  return [...shuffled, ...writable.filter((id) => id !== exclude && !liveOthers.includes(id))];
}

/** Whether a write whose attempt `attempt` (from 1) failed with `code` is sent again: only a
 * missed quorum (another server may be live by then), within the attempts allowed, and only if
 * the pause still ends before the deadline. */
export function writeRetryDue(code: ErrorCode | undefined, attempt: number, nowMs: number, deadlineMs: number, maxAttempts: number, retryDelayMs: number): boolean {
  return code === 'QUORUM_NOT_REACHED' && attempt < maxAttempts && nowMs + retryDelayMs < deadlineMs;
}

/** Freed block versions grouped by block key, in the order first seen: one delete call each. */
export function orphanDeletions(orphans: readonly OrphanBlock[]): Array<{ key: string; versions: number[] }> {
  const byKey = new Map<string, number[]>();
  for (const o of orphans) {
    const key = blockKey(o.ino, o.index);
    const versions = byKey.get(key);
    if (versions) versions.push(o.version);
    else byKey.set(key, [o.version]);
  }
  return [...byKey].map(([key, versions]) => ({ key, versions }));
}
