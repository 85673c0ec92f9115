// File data read by the mount straight from the replicas, one hop less than through the
// mediator: the block map from the metadata server, then Qr of the live data servers chosen at
// random for each block (one sends its bytes, whose checksum is recomputed here against the
// block map; the others check their copy in place), as the mediator reads. Only the case where
// everything is as expected is handled here: a replica missing, bad or unreachable, too few live
// servers, a file that is not regular, any error at all, and the read goes to the mediator
// instead (the caller gets undefined), which widens the read, repairs the bad copies and reports
// them. Verified blocks are kept in a bounded cache by version (a version's bytes never change),
// so the kernel's 128 KiB reads of one 1 MiB block fetch it once.

import { checksumOf } from '../common/checksum.js';
import type { Address } from '../common/address.js';
import { S_IFMT, S_IFREG, blockKey, type BlockRef, type Timespec } from '../common/types.js';
import type { Random } from '../common/random.js';
import { sliceRange } from '../core/block-math.js';
import { atimeUpdateDue } from '../core/relatime.js';
import { readPlan } from '../core/replication-policy.js';
import { dataMethods } from '../protocol/data-messages.js';
import { mediatorMethods } from '../protocol/mediator-messages.js';
import { metaMethods } from '../protocol/meta-messages.js';
import { BlockCache } from '../replication/block-cache.js';
import type { ClosableChannel, RpcChannel } from '../transport/rpc-channel.js';

interface DirectReadOptions {
  /** The metadata server: block maps and access marks. */
  meta: RpcChannel;
  /** The mediator: which data servers are live. */
  mediator: RpcChannel;
  /** A connection to a data server. */
  connect: (address: Address) => ClosableChannel;
  blockSizeBytes: number;
  cacheBytes: number;
  /** How long a list of live servers is used before it is asked for again. */
  targetsTtlMs: number;
  random: Random;
  now: () => Timespec;
  nowMs?: () => number;
}

interface Targets {
  readQuorum: number;
  ids: string[];
  fetchedAtMs: number;
}

/** Something was not as expected: the mediator reads instead. */
class NotHere extends Error {}

export class DirectReader {
  private readonly cache: BlockCache;
  private readonly fetching = new Map<string, Promise<Buffer>>();
  private readonly servers = new Map<string, ClosableChannel>();
  private targets: Targets | undefined;
  private refreshing: Promise<Targets> | undefined;
  private readonly nowMs: () => number;

  constructor(private readonly options: DirectReadOptions) {
    this.cache = new BlockCache(options.cacheBytes);
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Reads up to `size` bytes at `offset` (fewer at the end of the file) and marks the access as
   * relatime does; undefined when the mediator must do it. */
  async read(ino: number, offset: number, size: number): Promise<{ data: Buffer; atimeUpdated: boolean } | undefined> {
    try {
      return await this.readHere(ino, offset, size);
    } catch {
      this.targets = undefined; // perhaps a server went away: ask again next time
      return undefined;
    }
  }

  close(): void {
    for (const server of this.servers.values()) server.close();
    this.servers.clear();
  }

  private async readHere(ino: number, offset: number, size: number): Promise<{ data: Buffer; atimeUpdated: boolean }> {
    const bs = this.options.blockSizeBytes;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + Math.max(size, 1) - 1) / bs);
    const [targets, { attr, blocks }] = await Promise.all([this.liveTargets(), this.options.meta.call(metaMethods.getBlocks, { ino, fromIndex: first, toIndex: last + 1 })]);
    if ((attr.mode & S_IFMT) !== S_IFREG) throw new NotHere('not a regular file');
    const now = this.options.now();
    const marking = atimeUpdateDue(attr, now)
      ? this.options.meta.call(metaMethods.markAccess, { ino, now }).then((r) => r.marked)
      : Promise.resolve(false);
    const end = Math.min(offset + size, attr.size);
    const out = Buffer.alloc(Math.max(0, end - offset));
    const byIndex = new Map(blocks.map((b) => [b.index, b]));
    const reading = Promise.all(
      sliceRange(offset, out.length, bs).map(async (slice) => {
        const ref = byIndex.get(slice.index);
        if (!ref) return; // a hole
        const data = await this.block(blockKey(ino, ref.index), ref, targets);
        // Bytes of a block past the file's size are never trusted: they stay zero.
        const stop = Math.min(slice.offsetInBlock + slice.lengthBytes, data.length);
        if (stop > slice.offsetInBlock) data.copy(out, slice.offsetInBuffer, slice.offsetInBlock, stop);
      }),
    );
    const [atimeUpdated] = await Promise.all([marking, reading]);
    return { data: out, atimeUpdated };
  }

  /** The verified bytes of a block version, from the cache or from Qr replicas; one fetch per
   * version at a time. */
  private block(key: string, ref: BlockRef, targets: Targets): Promise<Buffer> {
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

  private async fetch(key: string, ref: BlockRef, targets: Targets): Promise<Buffer> {
    const { first } = readPlan(targets.ids, targets.ids, targets.readQuorum, this.options.random);
    if (first.length < targets.readQuorum) throw new NotHere(`${first.length} live data servers, read quorum ${targets.readQuorum}`);
    const [reader, ...checkers] = first.map((server) => this.server(server));
    const [got, ...checks] = await Promise.all([
      reader!.callWithPayload(dataMethods.get, { key, version: ref.version }),
      ...checkers.map((server) => server.call(dataMethods.verify, { key, version: ref.version })),
    ]);
    // Recomputed here: a replica's claim about its own bytes is not evidence.
    if (got.result.version !== ref.version || checksumOf(got.payload) !== ref.checksum) throw new NotHere(`a bad copy of ${key}`);
    if (checks.some((c) => c.status !== 'ok' || c.checksum !== ref.checksum)) throw new NotHere(`a bad copy of ${key}`);
    this.cache.set(key, ref.version, got.payload);
    return got.payload;
  }

  private async liveTargets(): Promise<Targets> {
    const known = this.targets;
    if (known && this.nowMs() - known.fetchedAtMs < this.options.targetsTtlMs) return known;
    this.refreshing ??= this.options.mediator
      .call(mediatorMethods.readTargets, {})
      .then(({ readQuorum, servers }) => {
        for (const s of servers) if (!this.servers.has(s.id)) this.servers.set(s.id, this.options.connect({ host: s.host, port: s.port }));
        this.targets = { readQuorum, ids: servers.map((s) => s.id), fetchedAtMs: this.nowMs() };
        return this.targets;
      })
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private server(id: string): RpcChannel {
    const server = this.servers.get(id);
    if (!server) throw new NotHere(`no connection to ${id}`);
    return server;
  }
}
