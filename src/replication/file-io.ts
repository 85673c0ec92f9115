// File data over the block map and the replicated blocks: read, write and truncate of one inode.
// Invariants: a write's blocks reach Qw servers before the block map names them (the commit
// point); a block's bytes beyond the file's size are never trusted, so a read zero-fills them and
// growing a file first rewrites a last block that still holds bytes from before a truncate.
// Writes and truncates of one inode are serialised here; reads are not (they see a committed map).

import { checksumOf } from '../common/checksum.js';
import { KeyedMutex } from '../common/async.js';
import { codeOf, qfsError } from '../common/errors.js';
import { S_IFDIR, S_IFMT, S_IFREG, blockKey, type BlockRef, type InodeAttr, type OrphanBlock, type SetAttrRequest, type Timespec } from '../common/types.js';
import { sliceRange, visibleBytesOfBlock } from '../core/block-math.js';
import { atimeUpdateDue } from '../core/relatime.js';
import { metaMethods } from '../protocol/meta-messages.js';
import type { RpcChannel } from '../transport/rpc-channel.js';
import type { Clock } from '../common/clock.js';
import type { Replicator } from './replicator.js';
import type { VersionAllocator } from './version-allocator.js';
import { BlockCache } from './block-cache.js';
import { limits } from '../common/limits.js';

export interface FileIoOptions {
  meta: RpcChannel;
  replicator: Replicator;
  versions: VersionAllocator;
  blockSizeBytes: number;
  /** Verified block contents kept in memory, by version (never stale). */
  cacheBytes: number;
  clock: Clock;
  /** Called with block versions nobody references any more, to delete them. */
  onOrphans: (orphans: OrphanBlock[]) => void;
}

interface PendingBlock {
  index: number;
  data: Buffer;
}

/** Bytes to write at a file offset. */
export interface Extent {
  offset: number;
  data: Buffer;
}

interface BlockPart {
  offsetInBlock: number;
  data: Buffer;
}

export class FileIo {
  private readonly locks = new KeyedMutex<number>();
  private readonly cache: BlockCache;

  constructor(private readonly options: FileIoOptions) {
    this.cache = new BlockCache(options.cacheBytes);
  }

