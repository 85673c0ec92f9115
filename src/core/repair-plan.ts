// What a data server needs to hold every committed block: compare its contents with the block
// map. Pure: the healer (catch-up of a returning server, fill of a replacement) carries it out.
// Only committed versions are copied, always from a verified replica; versions older than the
// committed one are deleted; versions newer than the committed one are left alone (a write may
// be in flight) for the scrubber's two-pass orphan rule.

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
  checksum: string;
}

export interface RepairPlan {
  /** Committed blocks the server lacks (or holds with another checksum), in map order. */
  copy: MapBlock[];
  /** Superseded versions the server still holds. */
  remove: Array<{ key: string; version: number }>;
}

export function blockId(ino: number, index: number): string {
  return `${ino}:${index}`;
}

export function planRepair(map: readonly MapBlock[], held: readonly HeldBlock[]): RepairPlan {
  const heldByKey = new Map<string, HeldBlock[]>();
  for (const h of held) heldByKey.set(h.key, [...(heldByKey.get(h.key) ?? []), h]);
  const plan: RepairPlan = { copy: [], remove: [] };
  for (const block of map) {
    const key = blockId(block.ino, block.index);
    const versions = heldByKey.get(key) ?? [];
    const current = versions.find((h) => h.version === block.version);
    if (!current || current.checksum !== block.checksum) plan.copy.push(block);
    for (const h of versions) if (h.version < block.version) plan.remove.push({ key, version: h.version });
  }
  return plan;
}

/** Held versions no committed block refers to and that are not newer than a committed one of
 * the same key: candidates for deletion (the scrubber deletes a candidate only when it sees it
 * again in a later pass, so a write in flight is never taken for an orphan). */
export function orphanCandidates(map: readonly MapBlock[], held: readonly HeldBlock[]): string[] {
  const committed = new Map<string, number>();
  for (const b of map) committed.set(blockId(b.ino, b.index), b.version);
  const out: string[] = [];
  for (const h of held) {
    const version = committed.get(h.key);
    if (version === undefined || h.version < version) out.push(`${h.key}@${h.version}`);
  }
  return out;
}
