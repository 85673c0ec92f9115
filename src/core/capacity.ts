// Disk space as the mediator sees it, as pure functions: each data server's space (what its
// heartbeats report, and whether a put found it full), whether it counts as full, how much the
// cluster can still store (what statfs reports), and whether a write that missed its quorum
// missed it for lack of space. No clock or I/O inside: the mediator feeds reports and put
// outcomes in. A full server stays in the write set: space may come back at any time.

import type { StatFs } from '../common/types.js';
import { assertNever } from './quorum.js';

export interface ServerSpace {
  /** Size of the file system the server stores blocks on; undefined until a report gives it. */
  capacityBytes: number | undefined;
  /** Bytes the server may still write there; undefined until a report gives it. */
  freeBytes: number | undefined;
  /** Set when a put found no space and none has succeeded since. `lowestFreeBytes` is the least
   * free space reported since then: space counts as back only when it grows well past that,
   * not when it wobbles (temp files of failed puts come and go). */
  putNoSpace: { lowestFreeBytes: number | undefined } | undefined;
}

export const UNKNOWN_SPACE: ServerSpace = { capacityBytes: undefined, freeBytes: undefined, putNoSpace: undefined };

/** A heartbeat's report. A field the server did not report keeps its last known value. */
export function spaceAfterReport(
  space: ServerSpace,
  report: { capacityBytes?: number | undefined; freeBytes?: number | undefined },
  reserveBytes: number,
): ServerSpace {
  const capacityBytes = report.capacityBytes ?? space.capacityBytes;
  const freeBytes = report.freeBytes ?? space.freeBytes;
  let putNoSpace = space.putNoSpace;
  if (putNoSpace && report.freeBytes !== undefined) {
    const lowest = Math.min(putNoSpace.lowestFreeBytes ?? report.freeBytes, report.freeBytes);
    putNoSpace = report.freeBytes >= lowest + reserveBytes ? undefined : { lowestFreeBytes: lowest };
  }
  return { capacityBytes, freeBytes, putNoSpace };
}

/** A put's outcome on the server: stored clears the no-space mark, noSpace sets it, and any
 * other failure (unreachable, timeout) says nothing about space. */
export function spaceAfterPut(space: ServerSpace, outcome: 'stored' | 'noSpace' | 'other'): ServerSpace {
  switch (outcome) {
    case 'stored':
      return space.putNoSpace ? { ...space, putNoSpace: undefined } : space;
    case 'noSpace':
      return space.putNoSpace ? space : { ...space, putNoSpace: { lowestFreeBytes: space.freeBytes } };
    case 'other':
      return space;
    default:
      return assertNever(outcome);
  }
}

/** Full: its last put found no space, or it reports less free space than the reserve (about a
 * block: the next put would most likely fail). Unknown space is not full. */
export function isFull(space: ServerSpace, reserveBytes: number): boolean {
  return space.putNoSpace !== undefined || (space.freeBytes !== undefined && space.freeBytes < reserveBytes);
}

export interface UsableSpace {
  capacityBytes: number;
  freeBytes: number;
}

/**
 * What the cluster can store, from the writable servers' space. A block goes to every writable
 * server and commits once Qw of them stored it, so writes go on until fewer than Qw servers have
 * room: the cluster can take as many more bytes as the Qw-th largest free space, and holds, when
 * empty, as much as the Qw-th largest capacity. (Space past the N-th largest, the smallest, holds
 * blocks with fewer than N copies: usable, but not fully redundant.) Each is the Qw-th largest
 * of its own values; since a server's free space never exceeds its capacity, neither does the
 * result's. Fewer than Qw servers with a known value: 0, as no write can succeed then.
 */
export function usableSpace(writable: readonly ServerSpace[], writeQuorum: number): UsableSpace {
  return {
    capacityBytes: nthLargest(writable.map((s) => s.capacityBytes), writeQuorum),
    freeBytes: nthLargest(writable.map((s) => s.freeBytes), writeQuorum),
  };
}

function nthLargest(values: ReadonlyArray<number | undefined>, n: number): number {
  const known = values.filter((v): v is number => v !== undefined).sort((a, b) => b - a);
  return n >= 1 && known.length >= n ? known[n - 1]! : 0;
}

/** The metadata server's statfs (inode counts, name length) with the block counts replaced by
 * the cluster's usable space, in whole blocks of the reply's block size. */
export function statFsWithSpace(meta: StatFs, usable: UsableSpace): StatFs {
  const blocks = (bytes: number): number => Math.floor(bytes / meta.blockSizeBytes);
  const freeBlocks = blocks(usable.freeBytes);
  return { ...meta, totalBlocks: blocks(usable.capacityBytes), freeBlocks, availBlocks: freeBlocks };
}

/**
 * The error code of a write that cannot reach its quorum: NO_SPACE when lack of space is what
 * sank it — some servers answered NO_SPACE and the other failures alone would have left enough
 * servers for the quorum — so the writer sees ENOSPC, not EIO. Otherwise QUORUM_NOT_REACHED
 * (servers down or unreachable: space would not have helped).
 */
export function writeFailureCode(
  targets: number,
  failures: number,
  noSpaceFailures: number,
  writeQuorum: number,
): 'NO_SPACE' | 'QUORUM_NOT_REACHED' {
  if (noSpaceFailures === 0) return 'QUORUM_NOT_REACHED';
  const otherFailures = failures - noSpaceFailures;
  return targets - otherFailures >= writeQuorum ? 'NO_SPACE' : 'QUORUM_NOT_REACHED';
}
