// What a data server needs from its store, as an interface: BlockStore keeps blocks in files on
// a real disk; a simulation keeps them on a simulated disk that can crash, tear and rot. The
// contracts (errors, durability before a put resolves) are BlockStore's, documented there.

import type { BlockCursor, BlockData, BlockListPage, BlockStat, BlockStoreUsage, CorruptResult } from './block-store.js';

export interface DataStore {
  /** Stores (key, version) durably before resolving; CORRUPT if the bytes do not match checksum. */
  put(key: string, version: number, checksum: string, data: Uint8Array): Promise<void>;
  /** The verified bytes of (key, version or highest); NOT_FOUND, CORRUPT. */
  get(key: string, version?: number): Promise<BlockData>;
  stat(key: string, version?: number): Promise<BlockStat>;
  /** Removes a version (or all); absent is not an error. */
  delete(key: string, version?: number): Promise<number>;
  deleteOlderThan(key: string, version: number): Promise<number>;
  /** One page of the blocks held, in storage order, after the cursor. */
  listPage(after: BlockCursor | undefined, maxEntries: number, budgetBytes: number): BlockListPage;
  /** Which of these committed blocks are lacking here, and which keys hold older versions. */
  have(blocks: ReadonlyArray<{ key: string; version: number; checksum: string }>): { lacking: number[]; older: number[] };
  usage(): Promise<BlockStoreUsage>;
  /** Fault injection: garbles the stored bytes, keeping the recorded checksum. */
  corrupt(key: string, version?: number): Promise<CorruptResult>;
}
