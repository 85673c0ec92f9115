// What a data server needs from its store, as an interface: BlockStore keeps blocks in files on
// a real disk; a simulation keeps them on a simulated disk that can crash, tear and rot. The
// contracts (errors, durability before a put resolves) are BlockStore's, documented there.

import type { Piece } from '../core/extent-patch.js';
import type { BlockCursor, BlockData, BlockListPage, BlockStat, BlockStoreUsage, CorruptResult, ExtentData } from './block-store.js';

export interface DataStore {
  /** Stores (key, version) durably before resolving; CORRUPT if the bytes do not match checksum. */
  put(key: string, version: number, checksum: string, data: Uint8Array): Promise<void>;
  /** The verified bytes of (key, version or highest); NOT_FOUND, CORRUPT. */
  get(key: string, version?: number): Promise<BlockData>;
  /** The checked table of (key, version) and the checked bytes of some extents (none unless
   * withData); INVALID for a block without a table, NOT_FOUND, CORRUPT. */
  getExtents(key: string, version: number, extents: readonly number[], withData: boolean): Promise<ExtentData>;
  /** Stores (key, version) as the base version with pieces of the payload laid over it, durably
   * before resolving; NOT_FOUND without the base, CORRUPT if it or the result is bad. */
  patch(key: string, baseVersion: number, version: number, checksum: string, pieces: readonly Piece[], payload: Uint8Array): Promise<void>;
  stat(key: string, version?: number): Promise<BlockStat>;
  /** Removes a version (or all); absent is not an error. */
  delete(key: string, version?: number): Promise<number>;
  deleteOlderThan(key: string, version: number): Promise<number>;
  /** One page of the blocks held, in storage order, after the cursor. */
  listPage(after: BlockCursor | undefined, maxEntries: number, budgetBytes: number): BlockListPage;
  /** Which of these committed blocks are lacking here, and which keys hold older versions. */
  have(blocks: ReadonlyArray<{ key: string; version: number; checksum: string }>): { lacking: number[]; older: number[] };
  usage(): Promise<BlockStoreUsage>;
  /** The blocks and bytes held now, from memory (usage() adds the file system's figures). */
  held(): { blocks: number; bytes: number };
  /** Fault injection: garbles the stored bytes, keeping the recorded checksum. */
  corrupt(key: string, version?: number): Promise<CorruptResult>;
}
