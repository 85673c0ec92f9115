// One attempt of one EtcdMetaStore call: an EtcdTxn plus what the call read, decoded (inode
// records by number, so that two reads of one inode share one object, as in SqliteMetaStore),
// the block-map chunks it touches and the change it makes to the counters. The inode record's
// compare covers the inode's entries, block map and xattrs (every change to them rewrites it).

import { limits } from '../common/limits.js';
import { qfsError } from '../common/errors.js';
import type { BlockRef, InodeAttr, OrphanBlock } from '../common/types.js';
import type { IRangeRequest } from 'etcd3';
import { prefixEnd, type EtcdKv, EtcdTxn } from './etcd-txn.js';
import {
  KEY_FORMAT_VERSION,
  chunkToRefs,
  decodeJson,
  encodeJson,
  refsToChunk,
  type ChunkRecord,
  type CounterRecord,
  type EntryRecord,
  type InodeRecord,
  type MetaKeys,
} from './etcd-meta-keys.js';

/** Chunk keys per range call: about 64 × 64 entries of ~100 bytes, far below gRPC's 4 MiB. */
const CHUNK_PAGE_KEYS = 64;


export class MetaTxn {
  readonly tx: EtcdTxn;
  /** Counter change this attempt makes (written to one shard at commit). */
  readonly delta: CounterRecord = { inodes: 0, blocks: 0, bytes: 0 };
  private readonly records = new Map<number, InodeRecord | null>();
  /** Entries as read at the snapshot (null: absent); this attempt's own changes are not here. */
  private readonly entryCache = new Map<string, EntryRecord | null>();
  private readonly chunks = new Map<string, { ino: number; chunk: number; refs: Map<number, BlockRef>; dirty: boolean }>();
  private readonly shardKey: Buffer;
  private counterValue: CounterRecord | undefined;

  constructor(
    kv: EtcdKv,
    readonly keys: MetaKeys,
    shard: number,
  ) {
    this.tx = new EtcdTxn(kv);
    this.shardKey = keys.counterShard(shard);
  }

  /** Reads the inodes not yet read (and the counter shard, if `counted`; and the directory
   * entries named), in one etcd call, with `ahead`: requests this attempt will make later
   * (prefetched, no compares: see EtcdTxn.prefetch). */
  async loadInodes(inos: number[], counted = false, entries: Array<{ dir: number; name: Buffer }> = [], ahead: IRangeRequest[] = []): Promise<void> {
    const wanted = [...new Set(inos.filter((ino) => !this.records.has(ino)))];
    const keys = wanted.map((ino) => this.keys.inode(ino));
    const entryKeys = entries.map((e) => this.keys.entry(e.dir, e.name)).filter((k) => !this.entryCache.has(k.toString('hex')));
    keys.push(...entryKeys);
    const withCounter = counted && this.counterValue === undefined;
    if (withCounter) keys.push(this.shardKey);
    if (keys.length === 0 && ahead.length === 0) return;
    await this.tx.prefetch([...keys.map((key) => ({ key })), ...ahead]);
    const values = await this.tx.getMany(keys);
    wanted.forEach((ino, i) => {
      const value = values[i];
      this.records.set(ino, value === undefined ? null : decodeRecord(value));
    });
    entryKeys.forEach((key, i) => {
      const value = values[wanted.length + i];
      this.entryCache.set(key.toString('hex'), value === undefined ? null : decodeJson<EntryRecord>(value));
    });
    if (withCounter) this.counterValue = decodeCounter(values[values.length - 1]);
  }

  // ---- requests to read ahead (each the very request the later read makes) ----

  inodeRequest(ino: number): IRangeRequest {
    return { key: this.keys.inode(ino) };
  }

  /** The first `limit` holds of an inode (isHeld: 1; dropHolds: 2). */
  holdersRequest(ino: number, limit: number): IRangeRequest {
    const prefix = this.keys.holdsOfInodePrefix(ino);
    return { key: prefix, range_end: prefixEnd(prefix), limit, keys_only: true };
  }

  /** A page of chunk keys from `start` to `end`, as scanChunks reads them. */
  chunkPageRequest(start: Buffer, end: Buffer): IRangeRequest {
    return { key: start, range_end: end, limit: CHUNK_PAGE_KEYS };
  }

  /** The first page of an inode's block map from `firstIndex` on, as blocksFrom reads it. */
  blocksFromRequest(ino: number, firstIndex: number): IRangeRequest {
    return this.chunkPageRequest(this.keys.chunk(ino, Math.floor(firstIndex / limits.etcdBlocksPerChunk)), prefixEnd(this.keys.chunksPrefix(ino)));
  }

