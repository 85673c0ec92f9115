// BlockStore: a data server's blocks on its own directory, one file per (key, version), in the
// format of block-file-format.ts. Invariants: a block file only ever appears whole (temp file,
// fsync, rename, directory fsync), so a crash leaves no block or the whole block, never a torn one;
// bytes are checked against their checksum before they are written and after they are read, and
// bad bytes are reported as CORRUPT, never returned; the in-memory index mirrors the directory
// (rebuilt at open, changed together with the files under a per-key lock).

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, statfs, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

import { KeyedMutex } from '../common/async.js';
import {
  EXTENT_BYTES,
  checksumLike,
  checksumOf,
  extentCount,
  extentHash,
  extentTable,
  isChecksum,
  isLegacyChecksum,
  rootOf,
  tableEntry,
} from '../common/checksum.js';
import { baseExtentsRead, patchExtents, patchedBlock, pieceProblem, type Piece } from '../core/extent-patch.js';
import { QfsError, messageOf, qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import {
  MAX_HEADER_BYTES,
  STORE_LAYOUT_VERSION,
  STORE_MARKER_NAME,
  TEMP_FILE_SUFFIX,
  blockFileName,
  decodeHeader,
  encodeDeltaIndexes,
  decodeStoreMarker,
  encodeHeader,
  encodeStoreMarker,
  isBlockKey,
  isBlockVersion,
  isSubdirName,
  parseBlockFileName,
  retainedFileName,
  subdirOf,
  type DeltaInfo,
} from './block-file-format.js';
import { fileIoFor, threadPoolIo, type FileIo } from './block-file-io.js';
import type { DataStore } from './data-store.js';

export interface BlockStoreOptions {
  /** fsync files and directories before acknowledging (default true). false only for tests and
   * simulations: a process crash is still safe (rename is atomic), a power loss is not. */
  durable?: boolean;
  /** Header reads in flight while the directory is scanned at open (default 32). */
  scanConcurrency?: number;
}

export interface BlockData {
  version: number;
  /** The checksum recorded in the block file; `data` has been verified against it. */
  checksum: string;
  /** A fresh buffer the caller owns. */
  data: Buffer;
}

/** Part of a block: its table and the verified bytes of some of its extents. */
export interface ExtentData {
  version: number;
  checksum: string;
  sizeBytes: number;
  /** The block's whole extent table, checked against `checksum`. */
  table: Buffer;
  /** The extents asked for, in the order asked, concatenated (empty when only verified). */
  data: Buffer;
}

export interface BlockStat {
  key: string;
  version: number;
  checksum: string;
  sizeBytes: number;
}

export interface BlockListEntry extends BlockStat {
  /** The file was found unusable at open (see damaged()); get and stat throw CORRUPT for it. */
  damaged: boolean;
}

export interface BlockCursor {
  key: string;
  version: number;
}

export interface BlockListPage {
  entries: BlockListEntry[];
  next: BlockCursor | undefined;
}

export interface DamagedBlock {
  key: string;
  version: number;
  reason: string;
}

export interface CorruptSide {
  checksum: string;
  sizeBytes: number;
  /** The first 16 bytes, in hex. */
  preview: string;
}

export interface CorruptResult {
  key: string;
  version: number;
  before: CorruptSide;
  after: CorruptSide;
}

export interface BlockStoreUsage {
  blocks: number;
  /** Data bytes held (headers not counted). */
  bytes: number;
  /** Bytes an unprivileged writer may still use on the store's file system. */
  freeBytes: number;
  totalBytes: number;
}

/** What open found. Damaged blocks stay indexed (so they can be listed, repaired or deleted). */
export interface OpenReport {
  tempFilesRemoved: number;
  damaged: DamagedBlock[];
  /** Files the store does not own (bad name, wrong subdirectory, not a file): left untouched. */
  ignored: Array<{ path: string; reason: string }>;
}

interface IndexEntry {
  /** Data bytes recorded in the header; the file size if the header did not parse. */
  sizeBytes: number;
  /** Recorded checksum; null only when the header did not parse. */
  checksum: string | null;
  /** Why the file cannot be served; null when its header is sound. */
  damage: string | null;
}

const PREVIEW_BYTES = 16;
/** Made by mkfs at the root of a file system; a store may own a whole one. */
const LOST_AND_FOUND = 'lost+found';
const MAX_FILE_BYTES = MAX_HEADER_BYTES + limits.maxPayloadBytes;

export class BlockStore implements DataStore {
  private readonly index = new BlockIndex();
  /** Deltas (format 3), live or retained, by blockId: the version each is based on. */
  private readonly deltaBases = new Map<string, number>();
  /** By blockId: how many deltas are based on the version. */
  private readonly dependents = new Map<string, number>();
  /** Versions deleted while a delta was based on them, kept as `.rtn` files: blockId → bytes. */
  private readonly retained = new Map<string, number>();
  /** Per key: the steps that change files and index together (rename, unlink, corrupt). */
  private readonly locks = new KeyedMutex<string>();
  private readonly syncers = new Map<string, DirSyncer>();
  /** Subdirectories kept open (at most 256 fds) so a directory fsync costs one call, not three. */
  private readonly dirHandles = new Map<string, Promise<FileHandle>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Calls begun and not settled, counted from before their first step (see ioFor). */
  private callsInFlight = 0;
  private report: OpenReport = { tempFilesRemoved: 0, damaged: [], ignored: [] };
  private tempCounter = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    private readonly durable: boolean,
  ) {}

  /**
   * Opens (creating if needed) the store in `dir`: removes temp files left by a crash and builds
   * the index from every block file's header. Damaged files are reported, never fatal.
   * Errors: INVALID if `dir` holds something other than a block store of this layout version.
   */
  static async open(dir: string, options: BlockStoreOptions = {}): Promise<BlockStore> {
    const durable = options.durable ?? true;
    await prepareDirectory(dir, durable);
    const store = new BlockStore(dir, durable);
    store.report = await store.scan(options.scanConcurrency ?? 32);
    return store;
  }

  get openReport(): OpenReport {
    return this.report;
  }

  /**
   * Stores `data` as (key, version), durably before resolving. `data` is only read, and must not
   * change until the promise settles. Replaces whatever (key, version) held: the same checksum
   * makes it idempotent, and it is how a bad replica is repaired.
   * Errors: INVALID (key, version, checksum syntax, data over limits.maxPayloadBytes), CORRUPT
   * (checksumOf(data) !== checksum: nothing is stored), NO_SPACE, UNAVAILABLE (closed).
   */
  put(key: string, version: number, checksum: string, data: Uint8Array): Promise<void> {
    return this.track(async () => {
      const op = `put ${describeBlock(key, version)}`;
      assertKey(key, op);
      assertVersion(version, op);
      assertPayload(checksum, data, op);
      if (isLegacyChecksum(checksum)) {
        // The hash runs on this thread while the thread pool writes the temp file (or after an
        // inline write); a mismatch discards the temp file, so bad bytes never become a block.
        await this.store(key, version, checksum, [data], data.length, op, () => {
          const actual = checksumLike(data, checksum);
          if (actual !== checksum) throw qfsError('CORRUPT', `${op}: the bytes that arrived have checksum ${actual}, not ${checksum}`);
        });
        return;
      }
      // The table is written before the data, so it is computed first.
      const table = extentTable(data);
      const actual = rootOf(table);
      if (actual !== checksum) throw qfsError('CORRUPT', `${op}: the bytes that arrived have checksum ${actual}, not ${checksum}`);
      await this.store(key, version, checksum, [table, data], data.length, op);
    });
  }

  /**
   * Stores as (key, version) the base version with the pieces of `payload` laid over it (see
   * core/extent-patch.ts), durably before resolving, as put does. The extents the patch changes
   * are checked against the base's table before their bytes are reused, and the result must
   * have `checksum`. Errors: INVALID (arguments; a format-1 base or checksum), NOT_FOUND (no
   * base), CORRUPT (the base is bad, or the result has another checksum: nothing is stored),
   * NO_SPACE, UNAVAILABLE (closed).
   */
  patch(key: string, baseVersion: number, version: number, checksum: string, pieces: readonly Piece[], payload: Uint8Array): Promise<void> {
    return this.track(async () => {
      const op = `patch ${describeBlock(key, version)}`;
      assertKey(key, op);
      assertVersion(version, op);
      assertPayload(checksum, payload, op);
      if (isLegacyChecksum(checksum)) throw qfsError('INVALID', `${op}: a patch makes a block with an extent table (xsha256), not ${checksum}`);
      const problem = pieceProblem(pieces, payload.length, limits.maxPayloadBytes);
      if (problem !== undefined) throw qfsError('INVALID', `${op}: ${problem}`);
      const v = this.resolveSound(key, baseVersion, 'patch');
      // Pinned at once (no await since it was found): a delete of the base from now on keeps it
      // for the delta this may become. The pin becomes the delta's link, or is let go.
      this.pin(key, v);
      let linked = false;
      try {
        linked = await this.patchFrom(key, v, version, checksum, pieces, payload, op);
      } finally {
        if (!linked) await this.locks.run(key, () => this.releaseBase(key, v, op));
      }
    });
  }

  /** patch, from a pinned base; true if the result is a delta of it (the pin is its link). */
  private async patchFrom(key: string, v: number, version: number, checksum: string, pieces: readonly Piece[], payload: Uint8Array, op: string): Promise<boolean> {
    const entry = this.index.get(key, v);
    const baseBytes = entry?.sizeBytes ?? 0;
    if (isLegacyChecksum(entry?.checksum ?? '')) {
      throw qfsError('INVALID', `${op}: version ${v} has no extent table (format 1); write the block whole`);
    }
    // Only the extents the patch changes are read (and checked against the base's table).
    const base = await this.checkedExtents(key, v, baseExtentsRead(baseBytes, pieces), `${op} from version ${v}`);
    const result = patchExtents({ lengthBytes: baseBytes, table: base.table, extent: (i) => base.found.get(i)! }, pieces, payload);
    const actual = rootOf(result.table);
    if (actual !== checksum) throw qfsError('CORRUPT', `${op}: the patched block has checksum ${actual}, not ${checksum}`);
    // A delta holds the changed extents only, while the chain stays short and the change small;
    // else the block is written whole.
    const indexes = [...result.extents.keys()].sort((a, b) => a - b);
    if (this.chainLength(key, v) < limits.maxDeltaChain && indexes.length * 2 <= extentCount(result.lengthBytes)) {
      const delta = { baseVersion: v, indexes };
      const body = [result.table, encodeDeltaIndexes(indexes), ...indexes.map((i) => result.extents.get(i)!)];
      await this.store(key, version, checksum, body, result.lengthBytes, op, undefined, delta);
      return true;
    }
    // Written whole: the other extents come from the base as stored (a bad one keeps its recorded
    // hash in the new table, so it is found on read, never laundered).
    const data = patchedBlock((await this.loadVersion(key, v, `${op} from version ${v}`)).data, result);
    await this.store(key, version, checksum, [result.table, data], data.length, op);
    return false;
  }

  /** One more delta (or patch under way) needs (key, version). */
  private pin(key: string, version: number): void {
    const id = blockId(key, version);
    this.dependents.set(id, (this.dependents.get(id) ?? 0) + 1);
  }

  /** How many deltas lead from (key, version) to a whole block. */
  private chainLength(key: string, version: number): number {
    let length = 0;
    for (let v = this.deltaBases.get(blockId(key, version)); v !== undefined; v = this.deltaBases.get(blockId(key, v))) length++;
    return length;
  }

  /** Writes a block file (header, then `body`: the table and data, the data, or a delta's table,
   * indexes and extents) and indexes it, in place of any file the version had. */
  private async store(
    key: string,
    version: number,
    checksum: string,
    body: Uint8Array[],
    dataBytes: number,
    op: string,
    check: () => void = () => {},
    delta?: DeltaInfo,
  ): Promise<void> {
    const header = encodeHeader({ key, version, checksum, dataLengthBytes: dataBytes, delta });
    const finalPath = this.blockPath(key, version);
    const io = this.ioFor(dataBytes);
    const tempPath = await this.writeTemp(io, finalPath, [header, ...body], op, check);
    await this.locks.run(key, async () => {
      await renameOrDiscard(io, tempPath, finalPath, op);
      this.index.set(key, version, { sizeBytes: dataBytes, checksum, damage: null });
      const id = blockId(key, version);
      const before = this.deltaBases.get(id);
      this.deltaBases.delete(id);
      if (delta) this.deltaBases.set(id, delta.baseVersion); // the patch pinned the base
      // A deleted version put again (a repair racing a delete) is live again: one file is enough.
      if (this.retained.delete(id)) await unlinkIfPresent(this.retainedPath(key, version), op);
      if (before !== undefined) await this.releaseBase(key, before, op);
    });
    await this.syncDir(subdirOf(key), op);
  }

  private linkDelta(key: string, version: number, baseVersion: number): void {
    this.deltaBases.set(blockId(key, version), baseVersion);
    this.pin(key, baseVersion);
  }

  /** One delta fewer is based on (key, version): a retained version no delta needs any more is
   * removed, and so, in turn, is what it was based on. Under the key's lock. */
  private async releaseBase(key: string, version: number, op: string): Promise<void> {
    for (let v: number | undefined = version; v !== undefined; ) {
      const id = blockId(key, v);
      const left = (this.dependents.get(id) ?? 1) - 1;
      if (left > 0) {
        this.dependents.set(id, left);
        return;
      }
      this.dependents.delete(id);
      if (!this.retained.delete(id)) return;
      await unlinkIfPresent(this.retainedPath(key, v), op);
      const base = this.deltaBases.get(id);
      this.deltaBases.delete(id);
      v = base;
    }
  }

  /**
   * Reads version `version` of `key`, or its highest held version if omitted, verified against
   * its checksum. Errors: INVALID, NOT_FOUND, CORRUPT (bytes or header do not match; the message
   * names key and version), UNAVAILABLE (closed).
   */
  get(key: string, version?: number): Promise<BlockData> {
    return this.track(async () => {
      const v = this.resolveSound(key, version, 'get');
      return this.readBlock(key, v);
    });
  }

  /**
   * The extent table of (key, version), checked against its checksum, and the extents asked for
   * (indexes in increasing order), each checked against the table; with `withData` false they
   * are only checked. Errors: INVALID (arguments; a format-1 block has no table), NOT_FOUND,
   * CORRUPT, UNAVAILABLE (closed).
   */
  getExtents(key: string, version: number, extents: readonly number[], withData: boolean): Promise<ExtentData> {
    return this.track(async () => {
      const v = this.resolveSound(key, version, 'getExtents');
      const op = `getExtents ${describeBlock(key, v)}`;
      const entry = this.index.get(key, v);
      if (entry?.checksum == null) throw qfsError('INTERNAL', `${op}: index lost the entry`);
      if (isLegacyChecksum(entry.checksum)) throw qfsError('INVALID', `${op}: the block has no extent table (format 1)`);
      const count = extentCount(entry.sizeBytes);
      if (extents.some((i, at) => !Number.isSafeInteger(i) || i < 0 || i >= count || (at > 0 && i <= extents[at - 1]!))) {
        throw qfsError('INVALID', `${op}: extents must be increasing indexes below ${count}`);
      }
      const { checksum, table, found } = await this.checkedExtents(key, v, extents, op);
      return { version: v, checksum, sizeBytes: entry.sizeBytes, table, data: withData ? Buffer.concat(extents.map((i) => found.get(i)!)) : Buffer.alloc(0) };
    });
  }

  /** The table of a version (formats 2 and 3), checked against its checksum, and the extents
   * asked for, each checked against the table. */
  private async checkedExtents(key: string, version: number, extents: readonly number[], op: string): Promise<{ checksum: string; table: Buffer; found: Map<number, Buffer> }> {
    const { checksum, table, sizeBytes, found } = await this.readExtents(key, version, extents, op);
    if (rootOf(table) !== checksum) throw qfsError('CORRUPT', `${op}: the extent table does not match the checksum`);
    for (const i of extents) {
      const extent = found.get(i);
      if (extent?.length !== Math.min(EXTENT_BYTES, sizeBytes - i * EXTENT_BYTES) || !extentHash(extent).equals(tableEntry(table, i))) {
        throw qfsError('CORRUPT', `${op}: extent ${i} does not match its table`);
      }
    }
    return { checksum, table, found };
  }

  /** The checksum, table and length of a version and the bytes of some of its extents, not yet
   * checked: from the version's file and, for a delta, down its chain, each file read only for
   * its header and the extents it holds that are still wanted. */
  private async readExtents(
    key: string,
    version: number,
    extents: readonly number[],
    op: string,
  ): Promise<{ checksum: string; table: Buffer; sizeBytes: number; found: Map<number, Buffer> }> {
    const wanted = new Set(extents);
    const found = new Map<number, Buffer>();
    let top: { checksum: string; table: Buffer; sizeBytes: number } | undefined;
    for (let v: number | undefined = version, depth = 0; v !== undefined; depth++) {
      if (depth > limits.maxDeltaChain) throw qfsError('CORRUPT', `${op}: a chain of deltas longer than ${limits.maxDeltaChain}`);
      const retained = this.retained.has(blockId(key, v));
      const filePath = retained ? this.retainedPath(key, v) : this.blockPath(key, v);
      const io = this.ioFor(EXTENT_BYTES);
      let fd: number;
      try {
        fd = await io.open(filePath, 'r');
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw ioError(op, err);
        if (depth > 0) throw qfsError('CORRUPT', `${op}: version ${v}, a delta's base, is missing`);
        throw qfsError('NOT_FOUND', `${op}: no such block`);
      }
      try {
        const fileBytes = await io.sizeOf(fd);
        const decoded = decodeHeader(await readAt(io, fd, Math.min(fileBytes, MAX_HEADER_BYTES), 0));
        if (!decoded.ok) throw qfsError('CORRUPT', `${op}: version ${v}: ${decoded.reason}`);
        const { header, dataOffset, table } = decoded;
        if (header.key !== key || header.version !== v || fileBytes - dataOffset !== storedBytesOf(header.dataLengthBytes, header.delta)) {
          throw qfsError('CORRUPT', `${op}: the file of version ${v} does not match its header`);
        }
        if (table === undefined) {
          if (depth === 0) throw qfsError('INVALID', `${op}: the block has no extent table (format 1)`);
          throw qfsError('CORRUPT', `${op}: version ${v}, a delta's base, has no extent table`);
        }
        top ??= { checksum: header.checksum, table: Buffer.from(table), sizeBytes: header.dataLengthBytes };
        const lengthOf = (i: number): number => Math.max(0, Math.min(EXTENT_BYTES, header.dataLengthBytes - i * EXTENT_BYTES));
        const { delta } = header;
        if (delta) {
          let at = dataOffset;
          for (const i of delta.indexes) {
            if (wanted.delete(i)) found.set(i, await readAt(io, fd, lengthOf(i), at));
            at += lengthOf(i);
          }
        } else {
          for (const i of wanted) found.set(i, await readAt(io, fd, lengthOf(i), dataOffset + i * EXTENT_BYTES));
          wanted.clear();
        }
        v = wanted.size > 0 ? delta?.baseVersion : undefined;
      } catch (err) {
        throw ioError(op, err);
      } finally {
        await io.close(fd);
      }
    }
    return { ...top!, found };
  }

  /** Version, checksum and size from the index, without reading data. Errors as get. */
  stat(key: string, version?: number): Promise<BlockStat> {
    return this.track(async () => {
      const v = this.resolveSound(key, version, 'stat');
      const entry = this.index.get(key, v);
      if (entry === undefined || entry.checksum === null) {
        throw qfsError('INTERNAL', `stat ${describeBlock(key, v)}: index lost the entry`);
      }
      return { key, version: v, checksum: entry.checksum, sizeBytes: entry.sizeBytes };
    });
  }

  /**
   * Removes `version` of `key`, or every version if omitted; returns how many files were removed.
   * Absent blocks count 0 and are not an error, so the mediator may retry. Errors: INVALID.
   * Removals are not fsynced: one that a power loss undoes leaves a version no block map names,
   * which nothing reads and the scrubber removes again; skipping the directory fsync keeps
   * garbage collection from competing with puts for the disk.
   */
  delete(key: string, version?: number): Promise<number> {
    return this.track(async () => {
      const op = `delete ${describeBlock(key, version)}`;
      assertKey(key, op);
      if (version !== undefined) assertVersion(version, op);
      return this.removeVersions(key, (held) => (version === undefined ? held : [version]), op);
    });
  }

  /** Removes the versions of `key` below `version` (garbage collection); returns the count. */
  deleteOlderThan(key: string, version: number): Promise<number> {
    return this.track(async () => {
      const op = `deleteOlderThan ${describeBlock(key, version)}`;
      assertKey(key, op);
      assertVersion(version, op);
      return this.removeVersions(key, (held) => held.filter((v) => v < version), op);
    });
  }

  /**
   * One page of the blocks whose header names a checksum, in storage order (subdirectory, then
   * key, then version), after `after` (from the start without it). The page ends once its
   * entries' estimated encoded size reaches `budgetBytes` or it holds `maxEntries`; `next` is
   * the cursor of the following page, undefined at the end. Costs one subdirectory's sort per
   * page, never a sort of the whole index. A file whose header does not parse has no checksum
   * to show: it is only in damaged(). Errors: UNAVAILABLE (closed).
   */
  listPage(after: BlockCursor | undefined, maxEntries: number, budgetBytes: number): BlockListPage {
    this.assertOpen();
    return this.index.page(after, maxEntries, budgetBytes);
  }

  /**
   * For each committed block asked about: whether this store lacks it (no such version, damaged
   * at open, or another checksum) and whether it also holds older versions of its key. From
   * the index only: no file is read.
   */
  have(blocks: ReadonlyArray<{ key: string; version: number; checksum: string }>): { lacking: number[]; older: number[] } {
    this.assertOpen();
    const lacking: number[] = [];
    const older: number[] = [];
    blocks.forEach((b, i) => {
      const entry = this.index.get(b.key, b.version);
      if (entry === undefined || entry.damage !== null || entry.checksum !== b.checksum) lacking.push(i);
      if (this.index.hasOlder(b.key, b.version)) older.push(i);
    });
    return { lacking, older };
  }

  /** Blocks found unusable at open and neither replaced by a put nor deleted since. */
  damaged(): DamagedBlock[] {
    this.assertOpen();
    return this.index.damaged();
  }

  /** Blocks and data bytes held, and the file system's space. Errors: UNAVAILABLE (closed). */
  held(): { blocks: number; bytes: number } {
    return { blocks: this.index.blocks, bytes: this.index.bytes };
  }

  usage(): Promise<BlockStoreUsage> {
    return this.track(async () => {
      const fsStats = await statfs(this.dir).catch((err: unknown) => {
        throw ioError('usage', err);
      });
      return {
        blocks: this.index.blocks,
        bytes: this.index.bytes,
        freeBytes: fsStats.bavail * fsStats.bsize,
        totalBytes: fsStats.blocks * fsStats.bsize,
      };
    });
  }

  /**
   * Fault injection: overwrites the stored data of (key, version or highest) with random bytes of
   * the same length (one byte for an empty block), keeping the recorded checksum, so the next get
   * throws CORRUPT. The caller (the data server) decides whether fault injection is allowed.
   * Errors: INVALID, NOT_FOUND, CORRUPT (already damaged at open), NO_SPACE.
   */
  corrupt(key: string, version?: number): Promise<CorruptResult> {
    return this.track(async () => {
      return this.locks.run(key, async () => {
        const v = this.resolveSound(key, version, 'corrupt');
        return this.overwriteWithGarbage(key, v);
      });
    });
  }

  /** Waits for calls in flight, then refuses new ones with UNAVAILABLE. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    const handles = [...this.dirHandles.values()];
    this.dirHandles.clear();
    await Promise.allSettled(handles.map(async (handle) => (await handle).close()));
  }

  private track<T>(work: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(closedError(this.dir));
    this.callsInFlight += 1;
    const done = work();
    this.inFlight.add(done);
    const forget = (): void => {
      this.inFlight.delete(done);
      this.callsInFlight -= 1;
    };
    done.then(forget, forget);
    return done;
  }

  /**
   * How to run the file calls of a put or get of `dataBytes`: inline for a small block when it
   * is the store's only call, else on the thread pool. Alone, a round trip to the pool is only
   * latency; with other calls in flight the pool overlaps their disk waits on several threads,
   * which inline calls on the event loop would serialize (8 gets of uncached 64 KiB blocks in
   * flight: 5,237/s on the pool, 2,796/s inline).
   */
  private ioFor(dataBytes: number): FileIo {
    return this.callsInFlight === 1 ? fileIoFor(dataBytes) : threadPoolIo;
  }

  private assertOpen(): void {
    if (this.closing) throw closedError(this.dir);
  }

  private blockPath(key: string, version: number): string {
    return path.join(this.dir, subdirOf(key), blockFileName(key, version));
  }

  private retainedPath(key: string, version: number): string {
    return path.join(this.dir, subdirOf(key), retainedFileName(key, version));
  }

  /** Validates, picks the version (highest if omitted) and refuses blocks damaged at open. */
  private resolveSound(key: string, version: number | undefined, opName: string): number {
    const op = `${opName} ${describeBlock(key, version)}`;
    assertKey(key, op);
    if (version !== undefined) assertVersion(version, op);
    const v = version ?? this.index.highestVersion(key);
    const entry = v === undefined ? undefined : this.index.get(key, v);
    if (v === undefined || entry === undefined) throw qfsError('NOT_FOUND', `${op}: no such block`);
    if (entry.damage !== null) {
      throw qfsError('CORRUPT', `${opName} ${describeBlock(key, v)}: block file damaged: ${entry.damage}`);
    }
    return v;
  }

  /** Writes `chunks` to a fresh temp file beside `finalPath`, running `check` meanwhile. */
  private async writeTemp(io: FileIo, finalPath: string, chunks: Uint8Array[], op: string, check: () => void): Promise<string> {
    this.tempCounter += 1;
    const unique = `${process.pid}-${this.tempCounter}-${randomBytes(4).toString('hex')}`;
    const tempPath = `${finalPath}.${unique}${TEMP_FILE_SUFFIX}`;
    let fd: number | undefined;
    try {
      fd = await this.createFile(io, tempPath);
      const writing = writeAll(io, fd, chunks, 0);
      const checked = runCheck(check);
      await writing;
      if (checked !== null) throw checked;
      if (this.durable) await io.datasync(fd);
      const closing = fd;
      fd = undefined;
      await io.close(closing);
      return tempPath;
    } catch (err) {
      if (fd !== undefined) await io.close(fd).catch(() => undefined);
      await unlink(tempPath).catch(() => undefined);
      throw ioError(op, err);
    }
  }

  /** Creates `filePath` exclusively, making its subdirectory (durably) on first use. */
  private async createFile(io: FileIo, filePath: string): Promise<number> {
    try {
      return await io.open(filePath, 'wx', 0o644);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    await mkdir(path.dirname(filePath)).catch((err: unknown) => {
      if (errnoOf(err) !== 'EEXIST') throw err;
    });
    // Even after EEXIST: a concurrent creator's mkdir may not be durable yet.
    if (this.durable) await fsyncDirectory(this.dir);
    return io.open(filePath, 'wx', 0o644);
  }

  private async readBlock(key: string, version: number): Promise<BlockData> {
    const what = describeBlock(key, version);
    const { checksum, table, data } = await this.loadVersion(key, version, `get ${what}`);
    const actual = table === undefined ? checksumLike(data, checksum) : rootOf(extentTable(data));
    if (actual !== checksum) {
      throw qfsError('CORRUPT', `get ${what}: stored bytes have checksum ${actual}, recorded ${checksum}`);
    }
    if (table !== undefined && rootOf(table) !== checksum) throw qfsError('CORRUPT', `get ${what}: the extent table does not match the checksum`);
    return { version, checksum, data };
  }

  /** A version's checksum, table (formats 2 and 3) and data, a delta put together from its
   * chain, with each header checked against the name and the size; the data is not yet checked
   * (the caller checks it against the table and the checksum). */
  private async loadVersion(key: string, version: number, op: string, depth = 0): Promise<{ checksum: string; table: Buffer | undefined; data: Buffer }> {
    const retained = this.retained.has(blockId(key, version));
    const io = this.ioFor(this.index.get(key, version)?.sizeBytes ?? Infinity);
    const bytes = await readBlockFile(io, retained ? this.retainedPath(key, version) : this.blockPath(key, version), op);
    if (bytes === undefined) {
      if (depth > 0) throw qfsError('CORRUPT', `${op}: version ${version}, a delta's base, is missing`);
      throw qfsError('NOT_FOUND', `${op}: no such block`);
    }
    const decoded = decodeHeader(bytes);
    if (!decoded.ok) throw qfsError('CORRUPT', `${op}: ${decoded.reason}`);
    const { header, dataOffset, table } = decoded;
    if (header.key !== key || header.version !== version) {
      throw qfsError('CORRUPT', `${op}: file holds ${describeBlock(header.key, header.version)}`);
    }
    const stored = bytes.subarray(dataOffset);
    const expectedBytes = storedBytesOf(header.dataLengthBytes, header.delta);
    if (stored.length !== expectedBytes) {
      throw qfsError('CORRUPT', `${op}: ${stored.length} data bytes stored in version ${version}, its header says ${expectedBytes}`);
    }
    const { delta } = header;
    if (delta === undefined) return { checksum: header.checksum, table, data: stored };
    if (depth >= limits.maxDeltaChain) throw qfsError('CORRUPT', `${op}: a chain of deltas longer than ${limits.maxDeltaChain}`);
    const base = await this.loadVersion(key, delta.baseVersion, op, depth + 1);
    if (base.data.length > header.dataLengthBytes) throw qfsError('CORRUPT', `${op}: version ${version} is shorter than its base`);
    const data = Buffer.alloc(header.dataLengthBytes);
    base.data.copy(data);
    let at = 0;
    for (const i of delta.indexes) {
      const length = Math.min(EXTENT_BYTES, header.dataLengthBytes - i * EXTENT_BYTES);
      stored.copy(data, i * EXTENT_BYTES, at, at + length);
      at += length;
    }
    return { checksum: header.checksum, table, data };
  }

  private async removeVersions(key: string, pick: (held: number[]) => number[], op: string): Promise<number> {
    const removed = await this.locks.run(key, async () => {
      let count = 0;
      for (const v of pick(this.index.versions(key))) {
        const id = blockId(key, v);
        if ((this.dependents.get(id) ?? 0) > 0) {
          // A delta is based on it: gone for readers, kept on disk until no delta needs it.
          await threadPoolIo.rename(this.blockPath(key, v), this.retainedPath(key, v)).catch((err: unknown) => {
            throw ioError(op, err);
          });
          this.retained.set(id, this.index.get(key, v)?.sizeBytes ?? 0);
          this.index.remove(key, v);
          count += 1;
          continue;
        }
        this.index.remove(key, v);
        if (await unlinkIfPresent(this.blockPath(key, v), op)) count += 1;
        const base = this.deltaBases.get(id);
        this.deltaBases.delete(id);
        if (base !== undefined) await this.releaseBase(key, base, op);
      }
      return count;
    });
    return removed;
  }

  private async overwriteWithGarbage(key: string, version: number): Promise<CorruptResult> {
    const op = `corrupt ${describeBlock(key, version)}`;
    const filePath = this.blockPath(key, version);
    const bytes = await readBlockFile(threadPoolIo, filePath, op);
    if (bytes === undefined) throw qfsError('NOT_FOUND', `${op}: no such block`);
    const decoded = decodeHeader(bytes);
    if (!decoded.ok) throw qfsError('CORRUPT', `${op}: ${decoded.reason}`);
    const before = bytes.subarray(decoded.dataOffset);
    const after = garbageFor(before);
    await writeInPlace(filePath, after, decoded.dataOffset, this.durable, op);
    return { key, version, before: describeBytes(before), after: describeBytes(after) };
  }

  /** Directory fsyncs are batched per subdirectory (see DirSyncer): one covers many renames. */
  private async syncDir(subdir: string, op: string): Promise<void> {
    if (!this.durable) return;
    let syncer = this.syncers.get(subdir);
    if (syncer === undefined) {
      const dirPath = path.join(this.dir, subdir);
      syncer = new DirSyncer(async () => (await this.dirHandle(dirPath)).sync());
      this.syncers.set(subdir, syncer);
    }
    await syncer.sync().catch((err: unknown) => {
      throw ioError(op, err);
    });
  }

  private dirHandle(dirPath: string): Promise<FileHandle> {
    let handle = this.dirHandles.get(dirPath);
    if (handle === undefined) {
      handle = open(dirPath, 'r');
      this.dirHandles.set(dirPath, handle);
      handle.catch(() => this.dirHandles.delete(dirPath)); // retry the open next time
    }
    return handle;
  }

  private async scan(concurrency: number): Promise<OpenReport> {
    const report: OpenReport = { tempFilesRemoved: 0, damaged: [], ignored: [] };
    const subdirs = await this.scanRoot(report);
    const found: Array<{ filePath: string; key: string; version: number; retained: boolean }> = [];
    await forEachLimited(subdirs, concurrency, async (subdir) => {
      const dirPath = path.join(this.dir, subdir);
      const entries = await readdir(dirPath, { withFileTypes: true }).catch((err: unknown) => {
        throw ioError(`open ${dirPath}`, err);
      });
      for (const entry of entries) {
        const filePath = path.join(dirPath, entry.name);
        if (entry.isFile() && entry.name.endsWith(TEMP_FILE_SUFFIX)) {
          if (await unlinkIfPresent(filePath, `open ${filePath}`)) report.tempFilesRemoved += 1;
          continue;
        }
        const parsed = entry.isFile() ? parseBlockFileName(entry.name) : undefined;
        const reason = ignoreReason(entry.isFile(), parsed, subdir);
        if (reason !== null) report.ignored.push({ path: filePath, reason });
        else if (parsed) found.push({ filePath, ...parsed });
      }
    });
    const deltas: Array<{ key: string; version: number; baseVersion: number; retained: boolean }> = [];
    await forEachLimited(found, concurrency, async ({ filePath, key, version, retained }) => {
      const entry = await inspectBlockFile(filePath, key, version);
      if (entry.damage === null && entry.delta) deltas.push({ key, version, baseVersion: entry.delta.baseVersion, retained });
      if (retained) this.retained.set(blockId(key, version), entry.sizeBytes);
      else this.index.set(key, version, entry);
    });
    for (const d of deltas) this.linkDelta(d.key, d.version, d.baseVersion);
    for (const d of deltas) {
      const baseId = blockId(d.key, d.baseVersion);
      if (!d.retained && this.index.get(d.key, d.baseVersion) === undefined && !this.retained.has(baseId)) {
        const entry = this.index.get(d.key, d.version)!;
        this.index.set(d.key, d.version, { ...entry, damage: `delta of version ${d.baseVersion}, which is missing` });
      }
    }
    // Retained versions no delta needs (a crash came between a delta's removal and theirs).
    for (const id of [...this.retained.keys()]) {
      if ((this.dependents.get(id) ?? 0) > 0 || !this.retained.has(id)) continue;
      const { key, version } = parseBlockId(id);
      this.dependents.set(id, 1);
      await this.releaseBase(key, version, `open ${this.dir}`);
    }
    report.damaged = this.index.damaged();
    report.ignored.sort((a, b) => (a.path < b.path ? -1 : 1));
    return report;
  }

  /** The subdirectories to scan; removes the marker's temp files; reports anything foreign. */
  private async scanRoot(report: OpenReport): Promise<string[]> {
    const entries = await readdir(this.dir, { withFileTypes: true }).catch((err: unknown) => {
      throw ioError(`open ${this.dir}`, err);
    });
    const subdirs: string[] = [];
    for (const entry of entries) {
      const entryPath = path.join(this.dir, entry.name);
      if (entry.isDirectory() && isSubdirName(entry.name)) subdirs.push(entry.name);
      else if (entry.name === STORE_MARKER_NAME || entry.name === LOST_AND_FOUND) continue;
      else if (entry.name.startsWith(STORE_MARKER_NAME) && entry.name.endsWith(TEMP_FILE_SUFFIX)) {
        if (await unlinkIfPresent(entryPath, `open ${entryPath}`)) report.tempFilesRemoved += 1;
      } else report.ignored.push({ path: entryPath, reason: 'not part of a block store' });
    }
    return subdirs.sort();
  }
}

function ignoreReason(isFile: boolean, parsed: { key: string } | undefined, subdir: string): string | null {
  if (!isFile) return 'not a regular file';
  if (parsed === undefined) return 'name is not <key>.<version>.blk';
  if (subdirOf(parsed.key) !== subdir) return `belongs in subdirectory ${subdirOf(parsed.key)}`;
  return null;
}

/** Reads a block file's header and size (not its data) and says whether they agree with its
 * name; for a delta, its base and extents too. */
async function inspectBlockFile(filePath: string, key: string, version: number): Promise<IndexEntry & { delta?: DeltaInfo }> {
  let head: Buffer;
  let fileBytes: number;
  try {
    const fd = await threadPoolIo.open(filePath, 'r');
    try {
      fileBytes = await threadPoolIo.sizeOf(fd);
      head = await readAt(threadPoolIo, fd, Math.min(fileBytes, MAX_HEADER_BYTES), 0);
    } finally {
      await threadPoolIo.close(fd);
    }
  } catch (err) {
    return { sizeBytes: 0, checksum: null, damage: `unreadable: ${messageOf(err)}` };
  }
  const decoded = decodeHeader(head);
  if (!decoded.ok) return { sizeBytes: fileBytes, checksum: null, damage: decoded.reason };
  const { header, dataOffset } = decoded;
  const entry = { sizeBytes: header.dataLengthBytes, checksum: header.checksum, delta: header.delta };
  if (header.key !== key || header.version !== version) {
    return { ...entry, damage: `header names ${describeBlock(header.key, header.version)}` };
  }
  const storedBytes = storedBytesOf(header.dataLengthBytes, header.delta);
  if (fileBytes - dataOffset !== storedBytes) {
    return { ...entry, damage: `${fileBytes - dataOffset} data bytes stored, header says ${storedBytes}` };
  }
  return { ...entry, damage: null };
}

/** Data bytes a block file holds: all of them, or a delta's extents. */
function storedBytesOf(dataLengthBytes: number, delta: DeltaInfo | undefined): number {
  if (delta === undefined) return dataLengthBytes;
  return delta.indexes.reduce((sum, i) => sum + Math.min(EXTENT_BYTES, dataLengthBytes - i * EXTENT_BYTES), 0);
}

/** A block version as one string, for the delta bookkeeping ('@' is not in a key's alphabet). */
function blockId(key: string, version: number): string {
  return `${key}@${version}`;
}

function parseBlockId(id: string): { key: string; version: number } {
  const at = id.lastIndexOf('@');
  return { key: id.slice(0, at), version: Number(id.slice(at + 1)) };
}

/** Creates the directory and its layout marker; refuses a foreign directory. */
async function prepareDirectory(dir: string, durable: boolean): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await ensureMarker(dir, durable);
  } catch (err) {
    throw ioError(`open ${dir}`, err);
  }
}

