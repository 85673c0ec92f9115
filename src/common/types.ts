// Plain data shapes shared by the stores, the wire protocol and the client. No behaviour here.
// Inode numbers are quorumfs inode numbers and are also the FUSE inode numbers; the root is 1.

export const ROOT_INO = 1;

/** A point in time with nanoseconds, as in struct timespec. nsec is in [0, 1e9). */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** File type bits of st_mode (as in <sys/stat.h>). */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export interface InodeAttr {
  ino: number;
  /** Full st_mode: file type bits and permission bits (including setuid, setgid, sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes. For a symlink, the target's length. */
  size: number;
  nlink: number;
  /** Device number for character and block devices; 0 otherwise. */
  rdev: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** Bumps on every change of the inode, so caches can tell a stale copy. */
  generation: number;
}

export interface DirEntry {
  name: string;
  ino: number;
  /** st_mode of the entry's inode (type and permissions). */
  mode: number;
  /** Cookie to pass as the offset of the next readdir to continue after this entry. */
  cookie: number;
}

/** One entry of a file's block map: the committed version of block `index` of inode `ino`. */
export interface BlockRef {
  index: number;
  version: number;
  checksum: string;
  /** Bytes in this block; less than the block size only for the last block or a short write. */
  lengthBytes: number;
}

/** A block that is no longer referenced and can be deleted from the data servers. */
export interface OrphanBlock {
  ino: number;
  index: number;
  version: number;
}

/** The key under which a data server stores block `index` of inode `ino`. */
export function blockKey(ino: number, index: number): string {
  return `${ino}:${index}`;
}

export function parseBlockKey(key: string): { ino: number; index: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec(key);
  if (!m) return undefined;
  return { ino: Number(m[1]), index: Number(m[2]) };
}

export interface Caller {
  uid: number;
  gid: number;
  /** Supplementary groups, when known. */
  groups?: number[];
}

/** Fields of setattr; each is optional; 'now' means the server's clock. */
export interface SetAttrRequest {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
  ctime?: Timespec;
}

export interface StatFs {
  blockSizeBytes: number;
  totalBlocks: number;
  freeBlocks: number;
  availBlocks: number;
  totalInodes: number;
  freeInodes: number;
  maxNameBytes: number;
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
/** setxattr(2) flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
/** open(2) flags the mount looks at (Linux values; the kernel passes them to open and write). */
export const O_EXCL = 0o200;
export const O_APPEND = 0o2000;
export const O_DIRECT = 0o40000;
/** fallocate(2) modes. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;
