// What the mediator knows of files it wrote: each one's size as of its own last create or commit
// and the refs of the blocks it committed, so a write it can plan from these alone skips the
// metadata read. Never trusted for safety: a write planned from it commits only on the condition
// that the size and the versions it relied on are still the metadata's (CommitExpectation), so a
// stale entry costs a retry, not data. Bounded: limits.mediatorWriteStateInodes inodes (least
// recently used dropped), limits.mediatorWriteStateRefsPerInode refs each (oldest dropped).

import { S_IFMT, S_IFREG, type BlockRef, type InodeAttr } from '../common/types.js';

/** One file as the mediator last left it. */
export interface KnownFile {
  /** Attributes returned by the mediator's last create or commit of the inode. */
  attr: InodeAttr;
  /** Refs of blocks it committed (or read from the metadata), by index, oldest first. */
  refs: Map<number, BlockRef>;
  /** True when `refs` is the whole block map: any other index below the end is a hole (a file
   * seen created or truncated empty, then written only by this mediator). */
  complete: boolean;
}

/** What is known of one block: its ref, a hole ('hole'), or nothing (undefined). */
export type KnownBlock = BlockRef | 'hole' | undefined;

export class WriteStateCache {
  private readonly files = new Map<number, KnownFile>();

  constructor(
    private readonly maxInodes: number,
    private readonly maxRefsPerInode: number,
    private readonly blockSizeBytes: number,
  ) {}

  get size(): number {
    return this.files.size;
  }

  /** The entry of `ino`, marked most recently used; undefined if none. */
  get(ino: number): KnownFile | undefined {
    const file = this.files.get(ino);
    if (file === undefined) return undefined;
    this.files.delete(ino);
    this.files.set(ino, file);
    return file;
  }

  /** A regular file the mediator just created (or found, for a non-exclusive create): an empty
   * one has an empty block map, so everything is known of it. */
  created(attr: InodeAttr): void {
    const current = this.files.get(attr.ino);
    if (current !== undefined && current.attr.generation > attr.generation) return; // a later state is known
    if ((attr.mode & S_IFMT) !== S_IFREG || attr.size !== 0) {
      this.forget(attr.ino);
      return;
    }
    this.put({ attr, refs: new Map(), complete: true });
  }

  /** After a commit or truncate of the inode: its new attributes and the refs now known of it
   * (applied in order, later ones winning). `complete` says the refs are the whole map. */
  learned(attr: InodeAttr, refs: Iterable<BlockRef>, complete: boolean): void {
    const map = new Map<number, BlockRef>();
    const lastBlock = Math.ceil(attr.size / this.blockSizeBytes);
    for (const ref of refs) {
      if (ref.index >= lastBlock) continue; // past the end: gone from the map
      map.delete(ref.index);
      map.set(ref.index, ref);
    }
    let whole = complete;
    for (const index of map.keys()) {
      if (map.size <= this.maxRefsPerInode) break;
      map.delete(index);
      whole = false; // a dropped ref is no longer known to be there
    }
    this.put({ attr, refs: map, complete: whole });
  }

  forget(ino: number): void {
    this.files.delete(ino);
  }

  /** What the entry tells of block `index`. A block wholly past the end is a hole whatever the
   * map says (nothing past the size is ever read); below it, the ref, or a hole if the map is
   * complete, or nothing. */
  blockOf(file: KnownFile, index: number): KnownBlock {
    if (index * this.blockSizeBytes >= file.attr.size) return 'hole';
    const ref = file.refs.get(index);
    if (ref !== undefined) return ref;
    return file.complete ? 'hole' : undefined;
  }

  private put(file: KnownFile): void {
    this.files.delete(file.attr.ino);
    this.files.set(file.attr.ino, file);
    for (const ino of this.files.keys()) {
      if (this.files.size <= this.maxInodes) break;
      this.files.delete(ino);
    }
  }
}
