// A block changed in part: pieces of new bytes laid over a base version, and the new version's
// extent table computed from the extents they change, the others' hashes taken from the base's
// table. The writer (with the base extents it read and verified) and each data server (with the
// base it holds) compute the same table, so the new checksum is agreed without the whole block
// crossing the network. A patch never shrinks a block; bytes between the base's end and a piece
// past it are zeros, as a hole reads.

import { EXTENT_BYTES, EXTENT_HASH_BYTES, extentCount, extentHash, tableEntry } from '../common/checksum.js';

/** `lengthBytes` bytes of the payload (pieces are laid out in it in order) go at `offset`. */
export interface Piece {
  offset: number;
  lengthBytes: number;
}

/** What a patch needs of its base: its length, its table and the verified bytes of each extent
 * the patch changes that the base has. */
export interface PatchBase {
  lengthBytes: number;
  table: Uint8Array;
  extent(index: number): Uint8Array;
}

export interface PatchResult {
  lengthBytes: number;
  table: Buffer;
  /** The new bytes of each extent the patch changed. */
  extents: Map<number, Buffer>;
}

/** Why these pieces cannot patch a block of at most `maxBlockBytes`, or undefined if they can. */
export function pieceProblem(pieces: readonly Piece[], payloadBytes: number, maxBlockBytes: number): string | undefined {
  if (pieces.length === 0) return 'a patch needs at least one piece';
  let total = 0;
  for (const { offset, lengthBytes } of pieces) {
    if (lengthBytes === 0) return 'a piece of 0 bytes';
    if (offset + lengthBytes > maxBlockBytes) return `a piece ends at ${offset + lengthBytes}, past the block size ${maxBlockBytes}`;
    total += lengthBytes;
  }
  return total === payloadBytes ? undefined : `the pieces add up to ${total} bytes, the payload has ${payloadBytes}`;
}

/** The block's new length and the extents the pieces change: those they touch, and those the
 * block grows over (the base's last one included, as it gets longer). */
export function changedExtents(baseBytes: number, pieces: readonly Piece[]): { lengthBytes: number; changed: number[] } {
  let lengthBytes = baseBytes;
  const changed = new Set<number>();
  for (const { offset, lengthBytes: n } of pieces) {
    lengthBytes = Math.max(lengthBytes, offset + n);
    for (let i = Math.floor(offset / EXTENT_BYTES); i <= Math.floor((offset + n - 1) / EXTENT_BYTES); i++) changed.add(i);
  }
  if (lengthBytes > baseBytes) {
    for (let i = Math.floor(baseBytes / EXTENT_BYTES); i < extentCount(lengthBytes); i++) changed.add(i);
  }
  return { lengthBytes, changed: [...changed].sort((a, b) => a - b) };
}

/** The extents of the base a patch reads: the changed ones the base has. */
export function baseExtentsRead(baseBytes: number, pieces: readonly Piece[]): number[] {
  const count = extentCount(baseBytes);
  return changedExtents(baseBytes, pieces).changed.filter((i) => i < count);
}

/** Lays the pieces (in order, a later one over an earlier) over the base. */
export function patchExtents(base: PatchBase, pieces: readonly Piece[], payload: Uint8Array): PatchResult {
  const { lengthBytes, changed } = changedExtents(base.lengthBytes, pieces);
  const baseCount = extentCount(base.lengthBytes);
  const extents = new Map<number, Buffer>();
  for (const i of changed) {
    const start = i * EXTENT_BYTES;
    const extent = Buffer.alloc(Math.min(EXTENT_BYTES, lengthBytes - start));
    if (i < baseCount) extent.set(base.extent(i));
    let at = 0;
    for (const piece of pieces) {
      const from = Math.max(piece.offset, start);
      const to = Math.min(piece.offset + piece.lengthBytes, start + extent.length);
      if (from < to) extent.set(payload.subarray(at + from - piece.offset, at + to - piece.offset), from - start);
      at += piece.lengthBytes;
    }
    extents.set(i, extent);
  }
  const count = extentCount(lengthBytes);
  const table = Buffer.allocUnsafe(count * EXTENT_HASH_BYTES);
  for (let i = 0; i < count; i++) {
    const extent = extents.get(i);
    table.set(extent ? extentHash(extent) : tableEntry(base.table, i), i * EXTENT_HASH_BYTES);
  }
  return { lengthBytes, table, extents };
}

/** The whole new block: the base's bytes with the changed extents replaced. */
export function patchedBlock(baseData: Uint8Array, result: PatchResult): Buffer {
  const out = Buffer.alloc(result.lengthBytes);
  out.set(baseData.subarray(0, Math.min(baseData.length, result.lengthBytes)));
  for (const [i, extent] of result.extents) out.set(extent, i * EXTENT_BYTES);
  return out;
}
