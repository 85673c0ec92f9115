// File data over the block map and the replicated blocks: read, write and truncate of one inode.
// Invariants: a write's blocks reach Qw servers before the block map names them (the commit
// point); a block's bytes beyond the file's size are never trusted, so a read zero-fills them and
// growing a file first rewrites a last block that still holds bytes from before a truncate.
// Writes and truncates of one inode are serialised here; reads are not (they see a committed map).

import { checksumOf, extentCount, extentOf, extentTable, isLegacyChecksum, rootOf } from '../common/checksum.js';
import { baseExtentsRead, changedExtents, patchExtents, patchedBlock, type PatchBase, type PatchResult, type Piece } from '../core/extent-patch.js';
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
import { WriteStateCache, type KnownFile } from './write-state-cache.js';
import type { CommitExpectation } from '../stores/meta-store.js';
import { limits } from '../common/limits.js';

export interface FileIoOptions {
  meta: RpcChannel;
  replicator: Replicator;
  versions: VersionAllocator;
  blockSizeBytes: number;
  /** Verified block contents kept in memory, by version (never stale). */
  cacheBytes: number;
  /** Blocks committed here, kept as merge bases (default limits.mediatorCommittedBlockCacheBytes). */
  committedCacheBytes?: number;
  clock: Clock;
  /** Called with block versions nobody references any more, to delete them. */
  onOrphans: (orphans: OrphanBlock[]) => void;
}

/** A block to write: whole (`data`), or as a patch of the version it changes; `replaces` is the
 * version it replaces as far as the write knows (0: none or unknown), which its own must pass. */
type PendingBlock = { index: number; replaces: number } & ({ data: Buffer; patch?: undefined } | { data?: undefined; patch: PlannedPatch });

/** A partial write of a block sent as pieces over its committed version (core/extent-patch.ts). */
interface PlannedPatch {
  base: BlockRef;
  pieces: Piece[];
  payload: Buffer;
  result: PatchResult;
  /** The whole new block, when the base was at hand (then it is cached as committed). */
  whole: Buffer | undefined;
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

/** One write, cut into the parts of the blocks it touches. */
interface PlannedWrite {
  ino: number;
  parts: Map<number, BlockPart[]>;
  /** Where its last byte ends. */
  endBytes: number;
  deadlineMs: number;
  time: Timespec | undefined;
}

/** The state a write is planned from: the attributes and a block's ref (undefined: a hole). */
interface FileView {
  attr: InodeAttr;
  refOf(index: number): Promise<BlockRef | undefined>;
  /** The version of a block as far as the view knows without asking (0: a hole or unknown). */
  versionOf(index: number): number;
}

/** Counts of the write state cache and of partial writes at work. */
export interface FileIoCounters {
  /** Writes planned from the cache, without reading the metadata first. */
  metaReadsSkipped: number;
  /** Commits refused because the inode had changed since the write was planned (from the cache
   * or by another writer), each planned again from the metadata. */
  staleCommits: number;
  /** Block versions sent as patches of the version before (a partial write of a big block). */
  blocksPatched: number;
  /** Of those, patches too few servers could apply, sent again whole. */
  patchesSentWhole: number;
}

export class FileIo {
  private readonly locks = new KeyedMutex<number>();
  /** Blocks verified by a quorum read: what reads and merges are served from. */
  private readonly cache: BlockCache;
  /** Blocks this mediator committed: what the next partial write of them merges into. Never
   * what a read returns: every read checks Qr replicas (or bytes a quorum read verified). */
  private readonly committed: BlockCache;
  private readonly known: WriteStateCache;
  readonly counters: FileIoCounters = { metaReadsSkipped: 0, staleCommits: 0, blocksPatched: 0, patchesSentWhole: 0 };

  constructor(private readonly options: FileIoOptions) {
    this.cache = new BlockCache(options.cacheBytes);
    this.committed = new BlockCache(options.committedCacheBytes ?? limits.mediatorCommittedBlockCacheBytes);
    this.known = new WriteStateCache(limits.mediatorWriteStateInodes, limits.mediatorWriteStateRefsPerInode, options.blockSizeBytes);
  }

  /** A regular file was created through this mediator with these attributes: an empty one is
   * known whole, so writes to it need not read the metadata first. */
  created(attr: InodeAttr): void {
    this.known.created(attr);
  }

  /** Forgets what was known of an inode (removed, or changed other than through this object). */
  forget(ino: number): void {
    this.known.forget(ino);
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
    const { marked } = await this.options.meta.call(metaMethods.markAccess, { ino: attr.ino, now }, { timeoutMs: deadlineMs - this.options.clock.nowMs() });
    return marked;
  }

