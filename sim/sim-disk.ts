// A data server's disk, simulated: the DataStore contract of BlockStore over memory and virtual
// time, with the faults a real disk has. A put is durable once it resolves (BlockStore fsyncs
// before it acknowledges); a crash during a put leaves no block (temp file, then rename). A
// delete is not fsynced, so a crash may undo it (an orphan comes back). The disk may fail a
// write (EIO), tear one it acknowledged (the bytes at rest are not the bytes written: found
// CORRUPT on the next read) and rot blocks at rest. Ground truth for the checker: goodCopy().

import { checksumLike, checksumOf, extentCount, extentOf, extentTable, isLegacyChecksum, rootOf } from '../src/common/checksum.js';
import { patchExtents, patchedBlock, pieceProblem, type Piece } from '../src/core/extent-patch.js';
import { qfsError } from '../src/common/errors.js';
import { limits } from '../src/common/limits.js';
import type { Random } from '../src/common/random.js';
import { listEntryBudgetBytes, type BlockCursor, type BlockData, type BlockListPage, type BlockStat, type BlockStoreUsage, type CorruptResult, type ExtentData } from '../src/stores/block-store.js';
import type { DataStore } from '../src/stores/data-store.js';
import type { VirtualClock } from './virtual-clock.js';

export interface DiskFaults {
  /** A put fails (EIO), nothing stored. */
  failWrite: number;
  /** A put is acknowledged but the bytes at rest differ (a torn or misdirected write). */
  tearWrite: number;
  /** A disk operation takes 0..maxLatencyMs. */
  maxLatencyMs: number;
}

export const perfectDisk: DiskFaults = { failWrite: 0, tearWrite: 0, maxLatencyMs: 0 };

interface Stored {
  checksum: string;
  data: Buffer;
  /** The bytes still match the checksum (false after a tear or rot). */
  intact: boolean;
}

