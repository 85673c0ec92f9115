// The contract between a file system and the FUSE binding: data types of the low-level
// (inode-based) FUSE API and the FuseOperations interface a file system implements.
// Handlers are async; each gets the caller's context and one args object and either returns
// the result or throws (FuseError, or anything with an errno `code`); the binding replies
// exactly once. An operation left undefined is not registered with libfuse (ENOSYS or
// libfuse's default). Inode numbers and file handles are JS numbers (at most 2^53).
// Names, symlink targets and xattr names are bytes in Linux; here they are strings in the
// lossless form of common/name-bytes.ts (UTF-8 text as is, other bytes as U+DC80..U+DCFF), and
// the binding hands the kernel back exactly the bytes a string stands for.

/** A point in time; `sec` may be negative (before 1970), `nsec` is in [0, 1e9). */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** Inode attributes as the kernel sees them (struct stat). */
export interface Attr {
  ino: number;
  /** File type and permission bits (S_IFREG | 0o644 …). */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** Device number for character and block devices (makedev encoding), else 0. */
  rdev: number;
  sizeBytes: number;
  blksizeBytes: number;
  /** Allocated size in 512-byte units. */
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** Who made the request. `umask` is meaningful for create, mknod and mkdir only. */
export interface RequestContext {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
  /** Set only for requests the caller can interrupt (blocking setlk): aborts on interrupt. */
  signal?: AbortSignal;
}

/**
 * A positive lookup result. Each one returned (lookup, mknod, mkdir, symlink, link, create,
 * readdirplus entries other than "." and "..") adds one to the inode's lookup count, which the
 * kernel later gives back through `forget`.
 */
export interface Entry {
  ino: number;
  generation?: number;
  attr: Attr;
  /** How long the kernel may cache the attributes; 0 disables caching. */
  attrTimeoutSec: number;
  /** How long the kernel may cache the name → inode binding; 0 disables caching. */
  entryTimeoutSec: number;
}

/** A negative lookup result the kernel may cache for `entryTimeoutSec` (ENOENT otherwise). */
export interface NegativeEntry {
  ino: 0;
  entryTimeoutSec: number;
}

export interface AttrReply {
  attr: Attr;
  attrTimeoutSec: number;
}

/** The answer to open, opendir and create. `fh` is the file system's own handle number. */
export interface OpenReply {
  fh: number;
  /** Bypass the page cache for this open file. */
  directIo?: boolean;
  /** Keep cached data from earlier opens. */
  keepCache?: boolean;
  nonSeekable?: boolean;
  /** opendir only: let the kernel cache directory entries. */
  cacheReaddir?: boolean;
  /** No flush on close. */
  noFlush?: boolean;
}

export interface CreateReply {
  entry: Entry;
  open: OpenReply;
}

/** One readdir entry; `nextOffset` is the cookie the kernel passes back to continue after it. */
export interface DirEntry {
  name: string;
  ino: number;
  /** Only the file type bits (S_IFMT) are used. */
  mode: number;
  nextOffset: number;
}

/** One readdirplus entry: a directory entry with full lookup information. */
export interface DirEntryPlus {
  name: string;
  nextOffset: number;
  entry: Entry;
}

/** statvfs fields; counts are in units of `fragmentSizeBytes`. */
export interface StatFs {
  blockSizeBytes: number;
  fragmentSizeBytes: number;
  blocks: number;
  blocksFree: number;
  blocksAvailable: number;
  files: number;
  filesFree: number;
  filesAvailable: number;
  fsid?: number;
  flags?: number;
  nameMaxBytes: number;
}

/** A POSIX record lock. type: F_RDLCK 0, F_WRLCK 1, F_UNLCK 2. len 0 means to end of file. */
export interface FileLock {
  type: number;
  start: number;
  len: number;
  pid: number;
}

/** Negotiated connection parameters, reported once the kernel's INIT has been answered. */
export interface ConnInfo {
  protoMajor: number;
  protoMinor: number;
  maxWriteBytes: number;
  maxReadaheadBytes: number;
  /** FUSE_CAP_* bits the kernel offers, and the ones in use. */
  capable: number;
  want: number;
  maxBackground: number;
  congestionThreshold: number;
}

// ---------------------------------------------------------------- per-operation arguments

export interface LookupArgs { parent: number; name: string }
export interface ForgetArgs { ino: number; nlookup: number }
export interface GetattrArgs { ino: number; fh: number | undefined }

/**
 * setattr: only the fields present change. Times are either explicit or 'now' (the file
 * system's clock: touch without -d, utimensat UTIME_NOW); an absent time stays as it is
 * (UTIME_OMIT). `valid` is the raw FUSE_SET_ATTR_* mask.
 */
export interface SetattrArgs {
  ino: number;
  fh: number | undefined;
  valid: number;
  mode?: number;
  uid?: number;
  gid?: number;
  sizeBytes?: number;
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
  ctime?: Timespec;
}

export interface InoArgs { ino: number }
export interface MknodArgs { parent: number; name: string; mode: number; rdev: number }
export interface MkdirArgs { parent: number; name: string; mode: number }
export interface NameArgs { parent: number; name: string }
export interface SymlinkArgs { parent: number; name: string; target: string }
/** flags: RENAME_NOREPLACE 1, RENAME_EXCHANGE 2 (RENAME_WHITEOUT 4). */
export interface RenameArgs { parent: number; name: string; newParent: number; newName: string; flags: number }
export interface LinkArgs { ino: number; newParent: number; newName: string }
export interface OpenArgs { ino: number; flags: number }
export interface CreateArgs { parent: number; name: string; mode: number; flags: number }
export interface ReadArgs { ino: number; fh: number; offset: number; sizeBytes: number; flags: number }
/** `data` is a copy owned by the handler. `writepage` marks a write-back from the page cache
 * (caller identity then is not meaningful). */
export interface WriteArgs { ino: number; fh: number; offset: number; data: Buffer; writepage: boolean; flags: number }
export interface FlushArgs { ino: number; fh: number; lockOwner: bigint }
export interface ReleaseArgs { ino: number; fh: number; flags: number; flush: boolean; flockRelease: boolean; lockOwner: bigint }
export interface FsyncArgs { ino: number; fh: number; datasync: boolean }
export interface ReaddirArgs { ino: number; fh: number; offset: number; sizeBytes: number }
export interface ReleasedirArgs { ino: number; fh: number }
export interface SetxattrArgs { ino: number; name: string; value: Buffer; flags: number }
/** `sizeBytes` 0 is a size probe; the binding answers probes and ERANGE itself. */
export interface GetxattrArgs { ino: number; name: string; sizeBytes: number }
export interface ListxattrArgs { ino: number; sizeBytes: number }
export interface RemovexattrArgs { ino: number; name: string }
/** mask: R_OK 4, W_OK 2, X_OK 1, F_OK 0. */
export interface AccessArgs { ino: number; mask: number }
export interface FallocateArgs { ino: number; fh: number; mode: number; offset: number; length: number }
export interface CopyFileRangeArgs {
  inoIn: number; fhIn: number; offsetIn: number;
  inoOut: number; fhOut: number; offsetOut: number;
  length: number; flags: number;
}
/** whence: SEEK_SET 0, SEEK_CUR 1, SEEK_END 2, SEEK_DATA 3, SEEK_HOLE 4. */
export interface LseekArgs { ino: number; fh: number; offset: number; whence: number }
export interface GetlkArgs { ino: number; fh: number; lockOwner: bigint; lock: FileLock }
/** `sleep` is F_SETLKW: the handler may wait for the lock; ctx.signal aborts on interrupt. */
export interface SetlkArgs { ino: number; fh: number; lockOwner: bigint; lock: FileLock; sleep: boolean }

type Result<T> = T | Promise<T>;

/**
 * What a file system implements. Every method is optional; contracts:
 * - Throw to fail: FuseError('ENOENT'), a Node fs error, anything with an errno `code`; any
 *   other thrown value answers EIO (and is reported through FuseSessionOptions.onHandlerError).
 * - Buffers passed in (write data, xattr values) belong to the handler; buffers returned are
 *   copied to the kernel before the promise's continuation runs, so they may be reused after.
 * - Entry-returning methods add one lookup to the inode unless the reply could not be sent, in
 *   which case the binding calls `forget(ino, 1)` itself; open-returning methods likewise get
 *   `release`/`releasedir` when the caller was interrupted before the reply arrived.
 */
export interface FuseOperations {
  /** Called once the kernel's INIT is answered, with the negotiated parameters. */
  init?(info: ConnInfo): void;
  /** Called once the session has ended (after unmount). */
  destroy?(): void;