  /** Reads up to `size` bytes at `offset`; shorter at end of file. Holes read as zeros. */
  /** Reads and, as relatime, marks the atime; `atimeUpdated` says whether it did. */
  async read(ino: number, offset: number, size: number, deadlineMs: number): Promise<{ data: Buffer; atimeUpdated: boolean }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.readOnce(ino, offset, size, deadlineMs);
      } catch (err) {
        // A concurrent write may have replaced (and deleted) a version this read was fetching:
        // read the block map again once before failing.
        if (attempt > 0 || codeOf(err) === 'TIMEOUT' || codeOf(err) === 'NOT_FOUND' || codeOf(err) === 'IS_DIR') throw err;
      }
    }
  }

  private async readOnce(ino: number, offset: number, size: number, deadlineMs: number): Promise<{ data: Buffer; atimeUpdated: boolean }> {
    const bs = this.options.blockSizeBytes;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + Math.max(size, 1) - 1) / bs);
    const { attr, blocks } = await this.getBlocks(ino, first, last + 1, deadlineMs);
    requireRegular(attr);
    // The atime commit runs beside the block reads; both finish before the data is returned.
    const marking = this.markAccess(attr, deadlineMs);
    const end = Math.min(offset + size, attr.size);
    if (end <= offset) return { data: Buffer.alloc(0), atimeUpdated: await marking };
    const out = Buffer.alloc(end - offset);
    const byIndex = new Map(blocks.map((b) => [b.index, b]));
    const reading = Promise.all(
      sliceRange(offset, end - offset, bs).map(async (slice) => {
        const ref = byIndex.get(slice.index);
        if (!ref) return; // a hole
        const data = await this.readBlock(ino, ref, deadlineMs);
        const stop = Math.min(slice.offsetInBlock + slice.lengthBytes, data.length);
        if (stop > slice.offsetInBlock) data.copy(out, slice.offsetInBuffer, slice.offsetInBlock, stop);
      }),
    );
    const [atimeUpdated] = await Promise.all([marking, reading]);
    return { data: out, atimeUpdated };
  }

  /** Marks atime as relatime does (before the data is returned, so a stat after the read
   * sees it); only atime changes, ctime is passed back as it was. */
  private async markAccess(attr: InodeAttr, deadlineMs: number): Promise<boolean> {
    const now = this.options.clock.nowTimespec();
    if (!atimeUpdateDue(attr, now)) return false;
    await this.options.meta.call(
      metaMethods.setattr,
      { ino: attr.ino, attr: { atime: now, ctime: attr.ctime }, now },
      { timeoutMs: deadlineMs - this.options.clock.nowMs() },
    );
    return true;
  }

  /** Writes `data` at `offset` and commits it; returns the new attributes. `time` is when the
   * application wrote (a client that buffers writes passes it), else now. */
  write(ino: number, offset: number, data: Buffer, deadlineMs: number, time?: Timespec): Promise<InodeAttr> {
    return this.writeExtents(ino, [{ offset, data }], deadlineMs, time);
  }

  /** Writes several extents (applied in order) and commits them as one change: each block they
   * touch is read, merged and written once, so scattered small writes a client buffered cost one
   * read-modify-write per block, not one per write. Throws INVALID past
   * limits.maxBlocksPerWrite blocks. */
  writeExtents(ino: number, extents: Extent[], deadlineMs: number, time?: Timespec): Promise<InodeAttr> {
    return this.locks.run(ino, async () => {
      const bs = this.options.blockSizeBytes;
      const parts = new Map<number, BlockPart[]>();
      let endBytes = 0;
      for (const { offset, data } of extents) {
        if (data.length === 0) continue;
        endBytes = Math.max(endBytes, offset + data.length);
        for (const slice of sliceRange(offset, data.length, bs)) {
          const list = parts.get(slice.index) ?? [];
          list.push({ offsetInBlock: slice.offsetInBlock, data: data.subarray(slice.offsetInBuffer, slice.offsetInBuffer + slice.lengthBytes) });
          parts.set(slice.index, list);
        }
      }
      if (parts.size === 0) return (await this.getBlocks(ino, 0, 0, deadlineMs)).attr;
      if (parts.size > limits.maxBlocksPerWrite) {
        throw qfsError('INVALID', `a write may touch at most ${limits.maxBlocksPerWrite} blocks, not ${parts.size}`);
      }
      const indexes = [...parts.keys()].sort((a, b) => a - b);
      const { attr, blocks } = await this.getBlocks(ino, indexes[0]!, indexes[indexes.length - 1]! + 1, deadlineMs);
      requireRegular(attr);
      const byIndex = new Map(blocks.map((b) => [b.index, b]));
      const tail = await this.staleTailFix(ino, attr, endBytes, (index) => parts.has(index), deadlineMs);
      const merged = await Promise.all(
        indexes.map(async (index): Promise<PendingBlock> => {
          const list = parts.get(index)!;
          const only = list.length === 1 ? list[0]! : undefined;
          if (only && only.offsetInBlock === 0 && only.data.length === bs) return { index, data: only.data };
          const old = await this.visibleBlock(ino, attr, byIndex.get(index), index, deadlineMs);
          const out = Buffer.alloc(Math.max(old.length, ...list.map((part) => part.offsetInBlock + part.data.length)));
          old.copy(out, 0);
          for (const part of list) part.data.copy(out, part.offsetInBlock);
          return { index, data: out };
        }),
      );
      return this.commit(ino, tail ? [tail, ...merged] : merged, Math.max(attr.size, endBytes), deadlineMs, time);
    });
  }

  /** Changes attributes; a size change truncates or extends, keeping the invariant on tails. */
  setattr(ino: number, req: SetAttrRequest, deadlineMs: number): Promise<InodeAttr> {
    const apply = async (): Promise<InodeAttr> => {
      if (req.size !== undefined) {
        const { attr } = await this.getBlocks(ino, 0, 0, deadlineMs);
        requireRegular(attr);
        const tail = await this.staleTailFix(ino, attr, req.size, () => false, deadlineMs);
        if (tail) await this.commit(ino, [tail], attr.size, deadlineMs);
      }
      const result = await this.options.meta.call(
        metaMethods.setattr,
        { ino, attr: req, now: this.options.clock.nowTimespec() },
        { timeoutMs: deadlineMs - this.options.clock.nowMs() },
      );
      if (result.orphans.length > 0) this.options.onOrphans(result.orphans);
      return result.attr;
    };
    return req.size === undefined ? apply() : this.locks.run(ino, apply);
  }

  /** When the file grows to `newEnd`, the current last block may still hold bytes past the old
   * size (left by a truncate). Returns that block cut to its visible bytes, to be rewritten
   * before the file grows over it; undefined when nothing needs fixing. `rewritten` tells the
   * blocks the caller rewrites anyway (their read-modify-write cuts them). */
  private async staleTailFix(
    ino: number,
    attr: InodeAttr,
    newEnd: number,
    rewritten: (index: number) => boolean,
    deadlineMs: number,
  ): Promise<PendingBlock | undefined> {
    const bs = this.options.blockSizeBytes;
    if (newEnd <= attr.size || attr.size % bs === 0) return undefined;
    const lastIndex = Math.floor(attr.size / bs);
    if (rewritten(lastIndex)) return undefined;
    const { blocks } = await this.getBlocks(ino, lastIndex, lastIndex + 1, deadlineMs);
    const ref = blocks[0];
    const visible = visibleBytesOfBlock(lastIndex, attr.size, bs);
    if (!ref || ref.lengthBytes <= visible) return undefined;
    const data = await this.readBlock(ino, ref, deadlineMs);
    return { index: lastIndex, data: data.subarray(0, visible) };
  }

  /** The bytes of a block that lie inside the file (empty for a hole or past the end). */
  private async visibleBlock(
    ino: number,
    attr: InodeAttr,
    ref: BlockRef | undefined,
    index: number,
    deadlineMs: number,
  ): Promise<Buffer> {
    const visible = visibleBytesOfBlock(index, attr.size, this.options.blockSizeBytes);
    if (!ref || visible === 0) return Buffer.alloc(0);
    const data = await this.readBlock(ino, ref, deadlineMs);
    return data.subarray(0, Math.min(visible, data.length));
  }

  /** Sends new versions of the blocks to a write quorum, then commits the block map. */
  private async commit(
    ino: number,
    pending: PendingBlock[],
    sizeBytes: number,
    deadlineMs: number,
    time: Timespec = this.options.clock.nowTimespec(),
  ): Promise<InodeAttr> {
    const refs: BlockRef[] = await Promise.all(
      pending.map(async ({ index, data }) => ({
        index,
        version: await this.options.versions.allocate(),
        checksum: checksumOf(data),
        lengthBytes: data.length,
      })),
    );
    const writes = refs.map((ref, i) =>
      this.options.replicator.writeBlock(blockKey(ino, ref.index), ref.version, pending[i]!.data, ref.checksum, deadlineMs),
    );
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // Nothing was committed: the old versions stay the file's contents. Drop what did land.
      this.options.onOrphans(refs.map((ref) => ({ ino, index: ref.index, version: ref.version })));
      throw failed.reason;
    }
    let result;
    try {
      result = await this.options.meta.call(
        metaMethods.commitBlocks,
        { ino, blocks: refs, sizeBytes, time },
        { timeoutMs: deadlineMs - this.options.clock.nowMs() },
      );
    } catch (err) {
      if (codeOf(err) === 'NOT_FOUND') this.options.onOrphans(refs.map((ref) => ({ ino, index: ref.index, version: ref.version })));
      throw err;
    }
    if (result.orphans.length > 0) this.options.onOrphans(result.orphans);
    // What was just committed is what the next partial write of these blocks merges into. A
    // block passed through from the caller's payload is copied: the cache must own its bytes.
    for (const [i, ref] of refs.entries()) {
      const data = pending[i]!.data;
      this.cache.set(blockKey(ino, ref.index), ref.version, data.byteOffset === 0 && data.buffer.byteLength === data.length ? data : Buffer.from(data));
    }
    return result.attr;
  }

  private async readBlock(ino: number, ref: BlockRef, deadlineMs: number): Promise<Buffer> {
    const key = blockKey(ino, ref.index);
    const cached = this.cache.get(key, ref.version);
    if (cached) return cached;
    const data = await this.options.replicator.readBlock(key, ref, deadlineMs);
    this.cache.set(key, ref.version, data);
    return data;
  }

  private getBlocks(ino: number, fromIndex: number, toIndex: number, deadlineMs: number) {
    return this.options.meta.call(metaMethods.getBlocks, { ino, fromIndex, toIndex }, { timeoutMs: deadlineMs - this.options.clock.nowMs() });
  }
}

function requireRegular(attr: InodeAttr): void {
  const type = attr.mode & S_IFMT;
  if (type === S_IFREG) return;
  if (type === S_IFDIR) throw qfsError('IS_DIR', `inode ${attr.ino} is a directory`);
  throw qfsError('INVALID', `inode ${attr.ino} is not a regular file`);
}