export class SimDisk implements DataStore {
  faults: DiskFaults = perfectDisk;
  private readonly blocks = new Map<string, Map<number, Stored>>();
  private unsyncedDeletes: Array<{ key: string; version: number; block: Stored }> = [];
  private epoch = 0;
  private bytes = 0;
  /** The listing order, built on demand and dropped by every change. */
  private sorted: Array<{ key: string; version: number; block: Stored }> | undefined;
  readonly stats = { failedWrites: 0, tornWrites: 0, rotted: 0, undoneDeletes: 0 };

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: Random,
    private readonly capacityBytes: number,
  ) {}

  async put(key: string, version: number, checksum: string, data: Uint8Array): Promise<void> {
    const epoch = this.epoch;
    await this.latency();
    if (epoch !== this.epoch) throw qfsError('UNAVAILABLE', `put ${key}@${version}: the server crashed`);
    const actual = checksumLike(data, checksum);
    if (actual !== checksum) throw qfsError('CORRUPT', `put ${key}@${version}: the bytes that arrived have checksum ${actual}, not ${checksum}`);
    await this.store(key, version, checksum, data);
  }

  async patch(key: string, baseVersion: number, version: number, checksum: string, pieces: readonly Piece[], payload: Uint8Array): Promise<void> {
    const epoch = this.epoch;
    await this.latency();
    if (epoch !== this.epoch) throw qfsError('UNAVAILABLE', `patch ${key}@${version}: the server crashed`);
    const problem = pieceProblem(pieces, payload.length, limits.maxPayloadBytes);
    if (problem !== undefined) throw qfsError('INVALID', `patch ${key}@${version}: ${problem}`);
    const [, base] = this.find(key, baseVersion, 'patch');
    // Simulated rot garbles a whole block: any read of it, in part or whole, finds it.
    if (!base.intact) throw qfsError('CORRUPT', `patch ${key}@${version}: base version ${baseVersion} does not match its checksum`);
    if (isLegacyChecksum(base.checksum)) throw qfsError('INVALID', `patch ${key}@${version}: the base has no extent table`);
    const table = extentTable(base.data);
    const result = patchExtents({ lengthBytes: base.data.length, table, extent: (i) => extentOf(base.data, i) }, pieces, payload);
    if (rootOf(result.table) !== checksum) throw qfsError('CORRUPT', `patch ${key}@${version}: the patched block has another checksum than ${checksum}`);
    await this.store(key, version, checksum, patchedBlock(base.data, result));
  }

  async getExtents(key: string, version: number, extents: readonly number[], withData: boolean): Promise<ExtentData> {
    await this.latency();
    const [v, block] = this.find(key, version, 'getExtents');
    if (isLegacyChecksum(block.checksum)) throw qfsError('INVALID', `getExtents ${key}@${v}: the block has no extent table`);
    if (extents.some((i) => i >= extentCount(block.data.length))) throw qfsError('INVALID', `getExtents ${key}@${v}: no such extent`);
    if (!block.intact) throw qfsError('CORRUPT', `getExtents ${key}@${v}: bytes do not match the checksum`);
    const data = withData ? Buffer.concat(extents.map((i) => extentOf(block.data, i))) : Buffer.alloc(0);
    return { version: v, checksum: block.checksum, sizeBytes: block.data.length, table: extentTable(block.data), data };
  }

  /** The durable part of a put or patch: it may fail, tear, or find the disk full. */
  private async store(key: string, version: number, checksum: string, data: Uint8Array): Promise<void> {
    if (this.random() < this.faults.failWrite) {
      this.stats.failedWrites++;
      throw qfsError('INTERNAL', `put ${key}@${version}: EIO (simulated)`);
    }
    const old = this.blocks.get(key)?.get(version);
    if (this.bytes - (old?.data.length ?? 0) + data.length > this.capacityBytes) throw qfsError('NO_SPACE', `put ${key}@${version}: disk full`);
    const stored: Stored = { checksum, data: Buffer.from(data), intact: true };
    if (this.random() < this.faults.tearWrite && stored.data.length > 0) {
      this.garble(stored);
      this.stats.tornWrites++;
    }
    this.set(key, version, stored);
  }

  async get(key: string, version?: number): Promise<BlockData> {
    await this.latency();
    const [v, block] = this.find(key, version, 'get');
    if (!block.intact) throw qfsError('CORRUPT', `get ${key}@${v}: bytes do not match the checksum`);
    return { version: v, checksum: block.checksum, data: Buffer.from(block.data) };
  }

  async stat(key: string, version?: number): Promise<BlockStat> {
    const [v, block] = this.find(key, version, 'stat');
    return { key, version: v, checksum: block.checksum, sizeBytes: block.data.length };
  }

  async delete(key: string, version?: number): Promise<number> {
    await this.latency();
    const held = [...(this.blocks.get(key)?.keys() ?? [])];
    return this.remove(key, version === undefined ? held : held.filter((v) => v === version));
  }

  async deleteOlderThan(key: string, version: number): Promise<number> {
    await this.latency();
    return this.remove(key, [...(this.blocks.get(key)?.keys() ?? [])].filter((v) => v < version));
  }

  listPage(after: BlockCursor | undefined, maxEntries: number, budgetBytes: number): BlockListPage {
    const all = this.sortedEntries();
    // The first entry after the cursor, by binary search: a listing of n blocks costs one sort.
    let lo = 0;
    let hi = all.length;
    while (after !== undefined && lo < hi) {
      const mid = (lo + hi) >> 1;
      const e = all[mid]!;
      if (e.key < after.key || (e.key === after.key && e.version <= after.version)) lo = mid + 1;
      else hi = mid;
    }
    // A page ends at maxEntries or at the byte budget, counted as BlockStore counts it.
    let end = lo;
    let usedBytes = 0;
    while (end < all.length && end - lo < maxEntries) {
      const cost = listEntryBudgetBytes(all[end]!.key);
      if (end > lo && usedBytes + cost > budgetBytes) break;
      usedBytes += cost;
      end++;
    }
    const entries = all.slice(lo, end).map((e) => ({ key: e.key, version: e.version, sizeBytes: e.block.data.length, checksum: e.block.checksum, damaged: false }));
    const last = entries[entries.length - 1];
    return { entries, next: end < all.length && last ? { key: last.key, version: last.version } : undefined };
  }

  /** Every stored block in storage order (key, then version); kept until the next change. */
  private sortedEntries(): Array<{ key: string; version: number; block: Stored }> {
    if (!this.sorted) {
      const all: Array<{ key: string; version: number; block: Stored }> = [];
      for (const [key, versions] of this.blocks) for (const [version, block] of versions) all.push({ key, version, block });
      all.sort((a, b) => (a.key !== b.key ? (a.key < b.key ? -1 : 1) : a.version - b.version));
      this.sorted = all;
    }
    return this.sorted;
  }

  have(blocks: ReadonlyArray<{ key: string; version: number; checksum: string }>): { lacking: number[]; older: number[] } {
    const lacking: number[] = [];
    const older: number[] = [];
    blocks.forEach((b, i) => {
      const versions = this.blocks.get(b.key);
      if (versions?.get(b.version)?.checksum !== b.checksum) lacking.push(i);
      if ([...(versions?.keys() ?? [])].some((v) => v < b.version)) older.push(i);
    });
    return { lacking, older };
  }

  held(): { blocks: number; bytes: number } {
    let blocks = 0;
    for (const versions of this.blocks.values()) blocks += versions.size;
    return { blocks, bytes: this.bytes };
  }

  async usage(): Promise<BlockStoreUsage> {
    return { ...this.held(), freeBytes: this.capacityBytes - this.bytes, totalBytes: this.capacityBytes };
  }

  async corrupt(key: string, version?: number): Promise<CorruptResult> {
    const [v, block] = this.find(key, version, 'corrupt');
    const before = side(block);
    this.garble(block);
    return { key, version: v, before, after: side(block) };
  }

  // ---- faults and ground truth ----

  /** The process died: puts in flight are lost, and deletes not yet written back may be undone. */
  crash(): void {
    this.epoch++;
    for (const d of this.unsyncedDeletes) {
      if (this.random() < 0.5 && !this.blocks.get(d.key)?.has(d.version)) {
        this.set(d.key, d.version, d.block);
        this.stats.undoneDeletes++;
      }
    }
    this.unsyncedDeletes = [];
  }

  /** The kernel wrote back what was pending (deletes are durable from here). */
  writeBack(): void {
    this.unsyncedDeletes = [];
  }

  /** Bit rot: one stored block, chosen at random, no longer matches its checksum. */
  rot(): string | undefined {
    const all: Array<[string, number, Stored]> = [];
    for (const [key, versions] of this.blocks) for (const [version, block] of versions) if (block.intact && block.data.length > 0) all.push([key, version, block]);
    if (all.length === 0) return undefined;
    const [key, version, block] = all[Math.floor(this.random() * all.length)]!;
    this.garble(block);
    this.stats.rotted++;
    return `${key}@${version}`;
  }

  /** Whether this disk holds (key, version) with bytes matching `checksum`. */
  goodCopy(key: string, version: number, checksum: string): boolean {
    const block = this.blocks.get(key)?.get(version);
    return block !== undefined && block.intact && block.checksum === checksum;
  }

  private set(key: string, version: number, block: Stored): void {
    let versions = this.blocks.get(key);
    if (!versions) this.blocks.set(key, (versions = new Map()));
    this.sorted = undefined;
    this.bytes += block.data.length - (versions.get(version)?.data.length ?? 0);
    versions.set(version, block);
  }

  private remove(key: string, versions: number[]): number {
    const held = this.blocks.get(key);
    let removed = 0;
    for (const v of versions) {
      const block = held?.get(v);
      if (!held || !block) continue;
      held.delete(v);
      this.sorted = undefined;
      this.bytes -= block.data.length;
      this.unsyncedDeletes.push({ key, version: v, block });
      removed++;
    }
    if (held && held.size === 0) this.blocks.delete(key);
    return removed;
  }

  private find(key: string, version: number | undefined, op: string): [number, Stored] {
    const versions = this.blocks.get(key);
    const v = version ?? (versions ? Math.max(...versions.keys()) : undefined);
    const block = v === undefined ? undefined : versions?.get(v);
    if (v === undefined || !block) throw qfsError('NOT_FOUND', `${op} ${key}${version === undefined ? '' : `@${version}`}: no such block`);
    return [v, block];
  }

  private garble(block: Stored): void {
    const data = block.data.length === 0 ? Buffer.from([0]) : Buffer.from(block.data);
    const i = Math.floor(this.random() * data.length);
    data[i] = data[i]! ^ 0xff;
    block.data = data;
    block.intact = false;
  }

  private latency(): Promise<void> {
    const ms = Math.floor(this.random() * (this.faults.maxLatencyMs + 1));
    return ms === 0 ? Promise.resolve() : this.clock.sleep(ms);
  }
}

function side(block: Stored): CorruptResult['before'] {
  return { checksum: checksumOf(block.data), sizeBytes: block.data.length, preview: block.data.subarray(0, 16).toString('hex') };
}