  lookup?(ctx: RequestContext, args: LookupArgs): Result<Entry | NegativeEntry>;
  /** The kernel drops nlookup references; no reply, no caller context. */
  forget?(args: ForgetArgs): void;
  getattr?(ctx: RequestContext, args: GetattrArgs): Result<AttrReply>;
  setattr?(ctx: RequestContext, args: SetattrArgs): Result<AttrReply>;
  readlink?(ctx: RequestContext, args: InoArgs): Result<string>;
  mknod?(ctx: RequestContext, args: MknodArgs): Result<Entry>;
  mkdir?(ctx: RequestContext, args: MkdirArgs): Result<Entry>;
  unlink?(ctx: RequestContext, args: NameArgs): Result<void>;
  rmdir?(ctx: RequestContext, args: NameArgs): Result<void>;
  symlink?(ctx: RequestContext, args: SymlinkArgs): Result<Entry>;
  rename?(ctx: RequestContext, args: RenameArgs): Result<void>;
  link?(ctx: RequestContext, args: LinkArgs): Result<Entry>;
  open?(ctx: RequestContext, args: OpenArgs): Result<OpenReply>;
  create?(ctx: RequestContext, args: CreateArgs): Result<CreateReply>;
  /** Returns at most sizeBytes bytes; fewer means end of file (unless direct I/O). */
  read?(ctx: RequestContext, args: ReadArgs): Result<Uint8Array>;
  /** Returns the number of bytes written. */
  write?(ctx: RequestContext, args: WriteArgs): Result<number>;
  flush?(ctx: RequestContext, args: FlushArgs): Result<void>;
  release?(ctx: RequestContext, args: ReleaseArgs): Result<void>;
  fsync?(ctx: RequestContext, args: FsyncArgs): Result<void>;
  opendir?(ctx: RequestContext, args: OpenArgs): Result<OpenReply>;
  /** Entries after `offset`, in order; the binding packs as many as fit in sizeBytes. */
  readdir?(ctx: RequestContext, args: ReaddirArgs): Result<DirEntry[]>;
  /**
   * Like readdir with lookup information. Each entry other than "." and ".." counts as one
   * lookup; entries that do not fit are given back through `forget` by the binding.
   */
  readdirplus?(ctx: RequestContext, args: ReaddirArgs): Result<DirEntryPlus[]>;
  releasedir?(ctx: RequestContext, args: ReleasedirArgs): Result<void>;
  fsyncdir?(ctx: RequestContext, args: FsyncArgs): Result<void>;
  statfs?(ctx: RequestContext, args: InoArgs): Result<StatFs>;
  setxattr?(ctx: RequestContext, args: SetxattrArgs): Result<void>;
  /** The whole value; throw ENODATA when absent. */
  getxattr?(ctx: RequestContext, args: GetxattrArgs): Result<Uint8Array>;
  /** All names (with their namespace prefix, e.g. 'user.x'). */
  listxattr?(ctx: RequestContext, args: ListxattrArgs): Result<string[]>;
  removexattr?(ctx: RequestContext, args: RemovexattrArgs): Result<void>;
  access?(ctx: RequestContext, args: AccessArgs): Result<void>;
  fallocate?(ctx: RequestContext, args: FallocateArgs): Result<void>;
  /** Returns the number of bytes copied. */
  copyFileRange?(ctx: RequestContext, args: CopyFileRangeArgs): Result<number>;
  /** Returns the resulting offset. */
  lseek?(ctx: RequestContext, args: LseekArgs): Result<number>;
  /** Returns the conflicting lock, or one with type F_UNLCK when there is none. */
  getlk?(ctx: RequestContext, args: GetlkArgs): Result<FileLock>;
  setlk?(ctx: RequestContext, args: SetlkArgs): Result<void>;
}