  /** What removing a name of `ino` may read: its record, whether it is held, its block map's
   * first page (read along in one call, so that the common case, the last name of an unheld
   * file, reads all it needs at once). */
  removalRequests(ino: number): IRangeRequest[] {
    return [this.inodeRequest(ino), this.holdersRequest(ino, 1), this.blocksFromRequest(ino, 0)];
  }

  counterRequest(): IRangeRequest {
    return { key: this.shardKey };
  }

  async findInode(ino: number): Promise<InodeRecord | undefined> {
    await this.loadInodes([ino]);
    return this.records.get(ino) ?? undefined;
  }

  async requireInode(ino: number): Promise<InodeRecord> {
    const rec = await this.findInode(ino);
    if (rec === undefined) throw qfsError('NOT_FOUND', `no inode ${ino}`);
    return rec;
  }

  /** An inode read without a compare (the subtree walk: guarded by the dirmoves key instead). */
  async peekInode(ino: number): Promise<InodeRecord | undefined> {
    if (this.records.has(ino)) return this.records.get(ino) ?? undefined;
    const [res] = await this.tx.read([{ key: this.keys.inode(ino) }]);
    const kv = res!.kvs[0];
    return kv === undefined ? undefined : decodeRecord(kv.value);
  }

  /** A new inode's record (its number is fresh: nothing to compare). */
  insert(rec: InodeRecord): void {
    this.records.set(rec.a.ino, rec);
    this.tx.put(this.keys.inode(rec.a.ino), encodeJson(rec));
    this.delta.inodes += 1;
  }

  /** Writes an inode record back; every change bumps the generation. */
  save(rec: InodeRecord): InodeAttr {
    rec.a.generation += 1;
    this.tx.put(this.keys.inode(rec.a.ino), encodeJson(rec));
    return rec.a;
  }

  /** Entries by name (from what loadInodes read along, else read now). */
  async entries(dir: number, names: Buffer[]): Promise<Array<EntryRecord | undefined>> {
    const keys = names.map((name) => this.keys.entry(dir, name));
    const missing = keys.filter((k) => !this.entryCache.has(k.toString('hex')));
    const values = await this.tx.getMany(missing);
    missing.forEach((k, i) => this.entryCache.set(k.toString('hex'), values[i] === undefined ? null : decodeJson<EntryRecord>(values[i]!)));
    return keys.map((k) => this.entryCache.get(k.toString('hex')) ?? undefined);
  }

  async entry(dir: number, name: Buffer): Promise<EntryRecord | undefined> {
    return (await this.entries(dir, [name]))[0];
  }

  // ---- block maps ----

  /** Reads the chunks holding these indexes (no compare: the inode's covers them). */
  async loadChunks(ino: number, indexes: Iterable<number>): Promise<void> {
    const wanted = new Set<number>();
    for (const index of indexes) {
      const chunk = Math.floor(index / limits.etcdBlocksPerChunk);
      if (!this.chunks.has(this.keys.chunk(ino, chunk).toString('hex'))) wanted.add(chunk);
    }
    const list = [...wanted];
    const res = await this.tx.read(list.map((chunk) => ({ key: this.keys.chunk(ino, chunk) })));
    list.forEach((chunk, i) => {
      const value = res[i]!.kvs[0]?.value;
      const refs = new Map<number, BlockRef>();
      if (value !== undefined) for (const ref of chunkToRefs(decodeJson<ChunkRecord>(value))) refs.set(ref.index, ref);
      this.chunks.set(this.keys.chunk(ino, chunk).toString('hex'), { ino, chunk, refs, dirty: false });
    });
  }

  /** The loaded block-map entry of (ino, index). */
  blockAt(ino: number, index: number): BlockRef | undefined {
    return this.chunkOf(ino, index).refs.get(index);
  }

  /** Sets a loaded block-map entry, counting blocks and bytes. */
  setBlock(ino: number, ref: BlockRef): void {
    const chunk = this.chunkOf(ino, ref.index);
    const previous = chunk.refs.get(ref.index);
    this.delta.blocks += previous === undefined ? 1 : 0;
    this.delta.bytes += ref.lengthBytes - (previous?.lengthBytes ?? 0);
    chunk.refs.set(ref.index, { ...ref });
    chunk.dirty = true;
  }

  /** Chunk keys this attempt will write. */
  get dirtyChunks(): number {
    let n = 0;
    for (const c of this.chunks.values()) if (c.dirty) n += 1;
    return n;
  }