  /** Writes `data` at `offset` and commits it; returns the new attributes. `time` is when the
   * application wrote (a client that buffers writes passes it), else now. */
  write(ino: number, offset: number, data: Buffer, deadlineMs: number, time?: Timespec): Promise<InodeAttr> {
    return this.writeExtents(ino, [{ offset, data }], deadlineMs, time);
  }

  /** Writes several extents (applied in order) and commits them as one change: each block they
   * touch is read, merged and written once, so scattered small writes a client buffered cost one
   * read-modify-write per block, not one per write. Throws INVALID past
   * limits.maxBlocksPerWrite blocks. When the write state cache knows the size and every block
   * ref the write reads, the metadata read is skipped and the commit is made conditional on them;
   * if it finds them changed (STALE), the write is made again from the metadata, once. */
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
      const write: PlannedWrite = { ino, parts, endBytes, deadlineMs, time };
      const known = this.known.get(ino);
      const done = known === undefined ? undefined : await this.writeFromCache(write, known);
      return done ?? this.writeFromMeta(write);
    });
  }

  /** The write planned from what the cache knows; undefined when the cache cannot answer every
   * block the write reads, or was found stale (the entry is then forgotten). */
  private async writeFromCache(write: PlannedWrite, known: KnownFile): Promise<InodeAttr | undefined> {
    const refs = new Map<number, BlockRef | undefined>();
    const expected: Array<{ index: number; version: number }> = [];
    for (const index of this.blocksRead(write, known.attr.size)) {
      const block = this.known.blockOf(known, index);
      if (block === undefined) return undefined;
      const ref = block === 'hole' ? undefined : block;
      refs.set(index, ref);
      expected.push({ index, version: ref?.version ?? 0 });
    }
    this.counters.metaReadsSkipped++;
    const view: FileView = {
      attr: known.attr,
      refOf: async (index) => {
        if (!refs.has(index)) throw qfsError('INTERNAL', `write to inode ${write.ino} read block ${index}, which it did not plan for`);
        return refs.get(index);
      },
      versionOf: (index) => {
        const block = refs.get(index) ?? this.known.blockOf(known, index);
        return typeof block === 'object' ? block.version : 0;
      },
    };
    let pending: PendingBlock[];
    try {
      pending = await this.merge(write, view);
    } catch (err) {
      // A stale ref may name a version already deleted: read from the metadata instead (not
      // past the deadline, nor after a bug).
      if (codeOf(err) === 'TIMEOUT' || codeOf(err) === 'INTERNAL') throw err;
      this.known.forget(write.ino);
      return undefined;
    }
    const base = { refs: known.refs.values(), complete: known.complete };
    try {
      const { attr } = await this.commit(write.ino, pending, Math.max(known.attr.size, write.endBytes), write.deadlineMs, write.time, {
        expect: { sizeBytes: known.attr.size, blocks: expected },
        learn: base,
      });
      return attr;
    } catch (err) {
      if (codeOf(err) !== 'STALE') throw err;
      this.counters.staleCommits++;
      return undefined;
    }
  }

  /** The write planned from the metadata (getBlocks), committed on the condition that the size
   * and the blocks it merged into are still as it read them: another writer that changed them
   * meanwhile (a mount writes its files' blocks itself) makes the commit STALE, and the write is
   * planned again, up to limits.writeStaleAttempts times, so neither write's bytes are lost. */
  private async writeFromMeta(write: PlannedWrite): Promise<InodeAttr> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writeFromMetaOnce(write);
      } catch (err) {
        if (codeOf(err) !== 'STALE' || attempt >= limits.writeStaleAttempts) throw err;
        this.counters.staleCommits++;
      }
    }
  }

  private async writeFromMetaOnce(write: PlannedWrite): Promise<InodeAttr> {
    const indexes = [...write.parts.keys()].sort((a, b) => a - b);
    const fromIndex = indexes[0]!;
    const toIndex = indexes[indexes.length - 1]! + 1;
    const { attr, blocks } = await this.getBlocks(write.ino, fromIndex, toIndex, write.deadlineMs);
    requireRegular(attr);
    const fetched = new Map(blocks.map((b) => [b.index, b]));
    // A full page may stop short of the range: past its last index, ask again.
    const pageEnd = blocks.length < limits.maxBlocksPerCall ? toIndex : blocks[blocks.length - 1]!.index + 1;
    const view: FileView = {
      attr,
      refOf: async (index) => {
        if (index >= fromIndex && index < pageEnd) return fetched.get(index);
        if (fetched.has(index)) return fetched.get(index);
        const ref = (await this.getBlocks(write.ino, index, index + 1, write.deadlineMs)).blocks[0];
        if (ref !== undefined) fetched.set(index, ref);
        return ref;
      },
      versionOf: (index) => fetched.get(index)?.version ?? 0,
    };
    const pending = await this.merge(write, view);
    const expected = await Promise.all(this.blocksRead(write, attr.size).map(async (index) => ({ index, version: (await view.refOf(index))?.version ?? 0 })));
    // Refs known from before are kept if the entry knew the size the metadata has; the map was
    // empty if the file was (no entry lies past the size), so it is then exactly what this
    // write commits.
    const previous = this.known.get(write.ino);
    const kept = previous !== undefined && previous.attr.size === attr.size ? previous.refs.values() : [];
    const learn = { refs: [...kept, ...fetched.values()], complete: attr.size === 0 };
    const expect = { sizeBytes: attr.size, blocks: expected };
    return (await this.commit(write.ino, pending, Math.max(attr.size, write.endBytes), write.deadlineMs, write.time, { expect, learn })).attr;
  }

  /** The indexes whose refs a write to a file of `sizeBytes` reads: blocks it changes only in
   * part that hold bytes inside the file (to merge), and the last block when the write grows
   * the file past a partial last block it does not rewrite (the stale-tail fix). */
  private blocksRead(write: PlannedWrite, sizeBytes: number): number[] {
    const bs = this.options.blockSizeBytes;
    const out: number[] = [];
    for (const [index, list] of write.parts) {
      if (!wholeBlock(list, bs) && visibleBytesOfBlock(index, sizeBytes, bs) > 0) out.push(index);
    }
    const lastIndex = Math.floor(sizeBytes / bs);
    if (write.endBytes > sizeBytes && sizeBytes % bs !== 0 && !write.parts.has(lastIndex)) out.push(lastIndex);
    return out;
  }

  /** The blocks to write: the stale-tail fix, if needed, and each touched block merged with the
   * bytes it keeps. Reads refs from `view` only for the indexes blocksRead names. */
  private async merge(write: PlannedWrite, view: FileView): Promise<PendingBlock[]> {
    const bs = this.options.blockSizeBytes;
    const { ino, parts, deadlineMs } = write;
    const tail = await this.staleTailFix(ino, view, write.endBytes, (index) => parts.has(index), deadlineMs);
    const merged = await Promise.all(
      [...parts.keys()].sort((a, b) => a - b).map(async (index): Promise<PendingBlock> => {
        const list = parts.get(index)!;
        if (wholeBlock(list, bs)) return { index, replaces: view.versionOf(index), data: list[0]!.data };
        const patch = await this.patchOf(ino, view, index, list, deadlineMs);
        if (patch) return { index, replaces: patch.base.version, patch };
        const old = await this.visibleBlock(ino, view, index, deadlineMs);
        const out = Buffer.alloc(Math.max(old.length, ...list.map((part) => part.offsetInBlock + part.data.length)));
        old.copy(out, 0);
        for (const part of list) part.data.copy(out, part.offsetInBlock);
        return { index, replaces: view.versionOf(index), data: out };
      }),
    );
    return tail ? [tail, ...merged] : merged;
  }

  /** The write of a block as a patch, when it changes few of its extents and the block is a
   * committed version with an extent table and no bytes past the file's end; undefined when it
   * is to be written whole. The base extents it changes come from a cache or from one replica,
   * checked against the block map (a failed read leaves the block to the whole-block path, which
   * widens, votes and repairs). */
  private async patchOf(ino: number, view: FileView, index: number, list: BlockPart[], deadlineMs: number): Promise<PlannedPatch | undefined> {
    const visible = visibleBytesOfBlock(index, view.attr.size, this.options.blockSizeBytes);
    if (visible === 0 || list.length > limits.maxPiecesPerPatch) return undefined;
    const ref = await view.refOf(index);
    if (!ref || isLegacyChecksum(ref.checksum) || ref.lengthBytes > visible) return undefined;
    const pieces = list.map((part) => ({ offset: part.offsetInBlock, lengthBytes: part.data.length }));
    // A change of most of the block, or of a block of few extents, is sent whole.
    const { changed, lengthBytes } = changedExtents(ref.lengthBytes, pieces);
    if (changed.length > extentCount(lengthBytes) * limits.patchMaxChangedShare) return undefined;
    const key = blockKey(ino, ref.index);
    const held = this.committed.get(key, ref.version) ?? this.cache.get(key, ref.version);
    let base: PatchBase;
    if (held) {
      base = { lengthBytes: held.length, table: extentTable(held), extent: (i) => extentOf(held, i) };
    } else {
      try {
        const got = await this.options.replicator.readExtents(key, ref, ref.lengthBytes, baseExtentsRead(ref.lengthBytes, pieces), 1, deadlineMs);
        base = { lengthBytes: ref.lengthBytes, table: got.table, extent: (i) => got.extents.get(i)! };
      } catch (err) {
        if (codeOf(err) === 'TIMEOUT') throw err;
        return undefined;
      }
    }
    const payload = list.length === 1 ? list[0]!.data : Buffer.concat(list.map((part) => part.data));
    const result = patchExtents(base, pieces, payload);
    return { base: ref, pieces, payload, result, whole: held ? patchedBlock(held, result) : undefined };
  }

  /** Sends one block version to a write quorum: a patch as a patch, falling back to the whole
   * block when too few servers could apply it (one lacking the base, say). */
  private async writePending(ino: number, ref: BlockRef, block: PendingBlock, deadlineMs: number): Promise<void> {
    const key = blockKey(ino, ref.index);
    if (!block.patch) {
      await this.options.replicator.writeBlock(key, ref.version, block.data, ref.checksum, deadlineMs);
      return;
    }
    const { base, pieces, payload, result } = block.patch;
    this.counters.blocksPatched++;
    try {
      await this.options.replicator.patchBlock(key, base.version, ref.version, ref.checksum, pieces, payload, deadlineMs);
    } catch (err) {
      if (codeOf(err) === 'TIMEOUT') throw err;
      // The same version, whole: a server that applied the patch holds these very bytes.
      this.counters.patchesSentWhole++;
      const whole = block.patch.whole ?? patchedBlock(await this.readBlock(ino, base, deadlineMs), result);
      block.patch.whole = whole;
      await this.options.replicator.writeBlock(key, ref.version, whole, ref.checksum, deadlineMs);
    }
  }

  /** Changes attributes; a size change truncates or extends, keeping the invariant on tails. */
  setattr(ino: number, req: SetAttrRequest, deadlineMs: number): Promise<InodeAttr> {
    const apply = async (): Promise<InodeAttr> => {
      let learned: { refs: Iterable<BlockRef>; complete: boolean } | undefined;
      if (req.size !== undefined) {
        const known = this.known.get(ino);
        this.known.forget(ino); // until the new size is known
        const { attr, tailRefs } = await this.fixTailBefore(ino, req.size, deadlineMs);
        // The map below the new end is as before but for the tail just rewritten; the entry's
        // refs are kept only if it knew the size the metadata has (a stale one is dropped).
        const kept = known !== undefined && known.attr.size === attr.size;
        learned = { refs: [...(kept ? known.refs.values() : []), ...tailRefs], complete: (kept && known.complete) || req.size === 0 };
      }
      const result = await this.options.meta.call(
        metaMethods.setattr,
        { ino, attr: req, now: this.options.clock.nowTimespec() },
        { timeoutMs: deadlineMs - this.options.clock.nowMs() },
      );
      if (result.orphans.length > 0) this.options.onOrphans(result.orphans);
      if (learned !== undefined) this.known.learned(result.attr, learned.refs, learned.complete);
      return result.attr;
    };
    return req.size === undefined ? apply() : this.locks.run(ino, apply);
  }

  /** Before a size change to `newSize`: the stale-tail fix of the last block, committed on the
   * condition that the size and that block are still as read (another writer may commit
   * meanwhile: then it is made again, up to limits.writeStaleAttempts times). */
  private async fixTailBefore(ino: number, newSize: number, deadlineMs: number): Promise<{ attr: InodeAttr; tailRefs: BlockRef[] }> {
    for (let attempt = 1; ; attempt++) {
      const { attr } = await this.getBlocks(ino, 0, 0, deadlineMs);
      requireRegular(attr);
      const view: FileView = { attr, refOf: async (index) => (await this.getBlocks(ino, index, index + 1, deadlineMs)).blocks[0], versionOf: () => 0 };
      const tail = await this.staleTailFix(ino, view, newSize, () => false, deadlineMs);
      if (!tail) return { attr, tailRefs: [] };
      const expect = { sizeBytes: attr.size, blocks: [{ index: tail.index, version: tail.replaces }] };
      try {
        return { attr, tailRefs: (await this.commit(ino, [tail], attr.size, deadlineMs, undefined, { expect })).committed };
      } catch (err) {
        if (codeOf(err) !== 'STALE' || attempt >= limits.writeStaleAttempts) throw err;
        this.counters.staleCommits++;
      }
    }
  }

  /** When the file grows to `newEnd`, the current last block may still hold bytes past the old
   * size (left by a truncate). Returns that block cut to its visible bytes, to be rewritten
   * before the file grows over it; undefined when nothing needs fixing. `rewritten` tells the
   * blocks the caller rewrites anyway (their read-modify-write cuts them). */
  private async staleTailFix(
    ino: number,
    view: FileView,
    newEnd: number,
    rewritten: (index: number) => boolean,
    deadlineMs: number,
  ): Promise<PendingBlock | undefined> {
    const bs = this.options.blockSizeBytes;
    const size = view.attr.size;
    if (newEnd <= size || size % bs === 0) return undefined;
    const lastIndex = Math.floor(size / bs);
    if (rewritten(lastIndex)) return undefined;
    const ref = await view.refOf(lastIndex);
    const visible = visibleBytesOfBlock(lastIndex, size, bs);
    if (!ref || ref.lengthBytes <= visible) return undefined;
    const data = await this.mergeBase(ino, ref, deadlineMs);
    return { index: lastIndex, replaces: ref.version, data: data.subarray(0, visible) };
  }

  /** The bytes of a block that lie inside the file (empty for a hole or past the end). */
  private async visibleBlock(ino: number, view: FileView, index: number, deadlineMs: number): Promise<Buffer> {
    const visible = visibleBytesOfBlock(index, view.attr.size, this.options.blockSizeBytes);
    if (visible === 0) return Buffer.alloc(0);
    const ref = await view.refOf(index);
    if (!ref) return Buffer.alloc(0);
    const data = await this.mergeBase(ino, ref, deadlineMs);
    return data.subarray(0, Math.min(visible, data.length));
  }

  /** Sends new versions of the blocks to a write quorum, then commits the block map (on the
   * condition `expect`, if given). Afterwards the cache holds `learn` and what was committed, or,
   * without `learn` or on any failure, nothing for the inode. */
  private async commit(
    ino: number,
    pending: PendingBlock[],
    sizeBytes: number,
    deadlineMs: number,
    time: Timespec = this.options.clock.nowTimespec(),
    how: { expect?: CommitExpectation; learn?: { refs: Iterable<BlockRef>; complete: boolean } } = {},
  ): Promise<{ attr: InodeAttr; committed: BlockRef[] }> {
    this.known.forget(ino); // until the commit's outcome is known
    const refs: BlockRef[] = await Promise.all(
      pending.map(async ({ index, replaces, data, patch }) => ({
        index,
        version: await this.options.versions.allocate(replaces),
        checksum: patch ? rootOf(patch.result.table) : checksumOf(data),
        lengthBytes: patch ? patch.result.lengthBytes : data.length,
      })),
    );
    const writes = refs.map((ref, i) => this.writePending(ino, ref, pending[i]!, deadlineMs));
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
        { ino, blocks: refs, sizeBytes, time, expect: how.expect },
        { timeoutMs: deadlineMs - this.options.clock.nowMs() },
      );
    } catch (err) {
      // NOT_FOUND (the inode is gone) and STALE (the condition failed) commit nothing.
      const code = codeOf(err);
      if (code === 'NOT_FOUND' || code === 'STALE') this.options.onOrphans(refs.map((ref) => ({ ino, index: ref.index, version: ref.version })));
      throw err;
    }
    if (result.orphans.length > 0) this.options.onOrphans(result.orphans);
    // What was just committed is what the next partial write of these blocks merges into. A
    // block passed through from the caller's payload is copied: the cache must own its bytes.
    for (const [i, ref] of refs.entries()) {
      const data = pending[i]!.data ?? pending[i]!.patch!.whole;
      if (data === undefined) continue;
      this.committed.set(blockKey(ino, ref.index), ref.version, data.byteOffset === 0 && data.buffer.byteLength === data.length ? data : Buffer.from(data));
    }
    if (how.learn !== undefined) this.known.learned(result.attr, [...how.learn.refs, ...refs], how.learn.complete);
    return { attr: result.attr, committed: refs };
  }

  /** The bytes a partial write of a block merges into: as committed here, else as read. */
  private mergeBase(ino: number, ref: BlockRef, deadlineMs: number): Promise<Buffer> {
    const committed = this.committed.get(blockKey(ino, ref.index), ref.version);
    return committed ? Promise.resolve(committed) : this.readBlock(ino, ref, deadlineMs);
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

/** A block written whole by one part: nothing of it is read. */
function wholeBlock(list: BlockPart[], blockSizeBytes: number): boolean {
  return list.length === 1 && list[0]!.offsetInBlock === 0 && list[0]!.data.length === blockSizeBytes;
}
