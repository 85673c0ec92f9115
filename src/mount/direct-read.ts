// File data read by the mount straight from the replicas, one hop less than through the
// mediator: the block map from the metadata server, then Qr of the live data servers chosen at
// random for each block (one sends its bytes, whose checksum is recomputed here against the
// block map; the others check their copy in place), as the mediator reads. Only the case where
// everything is as expected is handled here: a replica missing, bad or unreachable, too few live
// servers, a file that is not regular, any error at all, and the read goes to the mediator
// instead (the caller gets undefined), which widens the read, repairs the bad copies and reports
// them. Verified blocks are kept in a bounded cache by version (a version's bytes never change),
// so the kernel's 128 KiB reads of one 1 MiB block fetch it once. In a file bigger than that
// cache, the first small read of a block that does not follow the previous read (random access)
// fetches only the extents it covers (16 KiB each, checked against the block's extent table, the
// table against the block map), kept in the same cache; a second such read of the same block
// fetches it whole. A file the cache can hold is read whole blocks at a time: a block read at
// random is likely read again while cached, and a few extents cost about what a block does.
// A file's block map is fetched with a window of the blocks that follow and used for the reads
// that follow as long as the kernel uses cached attributes (the attribute timeout), unless the
// file changes here, is reported changed elsewhere, or is opened again (close-to-open): a read
// never sees older data than the kernel's own cache could give it, and a version named by a map
// too old to be stored any more is a missing copy, read by the mediator from the current map.

import { EXTENT_BYTES, checksumLike, isLegacyChecksum } from '../common/checksum.js';
import { S_IFMT, S_IFREG, blockKey, type BlockRef, type InodeAttr, type Timespec } from '../common/types.js';
import type { Random } from '../common/random.js';
import { sliceRange } from '../core/block-math.js';
import { atimeUpdateDue } from '../core/relatime.js';
import { readPlan } from '../core/replication-policy.js';
import { dataMethods } from '../protocol/data-messages.js';
import { metaMethods } from '../protocol/meta-messages.js';
import { limits } from '../common/limits.js';
import { BlockCache } from '../replication/block-cache.js';
import { readCheckedExtents } from '../replication/extent-read.js';
import type { RpcChannel } from '../transport/rpc-channel.js';
import type { ReplicaTargets, TargetsView } from './replica-targets.js';

interface DirectReadOptions {
  /** The metadata server: block maps and access marks. */
  meta: RpcChannel;
  /** Which data servers are live, and connections to them. */
  targets: ReplicaTargets;
  blockSizeBytes: number;
  cacheBytes: number;
  random: Random;
  now: () => Timespec;
  /** How long a block map (with the attributes it came with) is used before it is asked for
   * again, as the kernel uses cached attributes (0: ask at every read). */
  mapTtlMs?: number;
  nowMs?: () => number;
}

/** A window of a file's block map, with the attributes that came with it. */
interface KnownMap {
  attr: InodeAttr;
  fromIndex: number;
  toIndex: number;
  blocks: Map<number, BlockRef>;
  fetchedAtMs: number;
}

/** The cache key of one extent of a block. */
function extentKey(key: string, index: number): string {
  return `${key}/x${index}`;
}

/** Something was not as expected: the mediator reads instead. */
class NotHere extends Error {}

export class DirectReader {
  private readonly cache: BlockCache;
  private readonly fetching = new Map<string, Promise<Buffer>>();
  /** Where each inode's last read ended: a read starting there is sequential. */
  private readonly lastEnds = new Map<number, number>();
  /** Block versions read in part (key@version), the most recent last. */
  private readonly readInPart = new Set<string>();
  /** Block maps known, the least recently fetched first. */
  private readonly maps = new Map<number, KnownMap>();
  /** How often each inode's map was forgotten, and all of them (a fetch that overlapped a
   * forget is not kept: it may predate the change). */
  private readonly forgets = new Map<number, number>();
  private forgetsOfAll = 0;
  private readonly nowMs: () => number;

