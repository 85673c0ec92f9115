// The metadata store interface: inodes, directory entries, symlink targets, extended attributes
// and block maps. Every method is one atomic transaction: it either happens whole or not at all,
// and once it returns the change is durable. Implementation: SqliteMetaStore, on disk (crash
// safe) or in memory (':memory:', for tests and simulation). Errors are QfsError with the codes named.

import type {
  BlockRef,
  Caller,
  DirEntry,
  InodeAttr,
  OrphanBlock,
  SetAttrRequest,
  StatFs,
  Timespec,
} from '../common/types.js';

export interface CreateRequest {
  parent: number;
  name: string;
  /** Full st_mode: S_IFREG, S_IFDIR, S_IFIFO, S_IFCHR, S_IFBLK or S_IFSOCK plus permissions. */
  mode: number;
  rdev?: number;
  caller: Caller;
  /** If true and the name exists, fail with EXISTS (O_EXCL); otherwise return the existing
   * regular file instead of failing (only meaningful for regular files). */
  exclusive: boolean;
  /** Holds the inode (new or existing) for this session in the same transaction, as an open with
   * O_CREAT does: no unlink can come between the create and the hold. */
  session?: string;
}

export interface CommitBlocksRequest {
  ino: number;
  /** New block-map entries; each replaces the entry with the same index. */
  blocks: BlockRef[];
  /** The file's size after the write; the size only grows here (truncate is setattr). */
  sizeBytes: number;
  /** mtime and ctime to set (the time of the write). */
  time: Timespec;
  /** If given, the commit is made only if the inode is still as the writer planned from. */
  expect?: CommitExpectation;
}

/** The state of an inode a write was planned from, checked in the commit's transaction. */
export interface CommitExpectation {
  /** The file's size. */
  sizeBytes: number;
  /** Block-map versions by index; 0 for an index with no entry (a hole). */
  blocks: Array<{ index: number; version: number }>;
}

export interface CommitResult {
  attr: InodeAttr;
  /** Versions replaced by this commit, to be deleted from the data servers. */
  orphans: OrphanBlock[];
}

export interface RemoveResult {
  /** The attributes of the removed entry's inode after the change (nlink already decremented). */
  attr: InodeAttr;
  /** Blocks of an inode whose last link went away, to be deleted from the data servers. */
  orphans: OrphanBlock[];
}

export interface SetHoldsResult {
  /** Blocks of inodes deleted because the session's hold was the last thing keeping them. */
  orphans: OrphanBlock[];
  /** Inodes asked to be held that no longer exist. */
  missing: number[];
}

