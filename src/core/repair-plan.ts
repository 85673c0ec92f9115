// What repair does, decided page by page: which listed versions are orphan candidates against
// the committed versions, when a failed heal is tried again, and how much of the cluster lacks
// a good copy. Pure: the healer and the redundancy service carry it out. Nothing here holds
// more than one page, so it works the same at a thousand blocks or a hundred million.

import { parseBlockKey } from '../common/types.js';

export interface MapBlock {
  ino: number;
  index: number;
  version: number;
  checksum: string;
  lengthBytes: number;
}

export interface HeldBlock {
  key: string;
  version: number;
}

export function blockId(ino: number, index: number): string {
  return `${ino}:${index}`;
}

/** A server's verdict on its copy of a block (`verify`/`verifyMany`), judged against the block
 * map: 'ok' only if the server read it sound and its checksum is the committed one. */
export function copyVerdict(result: { status: string; checksum?: string } | undefined, committedChecksum: string): string {
  if (result === undefined) return 'unreachable';
  return result.status === 'ok' && result.checksum !== committedChecksum ? 'mismatch' : result.status;
}

/** The listed versions no committed block refers to and that are not newer than the committed
 * one of their key (a newer one may be a write in flight): `committed[i]` is the committed
 * version of held[i]'s block, 0 for none. Keys that do not name a block are left alone. The
 * scrubber deletes a candidate only when a pass at least a minute later sees it again. */
export function orphanCandidatesInPage(held: readonly HeldBlock[], committed: readonly number[]): string[] {
  const out: string[] = [];
  held.forEach((h, i) => {
    if (parseBlockKey(h.key) === undefined) return;
    const version = committed[i] ?? 0;
    if (version === 0 || h.version < version) out.push(`${h.key}@${h.version}`);
  });
  return out;
}

/** The two-pass rule, over time: a version listed as an orphan candidate is deleted once it has
 * been one for at least `minAgeMs` (longer than any write takes to commit), counted from the
 * pass that first saw it. `firstSeenMs` is undefined when no earlier pass saw it. Passes closer
 * together than `minAgeMs` keep the first sighting, so frequent scrubs still collect. */
export function orphanRipe(firstSeenMs: number | undefined, nowMs: number, minAgeMs: number): boolean {
  return firstSeenMs !== undefined && nowMs - firstSeenMs >= minAgeMs;
}

/** Delay before heal attempt `failures + 1` of a server after `failures` failed ones: doubling
 * from the first delay up to the maximum, so a server that cannot take copies is retried for as
 * long as it stays in the cluster without flooding it. */
export function healRetryDelayMs(failures: number, firstDelayMs: number, maxDelayMs: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(maxDelayMs, firstDelayMs * 2 ** exponent);
}

export interface RedundancyInput {
  /** Data servers the cluster is meant to have (N). */
  configuredServers: number;
  /** Data servers that take writes now (live and healing). */
  writableServers: number;
  /** Committed blocks; null if the metadata server did not say. */
  committedBlocks: number | null;
  /** For each server being healed: blocks it still lacks, null until its compare is done. */
  healRemaining: ReadonlyArray<number | null>;
  /** Distinct blocks with a recorded write miss on some server. */
  missedBlocks: number;
}

export interface RedundancySummary {
  /** Blocks lacking a good copy on some server that should hold one; null when not known. Exact
   * when at most one source (one heal, or the recorded misses) contributes; otherwise it may
   * count a block lacking on two servers twice, never too few. */
  underReplicated: number | null;
  /** Whether every committed block has its full number of good copies; null when not known. */
  fullyReplicated: boolean | null;
}

export function redundancySummary(input: RedundancyInput): RedundancySummary {
  const { committedBlocks } = input;
  if (committedBlocks === 0) return { underReplicated: 0, fullyReplicated: true };
  if (input.writableServers < input.configuredServers) {
    // A server slot is empty: every block lacks that copy.
    return { underReplicated: committedBlocks, fullyReplicated: committedBlocks === null ? null : committedBlocks === 0 };
  }
  let known = input.missedBlocks;
  let unknown = false;
  for (const remaining of input.healRemaining) {
    if (remaining === null) unknown = true;
    else known += remaining;
  }
  if (committedBlocks !== null) known = Math.min(known, committedBlocks);
  if (unknown) return { underReplicated: null, fullyReplicated: known > 0 ? false : null };
  return { underReplicated: known, fullyReplicated: known === 0 };
}