  private chunkOf(ino: number, index: number) {
    const chunk = this.chunks.get(this.keys.chunk(ino, Math.floor(index / limits.etcdBlocksPerChunk)).toString('hex'));
    if (chunk === undefined) throw qfsError('INTERNAL', `block ${index} of inode ${ino} read before its chunk`);
    return chunk;
  }

  /** Removes the block-map entries of `ino` from `firstIndex` on and returns them: whole chunks by
   * one range delete, the chunk straddling `firstIndex` rewritten. Reads the chunks page by page. */
  async blocksFrom(ino: number, firstIndex: number): Promise<OrphanBlock[]> {
    const per = limits.etcdBlocksPerChunk;
    const firstChunk = Math.floor(firstIndex / per);
    const orphans: OrphanBlock[] = [];
    const kept: BlockRef[] = [];
    const first = this.blocksFromRequest(ino, firstIndex);
    const end = first.range_end!;
    await this.scanChunks(first.key!, end, (chunk, refs) => {
      for (const ref of refs) {
        if (ref.index >= firstIndex) {
          orphans.push({ ino, index: ref.index, version: ref.version });
          this.delta.blocks -= 1;
          this.delta.bytes -= ref.lengthBytes;
        } else if (chunk === firstChunk) {
          kept.push(ref);
        }
      }
    });
    if (kept.length > 0) {
      this.tx.put(this.keys.chunk(ino, firstChunk), encodeJson(refsToChunk(kept)));
      this.tx.delRange(this.keys.chunk(ino, firstChunk + 1), end);
    } else {
      this.tx.delRange(this.keys.chunk(ino, firstChunk), end);
    }
    return orphans;
  }

  /** Chunks in [start, end), in key order, page by page. */
  async scanChunks(start: Buffer, end: Buffer, visit: (chunk: number, refs: BlockRef[], ino: number) => void | boolean): Promise<void> {
    let from = start;
    for (;;) {
      const [res] = await this.tx.read([this.chunkPageRequest(from, end)]);
      const kvs = res!.kvs;
      for (const kv of kvs) {
        const { ino, chunk } = this.keys.parseChunk(kv.key);
        if (visit(chunk, chunkToRefs(decodeJson<ChunkRecord>(kv.value)), ino) === false) return;
      }
      if (kvs.length < CHUNK_PAGE_KEYS) return;
      from = Buffer.concat([kvs[kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  /** Deletes an inode with its block map and xattrs; returns its blocks. */
  async deleteInode(ino: number): Promise<OrphanBlock[]> {
    const orphans = await this.blocksFrom(ino, 0);
    this.tx.del(this.keys.inode(ino));
    this.tx.delRange(this.keys.xattrsPrefix(ino), prefixEnd(this.keys.xattrsPrefix(ino)));
    this.records.set(ino, null);
    this.delta.inodes -= 1;
    return orphans;
  }

  /** Writes the changed chunks and the counter shard (read now if not yet); drops the shard's
   * compare when nothing counted changed. */
  async finish(): Promise<void> {
    for (const c of this.chunks.values()) {
      if (!c.dirty) continue;
      const key = this.keys.chunk(c.ino, c.chunk);
      if (c.refs.size === 0) this.tx.del(key);
      else this.tx.put(key, encodeJson(refsToChunk([...c.refs.values()])));
    }
    const changed = this.delta.inodes !== 0 || this.delta.blocks !== 0 || this.delta.bytes !== 0;
    if (!changed) {
      if (this.counterValue !== undefined) this.tx.forget(this.shardKey);
      return;
    }
    if (this.counterValue === undefined) this.counterValue = decodeCounter(await this.tx.get(this.shardKey));
    const c = this.counterValue;
    this.tx.put(this.shardKey, encodeJson({ inodes: c.inodes + this.delta.inodes, blocks: c.blocks + this.delta.blocks, bytes: c.bytes + this.delta.bytes }));
  }
}

export function decodeRecord(value: Buffer): InodeRecord {
  const rec = decodeJson<InodeRecord>(value);
  if (rec.v !== KEY_FORMAT_VERSION) throw qfsError('INTERNAL', `inode record of format ${rec.v}; this build reads ${KEY_FORMAT_VERSION}`);
  return rec;
}

export function decodeCounter(value: Buffer | undefined): CounterRecord {
  return value === undefined ? { inodes: 0, blocks: 0, bytes: 0 } : decodeJson<CounterRecord>(value);
}