export interface MetaStore {
  /** Attributes of an inode. NOT_FOUND if there is none. */
  getattr(ino: number): InodeAttr;
  /** The inode a name in a directory refers to. NOT_FOUND, NOT_DIR. */
  lookup(parent: number, name: string): InodeAttr;
  /** Creates a non-directory, non-symlink inode and its entry. EXISTS (when exclusive), NOT_DIR,
   * NOT_FOUND (parent), NAME_TOO_LONG. New inodes belong to the caller; the parent's mtime and
   * ctime change. A setgid parent directory passes its gid on (and its setgid bit to subdirectories). */
  create(req: CreateRequest): InodeAttr;
  /** Creates a directory. EXISTS, NOT_DIR, NOT_FOUND, NAME_TOO_LONG. */
  mkdir(parent: number, name: string, mode: number, caller: Caller): InodeAttr;
  /** Creates a symbolic link holding `target` (at most limits.maxSymlinkBytes). */
  symlink(parent: number, name: string, target: string, caller: Caller): InodeAttr;
  readlink(ino: number): string;
  /** Adds a name for an existing non-directory inode. IS_DIR→PERMISSION (directories), EXISTS. */
  link(ino: number, newParent: number, newName: string): InodeAttr;
  /** Removes a non-directory entry. IS_DIR, NOT_FOUND. Blocks become orphans when nlink reaches
   * 0 and no session holds the inode (see hold/release). */
  unlink(parent: number, name: string): RemoveResult;
  /** Removes an empty directory. NOT_EMPTY, NOT_DIR, NOT_FOUND. */
  rmdir(parent: number, name: string): RemoveResult;
  /** Renames with POSIX semantics: replaces a file or an empty directory, refuses to move a
   * directory into its own subtree (INVALID), NOT_EMPTY, IS_DIR/NOT_DIR for kind mismatches.
   * flags: RENAME_NOREPLACE (EXISTS if the target exists) or RENAME_EXCHANGE (swap both). */
  rename(oldParent: number, oldName: string, newParent: number, newName: string, flags: number): RemoveResult | null;
  /** Changes attributes. A size change truncates or extends the block map (orphans returned);
   * the last block is cut to the new length by the caller, not here (its data is elsewhere). */
  setattr(ino: number, req: SetAttrRequest, now: Timespec): CommitResult;
  /** Directory entries after `cookie` (0 = from the start), at most `limit`, in a stable order;
   * includes '.' and '..'. */
  readdir(ino: number, cookie: number, limit: number): DirEntry[];
  /** readdir's page, each entry with its inode's attributes, read in the same transaction (the
   * batch behind the readdirplus call: one read instead of one getattr per entry). Same errors. */
  readdirplus(ino: number, cookie: number, limit: number): Array<{ entry: DirEntry; attr: InodeAttr }>;
  /** Block-map entries with fromIndex <= index < toIndex, in index order, at most
   * limits.maxBlocksPerCall of them: a full page means the caller goes on after its last index
   * (so holes in a sparse file cost nothing). INVALID if the range is reversed; NOT_FOUND if
   * there is no such inode. */
  getBlocks(ino: number, fromIndex: number, toIndex: number): BlockRef[];
  /** Commits newly written blocks and the new size in one transaction: the commit point of a
   * write. NOT_FOUND if the inode was removed meanwhile (its blocks are then orphans). With
   * `expect`: STALE, committing nothing, if the size or a named block's version differs, unless
   * every block of the request is already in the map at its version (a repeat of this very
   * commit: versions are never reused), which is made again as without `expect`. */
  commitBlocks(req: CommitBlocksRequest): CommitResult;
  /** Reserves `count` fresh block versions, durably: no version is handed out twice, even after
   * a crash. Returns the first; the range is [first, first + count). */
  reserveVersions(count: number): number;
  setxattr(ino: number, name: string, value: Uint8Array, flags: number): void;
  getxattr(ino: number, name: string): Uint8Array;
  listxattr(ino: number): string[];
  removexattr(ino: number, name: string): void;
  statfs(): StatFs;
  /** Marks a read access as relatime does: atime becomes `now` if it is not after mtime or
   * ctime, or is a day old; ctime stays. Returns whether it changed. Not synced by itself (a
   * power loss can only set an access time back). NOT_FOUND. */
  markAccess(ino: number, now: Timespec): boolean;
  /** Every block of every file, in (ino, index) order, after the position given; for heal and
   * scrub. */
  listBlocks(afterIno: number, afterIndex: number, limit: number): Array<BlockRef & { ino: number }>;
  /** The committed version of each (ino, index) asked about, 0 where there is none (no such
   * block or inode): the scrubber's test for versions nothing refers to. At most
   * limits.maxBlocksPerBatch. */
  committedVersions(blocks: ReadonlyArray<{ ino: number; index: number }>): number[];
  /** Counts for status: inodes, blocks, bytes. */
  counts(): { inodes: number; blocks: number; bytes: number };
  /** Holds an inode for a session (a mount that has it open) and returns its attributes, in one
   * transaction. While any session holds an inode, losing its last name keeps its attributes
   * and blocks. Holds are a set: holding twice is holding once. Durable: they survive a restart,
   * until released or replaced. NOT_FOUND if there is no such inode; INVALID for a bad session. */
  hold(session: string, ino: number): InodeAttr;
  /** Drops the session's hold of an inode (none: nothing happens). When that was the inode's last
   * hold and nlink is 0, the inode is deleted and its blocks are returned as orphans. */
  release(session: string, ino: number): OrphanBlock[];
  /** Makes `inos` the session's whole set of holds: holds the ones that still exist, releases
   * the rest (as release does). [] ends the session's holds. At most limits.maxHoldsPerSession. */
  setHolds(session: string, inos: readonly number[]): SetHoldsResult;
  /** The sessions that hold something (at most limits.maxHoldSessions), in order. */
  holdSessions(): string[];
  /** Blocks of the inodes that an earlier run left with nlink 0 and no hold (a version 2
   * database: its holds were not durable); opening the store deletes those inodes. Returns them
   * once, then []. */
  takeStartupOrphans(): OrphanBlock[];
  close(): void;
}

/** A metadata store whose transactions may wait (on a network: the etcd engine). Same methods,
 * same promises, each resolving once its transaction has committed. */
export type AsyncMetaStore = {
  [K in keyof MetaStore]: MetaStore[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** The leader's fence: a commit is made only while the key `key` exists with this create
 * revision (the leader's election key, which lives as long as its lease). */
export interface Fence {
  key: string;
  createRevision: string;
}

/** A store that commits only under a fence (the etcd engine: it takes the leader's fence from its
 * mediator and refuses changes, NOT_LEADER, without one or once it is gone). */
export interface FencedMetaStore extends AsyncMetaStore {
  setFence(fence: Fence | undefined): void;
}

export function isFenced(store: AsyncMetaStore): store is FencedMetaStore {
  return typeof (store as Partial<FencedMetaStore>).setFence === 'function';
}

/** A synchronous store (SQLite) behind the asynchronous interface: each call runs at once, in the
 * order made, and its result or error is handed back as a promise. */
export function asyncMetaStore(store: MetaStore): AsyncMetaStore {
  return new Proxy(store, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        try {
          return Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args));
        } catch (err) {
          return Promise.reject(err);
        }
      };
    },
  }) as unknown as AsyncMetaStore;
}
