// The wire between TypeScript and the native addon: operation codes and the Float64Array block
// layouts that carry attributes and directory entries (mirrors native/fuse/src/replies.c and
// qfs_fuse.h; change both together). Pure functions, no I/O.

import { nameByteLength, nameToBytes } from '../common/name-bytes.js';
import type { Attr, DirEntry, DirEntryPlus, Entry, NegativeEntry, OpenReply, StatFs } from './fuse-operations.js';

/** Operation codes; numbers match enum qfs_op in native/fuse/src/qfs_fuse.h. */
export const OpCode = {
  INIT: 0,
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  MKNOD: 6,
  MKDIR: 7,
  UNLINK: 8,
  RMDIR: 9,
  SYMLINK: 10,
  RENAME: 11,
  LINK: 12,
  OPEN: 13,
  READ: 14,
  WRITE: 15,
  FLUSH: 16,
  RELEASE: 17,
  FSYNC: 18,
  OPENDIR: 19,
  READDIR: 20,
  RELEASEDIR: 21,
  FSYNCDIR: 22,
  STATFS: 23,
  SETXATTR: 24,
  GETXATTR: 25,
  LISTXATTR: 26,
  REMOVEXATTR: 27,
  ACCESS: 28,
  CREATE: 29,
  GETLK: 30,
  SETLK: 31,
  READDIRPLUS: 32,
  FALLOCATE: 33,
  COPY_FILE_RANGE: 34,
  LSEEK: 35,
  ENDED: 40,
  INTERRUPT: 41,
  NOTIFY_DONE: 42,
} as const;

/** Entry/attr block: index of each field. */
export const EntryField = {
  INO: 0,
  GENERATION: 1,
  ATTR_TIMEOUT: 2,
  ENTRY_TIMEOUT: 3,
  MODE: 4,
  NLINK: 5,
  UID: 6,
  GID: 7,
  RDEV: 8,
  SIZE: 9,
  BLKSIZE: 10,
  BLOCKS: 11,
  ATIME_S: 12,
  ATIME_NS: 13,
  MTIME_S: 14,
  MTIME_NS: 15,
  CTIME_S: 16,
  CTIME_NS: 17,
} as const;
export const ENTRY_BLOCK_LENGTH = 18;
const DIRENT_STRIDE = 3;
const DIRENT_PLUS_STRIDE = 1 + ENTRY_BLOCK_LENGTH;

/** Bits of the open-reply flags word. */
const OpenBits = {
  DIRECT_IO: 1,
  KEEP_CACHE: 2,
  NONSEEKABLE: 4,
  CACHE_READDIR: 8,
  NOFLUSH: 16,
} as const;

/** FUSE_SET_ATTR_* bits of setattr's `valid` mask. */
export const SetattrValid = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  FORCE: 1 << 9,
  CTIME: 1 << 10,
} as const;

/** Writes attr into block at `at` using the entry layout (ino at INO). */
export function encodeAttr(block: Float64Array, at: number, attr: Attr): void {
  block[at + EntryField.INO] = attr.ino;
  block[at + EntryField.MODE] = attr.mode;
  block[at + EntryField.NLINK] = attr.nlink;
  block[at + EntryField.UID] = attr.uid;
  block[at + EntryField.GID] = attr.gid;
  block[at + EntryField.RDEV] = attr.rdev;
  block[at + EntryField.SIZE] = attr.sizeBytes;
  block[at + EntryField.BLKSIZE] = attr.blksizeBytes;
  block[at + EntryField.BLOCKS] = attr.blocks;
  block[at + EntryField.ATIME_S] = attr.atime.sec;
  block[at + EntryField.ATIME_NS] = attr.atime.nsec;
  block[at + EntryField.MTIME_S] = attr.mtime.sec;
  block[at + EntryField.MTIME_NS] = attr.mtime.nsec;
  block[at + EntryField.CTIME_S] = attr.ctime.sec;
  block[at + EntryField.CTIME_NS] = attr.ctime.nsec;
}

export function encodeEntry(block: Float64Array, at: number, entry: Entry | NegativeEntry): void {
  block.fill(0, at, at + ENTRY_BLOCK_LENGTH);
  block[at + EntryField.ENTRY_TIMEOUT] = entry.entryTimeoutSec;
  if (entry.ino === 0) return;
  const positive = entry as Entry;
  encodeAttr(block, at, positive.attr);
  block[at + EntryField.INO] = positive.ino;
  block[at + EntryField.GENERATION] = positive.generation ?? 0;
  block[at + EntryField.ATTR_TIMEOUT] = positive.attrTimeoutSec;
}

export function encodeOpenBits(open: OpenReply): number {
  return (
    (open.directIo ? OpenBits.DIRECT_IO : 0) |
    (open.keepCache ? OpenBits.KEEP_CACHE : 0) |
    (open.nonSeekable ? OpenBits.NONSEEKABLE : 0) |
    (open.cacheReaddir ? OpenBits.CACHE_READDIR : 0) |
    (open.noFlush ? OpenBits.NOFLUSH : 0)
  );
}

/** Names go to the kernel as their bytes (see common/name-bytes.ts). */
export function encodeDirents(entries: readonly DirEntry[]): { names: Buffer[]; numbers: Float64Array } {
  const names = new Array<Buffer>(entries.length);
  const numbers = new Float64Array(entries.length * DIRENT_STRIDE);
  entries.forEach((e, i) => {
    names[i] = nameToBytes(e.name);
    numbers[i * DIRENT_STRIDE] = e.ino;
    numbers[i * DIRENT_STRIDE + 1] = e.mode;
    numbers[i * DIRENT_STRIDE + 2] = e.nextOffset;
  });
  return { names, numbers };
}

export function encodeDirentsPlus(entries: readonly DirEntryPlus[]): { names: Buffer[]; numbers: Float64Array } {
  const names = new Array<Buffer>(entries.length);
  const numbers = new Float64Array(entries.length * DIRENT_PLUS_STRIDE);
  entries.forEach((e, i) => {
    names[i] = nameToBytes(e.name);
    numbers[i * DIRENT_PLUS_STRIDE] = e.nextOffset;
    encodeEntry(numbers, i * DIRENT_PLUS_STRIDE + 1, e.entry);
  });
  return { names, numbers };
}

export function encodeStatfs(s: StatFs): Float64Array {
  return Float64Array.of(
    s.blockSizeBytes,
    s.fragmentSizeBytes,
    s.blocks,
    s.blocksFree,
    s.blocksAvailable,
    s.files,
    s.filesFree,
    s.filesAvailable,
    s.fsid ?? 0,
    s.flags ?? 0,
    s.nameMaxBytes,
  );
}

const FUSE_NAME_OFFSET_BYTES = 24;
const FUSE_ENTRY_OUT_BYTES = 128;

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Bytes one readdirplus entry takes (struct fuse_direntplus, 8-aligned). */
export function direntPlusSizeBytes(name: string): number {
  return align8(FUSE_ENTRY_OUT_BYTES + FUSE_NAME_OFFSET_BYTES + nameByteLength(name));
}