async function ensureMarker(dir: string, durable: boolean): Promise<void> {
  const markerPath = path.join(dir, STORE_MARKER_NAME);
  const text = await readFile(markerPath, 'utf8').catch((err: unknown) => {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) {
    await assertNothingElse(dir);
    const tempPath = `${markerPath}.${process.pid}${TEMP_FILE_SUFFIX}`;
    const fd = await threadPoolIo.open(tempPath, 'w', 0o644);
    try {
      await writeAll(threadPoolIo, fd, [Buffer.from(encodeStoreMarker(), 'utf8')], 0);
      if (durable) await threadPoolIo.datasync(fd);
    } finally {
      await threadPoolIo.close(fd);
    }
    await threadPoolIo.rename(tempPath, markerPath);
    if (durable) await fsyncDirectory(dir);
    return;
  }
  const marker = decodeStoreMarker(text);
  if (!marker.ok) throw qfsError('INVALID', `open ${dir}: ${marker.reason}`);
  if (marker.layoutVersion !== STORE_LAYOUT_VERSION) {
    throw qfsError('INVALID', `open ${dir}: block store layout ${marker.layoutVersion}, this build reads ${STORE_LAYOUT_VERSION}`);
  }
}

/** A directory without a marker becomes a store only if empty: never scatter files into a home. */
async function assertNothingElse(dir: string): Promise<void> {
  const names = await readdir(dir);
  const foreign = names.filter((n) => n !== LOST_AND_FOUND && !n.startsWith(STORE_MARKER_NAME));
  if (foreign.length > 0) {
    throw qfsError('INVALID', `open ${dir}: not a block store (no ${STORE_MARKER_NAME}) and not empty`);
  }
}

/** Whole file, or undefined if it does not exist; CORRUPT if larger than any block file can be. */
async function readBlockFile(io: FileIo, filePath: string, op: string): Promise<Buffer | undefined> {
  let fd: number;
  try {
    fd = await io.open(filePath, 'r');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw ioError(op, err);
  }
  try {
    const sizeBytes = await io.sizeOf(fd);
    if (sizeBytes > MAX_FILE_BYTES) throw qfsError('CORRUPT', `${op}: file of ${sizeBytes} bytes is larger than any block`);
    return await readAt(io, fd, sizeBytes, 0);
  } catch (err) {
    throw ioError(op, err);
  } finally {
    await io.close(fd);
  }
}

async function readAt(io: FileIo, fd: number, lengthBytes: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(lengthBytes);
  let filled = 0;
  while (filled < lengthBytes) {
    const bytesRead = await io.read(fd, buf, filled, lengthBytes - filled, position + filled);
    if (bytesRead === 0) return buf.subarray(0, filled); // the file shrank under us
    filled += bytesRead;
  }
  return buf;
}

async function writeAll(io: FileIo, fd: number, chunks: Uint8Array[], position: number): Promise<void> {
  let pending = chunks.filter((c) => c.length > 0);
  let at = position;
  while (pending.length > 0) {
    const bytesWritten = await io.writev(fd, pending, at);
    if (bytesWritten <= 0) throw qfsError('INTERNAL', 'writev wrote nothing');
    at += bytesWritten;
    pending = dropWritten(pending, bytesWritten);
  }
}

function dropWritten(chunks: Uint8Array[], writtenBytes: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = writtenBytes;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return rest;
}

async function writeInPlace(filePath: string, data: Uint8Array, position: number, durable: boolean, op: string): Promise<void> {
  try {
    const fd = await threadPoolIo.open(filePath, 'r+');
    try {
      await writeAll(threadPoolIo, fd, [data], position);
      if (durable) await threadPoolIo.datasync(fd);
    } finally {
      await threadPoolIo.close(fd);
    }
  } catch (err) {
    throw ioError(op, err);
  }
}

async function renameOrDiscard(io: FileIo, tempPath: string, finalPath: string, op: string): Promise<void> {
  try {
    await io.rename(tempPath, finalPath);
  } catch (err) {
    await unlink(tempPath).catch(() => undefined);
    throw ioError(op, err);
  }
}

async function unlinkIfPresent(filePath: string, op: string): Promise<boolean> {
  try {
    await unlink(filePath);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw ioError(op, err);
  }
}

async function fsyncDirectory(dirPath: string): Promise<void> {
  const handle = await open(dirPath, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The error `check` throws, or null; so a write in flight is awaited before giving up. */
function runCheck(check: () => void): unknown {
  try {
    check();
    return null;
  } catch (err) {
    return err;
  }
}

/** Random bytes of the same length that differ from `before` in at least one byte. */
function garbageFor(before: Uint8Array): Buffer {
  const after = randomBytes(Math.max(1, before.length));
  if (before.length > 0 && after.equals(before)) after[0] = (after[0] ?? 0) ^ 0xff;
  return after;
}

function describeBytes(bytes: Uint8Array): CorruptSide {
  const preview = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, PREVIEW_BYTES)).toString('hex');
  return { checksum: checksumOf(bytes), sizeBytes: bytes.length, preview };
}

function assertKey(key: unknown, op: string): asserts key is string {
  if (!isBlockKey(key)) {
    throw qfsError('INVALID', `${op}: a key is 1..${limits.maxKeyBytes} characters of [A-Za-z0-9._:-]`);
  }
}

function assertVersion(version: unknown, op: string): asserts version is number {
  if (!isBlockVersion(version)) throw qfsError('INVALID', `${op}: a version is a non-negative safe integer`);
}

function assertPayload(checksum: unknown, data: unknown, op: string): void {
  if (!isChecksum(checksum)) throw qfsError('INVALID', `${op}: checksum must be xsha256:<64 hex digits> (or sha256:)`);
  if (!(data instanceof Uint8Array)) throw qfsError('INVALID', `${op}: data must be bytes`);
  if (data.length > limits.maxPayloadBytes) {
    throw qfsError('INVALID', `${op}: ${data.length} bytes is over the limit of ${limits.maxPayloadBytes}`);
  }
}

/** For messages only: bad input is cut short and quoted so it cannot forge a log line. */
function describeBlock(key: unknown, version: unknown): string {
  const keyText = isBlockKey(key) ? key : JSON.stringify(String(key).slice(0, 40));
  return version === undefined ? `block ${keyText}` : `block ${keyText} version ${String(version)}`;
}

function closedError(dir: string): QfsError {
  return qfsError('UNAVAILABLE', `block store ${dir} is closed`);
}

function errnoOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

/** QfsErrors pass through; a full disk is NO_SPACE; any other I/O failure is INTERNAL. */
function ioError(op: string, err: unknown): QfsError {
  if (err instanceof QfsError) return err;
  const errno = errnoOf(err);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return qfsError('NO_SPACE', `${op}: ${messageOf(err)}`, err);
  return qfsError('INTERNAL', `${op}: ${messageOf(err)}`, err);
}

function compareBlocks(keyA: string, versionA: number, keyB: string, versionB: number): number {
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return versionA - versionB;
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  const workers = Number.isSafeInteger(limit) && limit > 1 ? Math.min(limit, items.length) : 1;
  await Promise.all(Array.from({ length: workers }, worker));
}

/** Estimated encoded size of a listed entry besides its key (version, size, checksum, field
 * names), for page budgets. */
const LIST_ENTRY_OVERHEAD_BYTES = 160;

/** What one listed block counts against a listing page's byte budget (listPage): its key plus
 * the rest of its encoded entry. Exported so every DataStore pages alike. */
export function listEntryBudgetBytes(key: string): number {
  return key.length + LIST_ENTRY_OVERHEAD_BYTES;
}
const SUBDIR_NAMES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** An index entry with its version. */
interface VersionedEntry extends IndexEntry {
  version: number;
}

/** Most keys hold one version: that one is stored as it is, several as an array, so the index
 * costs about 400 bytes a block (a map per key would cost 560). */
type Slot = VersionedEntry | VersionedEntry[];

function slotEntries(slot: Slot | undefined): readonly VersionedEntry[] {
  if (slot === undefined) return [];
  return Array.isArray(slot) ? slot : [slot];
}

/** The index: subdirectory → key → its versions' entries, with running totals for usage().
 * Keyed by subdirectory so a listing can page in a stable order by sorting one subdirectory at
 * a time. */
class BlockIndex {
  private readonly bySubdir = new Map<string, Map<string, Slot>>();
  private blockCount = 0;
  private byteCount = 0;

  get blocks(): number {
    return this.blockCount;
  }

  get bytes(): number {
    return this.byteCount;
  }

  private entriesOf(key: string): readonly VersionedEntry[] {
    return slotEntries(this.bySubdir.get(subdirOf(key))?.get(key));
  }

  get(key: string, version: number): IndexEntry | undefined {
    return this.entriesOf(key).find((e) => e.version === version);
  }

  /** Ascending. */
  versions(key: string): number[] {
    return this.entriesOf(key)
      .map((e) => e.version)
      .sort((a, b) => a - b);
  }

  highestVersion(key: string): number | undefined {
    let highest: number | undefined;
    for (const e of this.entriesOf(key)) if (highest === undefined || e.version > highest) highest = e.version;
    return highest;
  }

  hasOlder(key: string, version: number): boolean {
    return this.entriesOf(key).some((e) => e.version < version);
  }

  set(key: string, version: number, entry: IndexEntry): void {
    this.remove(key, version);
    const subdir = subdirOf(key);
    let keys = this.bySubdir.get(subdir);
    if (keys === undefined) {
      keys = new Map();
      this.bySubdir.set(subdir, keys);
    }
    const added: VersionedEntry = { version, sizeBytes: entry.sizeBytes, checksum: entry.checksum, damage: entry.damage };
    const slot = keys.get(key);
    keys.set(key, slot === undefined ? added : [...slotEntries(slot), added]);
    this.blockCount += 1;
    this.byteCount += entry.sizeBytes;
  }

  remove(key: string, version: number): boolean {
    const keys = this.bySubdir.get(subdirOf(key));
    const held = slotEntries(keys?.get(key));
    const entry = held.find((e) => e.version === version);
    if (keys === undefined || entry === undefined) return false;
    const rest = held.filter((e) => e !== entry);
    if (rest.length === 0) keys.delete(key);
    else keys.set(key, rest.length === 1 ? rest[0]! : rest);
    this.blockCount -= 1;
    this.byteCount -= entry.sizeBytes;
    return true;
  }

  /** Entries with a checksum after `after`, in (subdirectory, key, version) order, up to the
   * limits. Keys added or removed meanwhile are seen or not; none is listed twice. */
  page(after: BlockCursor | undefined, maxEntries: number, budgetBytes: number): BlockListPage {
    const entries: BlockListEntry[] = [];
    let usedBytes = 0;
    const startSubdir = after === undefined ? SUBDIR_NAMES[0]! : subdirOf(after.key);
    for (const subdir of SUBDIR_NAMES) {
      if (subdir < startSubdir) continue;
      const keys = this.bySubdir.get(subdir);
      if (keys === undefined) continue;
      const sameSubdir = after !== undefined && subdir === startSubdir;
      for (const key of [...keys.keys()].sort()) {
        if (sameSubdir && key < after.key) continue;
        const versions = [...slotEntries(keys.get(key))].sort((a, b) => a.version - b.version);
        for (const e of versions) {
          if (sameSubdir && key === after.key && e.version <= after.version) continue;
          if (e.checksum === null) continue;
          if (entries.length >= maxEntries || (entries.length > 0 && usedBytes + listEntryBudgetBytes(key) > budgetBytes)) {
            const last = entries[entries.length - 1]!;
            return { entries, next: { key: last.key, version: last.version } };
          }
          usedBytes += listEntryBudgetBytes(key);
          entries.push({ key, version: e.version, sizeBytes: e.sizeBytes, checksum: e.checksum, damaged: e.damage !== null });
        }
      }
    }
    return { entries, next: undefined };
  }

  damaged(): DamagedBlock[] {
    const out: DamagedBlock[] = [];
    for (const keys of this.bySubdir.values()) {
      for (const [key, slot] of keys) {
        for (const e of slotEntries(slot)) {
          if (e.damage !== null) out.push({ key, version: e.version, reason: e.damage });
        }
      }
    }
    return out.sort((a, b) => compareBlocks(a.key, a.version, b.key, b.version));
  }
}

/**
 * Group commit of one directory's fsync. A caller must be covered by an fsync that starts after
 * its rename or unlink: if one is running, the caller joins the single next one, which starts when
 * the running one ends; every caller arriving meanwhile shares it. So N concurrent creates in a
 * directory cost about two directory fsyncs, not N.
 */
class DirSyncer {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly syncOnce: () => Promise<void>) {}

  sync(): Promise<void> {
    if (this.next !== undefined) return this.next;
    if (this.running === undefined) return this.start();
    const next = this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.start();
      });
    this.next = next;
    return next;
  }

  private start(): Promise<void> {
    const run: Promise<void> = this.syncOnce().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }
}