  constructor(private readonly options: DirectReadOptions) {
    this.cache = new BlockCache(options.cacheBytes);
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** The file changed here or elsewhere, or was opened (close-to-open): its block map is asked
   * for again at the next read. */
  forget(ino: number): void {
    this.maps.delete(ino);
    if (this.forgets.size >= limits.mountBlockMapsKept) {
      this.forgets.clear();
      this.forgetsOfAll++;
    }
    this.forgets.set(ino, (this.forgets.get(ino) ?? 0) + 1);
  }

  /** Reads up to `size` bytes at `offset` (fewer at the end of the file) and marks the access as
   * relatime does; undefined when the mediator must do it. */
  async read(ino: number, offset: number, size: number): Promise<{ data: Buffer; atimeUpdated: boolean } | undefined> {
    try {
      return await this.readHere(ino, offset, size);
    } catch {
      this.options.targets.forget(); // perhaps a server went away: ask again next time
      this.maps.delete(ino); // perhaps the map is too old: the versions it names are gone
      return undefined;
    }
  }

  private async readHere(ino: number, offset: number, size: number): Promise<{ data: Buffer; atimeUpdated: boolean }> {
    const bs = this.options.blockSizeBytes;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + Math.max(size, 1) - 1) / bs);
    const [targets, map] = await Promise.all([this.options.targets.current(), this.blockMap(ino, first, last + 1)]);
    const { attr, blocks: byIndex } = map;
    if ((attr.mode & S_IFMT) !== S_IFREG) throw new NotHere('not a regular file');
    const now = this.options.now();
    let marking = Promise.resolve(false);
    if (atimeUpdateDue(attr, now)) {
      marking = this.options.meta.call(metaMethods.markAccess, { ino, now }).then((r) => r.marked);
      // Marked now, or found recent enough: the known attributes must not ask again.
      map.attr = { ...attr, atime: now };
    }
    const end = Math.min(offset + size, attr.size);
    const out = Buffer.alloc(Math.max(0, end - offset));
    const sequential = this.lastEnds.get(ino) === offset;
    if (this.lastEnds.size >= limits.mountReadEndsKept) this.lastEnds.clear();
    this.lastEnds.set(ino, offset + size);
    const reading = Promise.all(
      sliceRange(offset, out.length, bs).map(async (slice) => {
        const ref = byIndex.get(slice.index);
        if (!ref) return; // a hole
        const key = blockKey(ino, ref.index);
        // Bytes of a block past the file's size are never trusted: they stay zero.
        const stop = Math.min(slice.offsetInBlock + slice.lengthBytes, ref.lengthBytes);
        if (stop <= slice.offsetInBlock) return;
        if (!sequential && attr.size > this.options.cacheBytes && slice.lengthBytes * 2 <= bs && this.firstPartialRead(key, ref)) {
          await this.copyExtents(key, ref, targets, slice.offsetInBlock, stop, out, slice.offsetInBuffer);
          return;
        }
        const data = await this.block(key, ref, targets);
        data.copy(out, slice.offsetInBuffer, slice.offsetInBlock, Math.min(stop, data.length));
      }),
    );
    const [atimeUpdated] = await Promise.all([marking, reading]);
    return { data: out, atimeUpdated };
  }

  /** The block map of [fromIndex, toIndex) and the file's attributes: as known, while fresh,
   * else fetched with a window of limits.mountBlockMapWindowBlocks past it (a sequential reader
   * asks once per window, not once per read). */
  private async blockMap(ino: number, fromIndex: number, toIndex: number): Promise<KnownMap> {
    const ttlMs = this.options.mapTtlMs ?? 0;
    const known = this.maps.get(ino);
    if (known && known.fromIndex <= fromIndex && toIndex <= known.toIndex && this.nowMs() - known.fetchedAtMs < ttlMs) return known;
    const forgetsBefore = this.forgets.get(ino) ?? 0;
    const allBefore = this.forgetsOfAll;
    const fetchedAtMs = this.nowMs();
    const windowEnd = ttlMs > 0 ? Math.max(toIndex, fromIndex + limits.mountBlockMapWindowBlocks) : toIndex;
    const { attr, blocks } = await this.options.meta.call(metaMethods.getBlocks, { ino, fromIndex, toIndex: windowEnd });
    // A full page may stop short of the window.
    const coveredTo = blocks.length < limits.maxBlocksPerCall ? windowEnd : blocks[blocks.length - 1]!.index + 1;
    if (coveredTo < toIndex) throw new NotHere(`the block map of inode ${ino} is longer than one page`);
    const map: KnownMap = { attr, fromIndex, toIndex: coveredTo, blocks: new Map(blocks.map((b) => [b.index, b])), fetchedAtMs };
    if (ttlMs > 0 && (this.forgets.get(ino) ?? 0) === forgetsBefore && this.forgetsOfAll === allBefore) {
      this.maps.delete(ino);
      if (this.maps.size >= limits.mountBlockMapsKept) this.maps.delete(this.maps.keys().next().value!);
      this.maps.set(ino, map);
    }
    return map;
  }

  /** The verified bytes of a block version, from the cache or from Qr replicas; one fetch per
   * version at a time. */
  private block(key: string, ref: BlockRef, targets: TargetsView): Promise<Buffer> {
    const cached = this.cache.get(key, ref.version);
    if (cached) return Promise.resolve(cached);
    const id = `${key}@${ref.version}`;
    let fetch = this.fetching.get(id);
    if (!fetch) {
      fetch = this.fetch(key, ref, targets).finally(() => this.fetching.delete(id));
      this.fetching.set(id, fetch);
    }
    return fetch;
  }

  /** Whether a random read of this block version should fetch extents: it is not cached whole,
   * has an extent table, and was not read in part before (recently). */
  private firstPartialRead(key: string, ref: BlockRef): boolean {
    if (isLegacyChecksum(ref.checksum) || this.cache.get(key, ref.version)) return false;
    const id = `${key}@${ref.version}`;
    if (this.readInPart.has(id)) return false;
    if (this.readInPart.size >= limits.mountReadInPartKept) this.readInPart.delete(this.readInPart.values().next().value!);
    this.readInPart.add(id);
    return true;
  }

  /** Copies bytes [from, to) of a block version into `out` at `at`, from the extents holding
   * them: cached ones, the rest fetched as the whole block is (one replica sends, Qr - 1 check). */
  private async copyExtents(key: string, ref: BlockRef, targets: TargetsView, from: number, to: number, out: Buffer, at: number): Promise<void> {
    const firstExtent = Math.floor(from / EXTENT_BYTES);
    const lastExtent = Math.floor((to - 1) / EXTENT_BYTES);
    const extents = new Map<number, Buffer>();
    const missing: number[] = [];
    for (let i = firstExtent; i <= lastExtent; i++) {
      const cached = this.cache.get(extentKey(key, i), ref.version);
      if (cached) extents.set(i, cached);
      else missing.push(i);
    }
    if (missing.length > 0) {
      const [reader, ...checkers] = this.readers(targets);
      const got = await readCheckedExtents(reader!, checkers, { key, version: ref.version, checksum: ref.checksum, sizeBytes: ref.lengthBytes, extents: missing });
      if (!got) throw new NotHere(`a bad copy of ${key}`);
      missing.forEach((i, n) => {
        // A view would pin the whole payload in the cache: keep a copy of the extent alone.
        const extent = Buffer.from(got.parts[n]!);
        this.cache.set(extentKey(key, i), ref.version, extent);
        extents.set(i, extent);
      });
    }
    for (let i = firstExtent; i <= lastExtent; i++) {
      const start = i * EXTENT_BYTES;
      const extent = extents.get(i)!;
      const a = Math.max(from, start);
      const b = Math.min(to, start + extent.length);
      extent.copy(out, at + a - from, a - start, b - start);
    }
  }

  /** Qr live servers chosen at random, the first to send and the others to check. */
  private readers(targets: TargetsView): RpcChannel[] {
    const { first } = readPlan(targets.live, targets.live, targets.readQuorum, this.options.random);
    if (first.length < targets.readQuorum) throw new NotHere(`${first.length} live data servers, read quorum ${targets.readQuorum}`);
    return first.map((server) => this.server(server));
  }

  private async fetch(key: string, ref: BlockRef, targets: TargetsView): Promise<Buffer> {
    const [reader, ...checkers] = this.readers(targets);
    const [got, ...checks] = await Promise.all([
      reader!.callWithPayload(dataMethods.get, { key, version: ref.version }),
      ...checkers.map((server) => server.call(dataMethods.verify, { key, version: ref.version })),
    ]);
    // Recomputed here: a replica's claim about its own bytes is not evidence.
    if (got.result.version !== ref.version || checksumLike(got.payload, ref.checksum) !== ref.checksum) throw new NotHere(`a bad copy of ${key}`);
    if (checks.some((c) => c.status !== 'ok' || c.checksum !== ref.checksum)) throw new NotHere(`a bad copy of ${key}`);
    this.cache.set(key, ref.version, got.payload);
    return got.payload;
  }

  private server(id: string): RpcChannel {
    const server = this.options.targets.channel(id);
    if (!server) throw new NotHere(`no connection to ${id}`);
    return server;
  }
}
