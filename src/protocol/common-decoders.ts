// Decoders for the data shapes of src/common/types.ts, shared by every service's messages.

import { limits } from '../common/limits.js';
import type { BlockRef, DirEntry, InodeAttr, OrphanBlock, StatFs, Timespec } from '../common/types.js';
import { wireName } from './wire-names.js';
import { array, boundedStr, int, literal, object, oneOf, uint, type Decoder } from './schema.js';

export const timespec: Decoder<Timespec> = object({ sec: int, nsec: uint });

export const timespecOrNow: Decoder<Timespec | 'now'> = oneOf(literal('now'), timespec);

export const inodeAttr: Decoder<InodeAttr> = object({
  ino: uint,
  mode: uint,
  uid: uint,
  gid: uint,
  size: uint,
  nlink: uint,
  rdev: uint,
  atime: timespec,
  mtime: timespec,
  ctime: timespec,
  generation: uint,
});

export const checksumStr = boundedStr(80);

export const blockRef: Decoder<BlockRef> = object({ index: uint, version: uint, checksum: checksumStr, lengthBytes: uint });

const orphanBlock: Decoder<OrphanBlock> = object({ ino: uint, index: uint, version: uint });

export const orphanList = array(orphanBlock, 1_000_000);

export const dirEntry: Decoder<DirEntry> = object({
  name: wireName(limits.maxNameBytes),
  ino: uint,
  mode: uint,
  cookie: uint,
});

export const statFs: Decoder<StatFs> = object({
  blockSizeBytes: uint,
  totalBlocks: uint,
  freeBlocks: uint,
  availBlocks: uint,
  totalInodes: uint,
  freeInodes: uint,
  maxNameBytes: uint,
});

// A name's byte length is checked by the store (NAME_TOO_LONG, not INVALID): the bound here only
// keeps a hostile message small.
export const name = wireName(limits.maxNameBytes * 4);

/** A symlink target: bytes like a name (any but NUL), sent the same way. */
export const symlinkTarget = wireName(limits.maxSymlinkBytes * 4);

export const empty = object({});
