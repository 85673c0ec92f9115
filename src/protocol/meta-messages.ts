// Methods the metadata server serves: one per MetaStore method, each one transaction there.
// The mediator forwards the namespace methods to clients unchanged (see mediator-messages.ts).

import type { AccessPolicy } from '../core/access-policy.js';
import { limits } from '../common/limits.js';
import {
  blockRef,
  dirEntry,
  empty,
  inodeAttr,
  name,
  orphanList,
  statFs,
  timespec,
  timespecOrNow,
} from './common-decoders.js';
import { method } from './method.js';
import { array, bool, boundedStr, bytes, object, optional, str, uint } from './schema.js';

export const caller = object({ uid: uint, gid: uint, groups: optional(array(uint, 65536)) });

const removeResult = object({ attr: inodeAttr, orphans: orphanList });
const commitResult = object({ attr: inodeAttr, orphans: orphanList });

export const setAttrRequest = object({
  mode: optional(uint),
  uid: optional(uint),
  gid: optional(uint),
  size: optional(uint),
  atime: optional(timespecOrNow),
  mtime: optional(timespecOrNow),
  ctime: optional(timespec),
});

const xattrName = boundedStr(limits.maxXattrNameBytes * 4);
const blockList = array(blockRef, limits.maxBlocksPerCall);

/** Namespace methods: the same on the metadata server and on the mediator. */
export const namespaceMethods = {
  getattr: method('getattr', object({ ino: uint }), inodeAttr, true),
  lookup: method('lookup', object({ parent: uint, name }), inodeAttr, true),
  create: method(
    'create',
    object({ parent: uint, name, mode: uint, rdev: optional(uint), caller, exclusive: bool }),
    inodeAttr,
    false,
  ),
  mkdir: method('mkdir', object({ parent: uint, name, mode: uint, caller }), inodeAttr, false),
  symlink: method(
    'symlink',
    object({ parent: uint, name, target: boundedStr(limits.maxSymlinkBytes * 4), caller }),
    inodeAttr,
    false,
  ),
  readlink: method('readlink', object({ ino: uint }), object({ target: str }), true),
  link: method('link', object({ ino: uint, newParent: uint, newName: name }), inodeAttr, false),
  unlink: method('unlink', object({ parent: uint, name }), removeResult, false),
  rmdir: method('rmdir', object({ parent: uint, name }), removeResult, false),
  rename: method(
    'rename',
    object({ oldParent: uint, oldName: name, newParent: uint, newName: name, flags: uint }),
    object({ replaced: optional(removeResult) }),
    false,
  ),
  readdir: method(
    'readdir',
    object({ ino: uint, cookie: uint, limit: uint }),
    object({ entries: array(dirEntry, limits.maxReaddirEntries) }),
    true,
  ),
  /** readdir with each entry's attributes ('.' and '..' included). */
  readdirplus: method(
    'readdirplus',
    object({ ino: uint, cookie: uint, limit: uint }),
    object({ entries: array(object({ entry: dirEntry, attr: inodeAttr }), limits.maxReaddirEntries) }),
    true,
  ),
  setxattr: method('setxattr', object({ ino: uint, name: xattrName, value: bytes, flags: uint }), empty, false),
  getxattr: method('getxattr', object({ ino: uint, name: xattrName }), object({ value: bytes }), true),
  listxattr: method('listxattr', object({ ino: uint }), object({ names: array(str, 65536) }), true),
  removexattr: method('removexattr', object({ ino: uint, name: xattrName }), empty, false),
  statfs: method('statfs', empty, statFs, true),
  hold: method('hold', object({ ino: uint }), empty, false),
  release: method('release', object({ ino: uint }), object({ orphans: orphanList }), false),
} as const;

/** Methods only the mediator calls on the metadata server. */
export const metaInternalMethods = {
  setattr: method(
    'setattr',
    object({ ino: uint, attr: setAttrRequest, now: timespec }),
    commitResult,
    false,
  ),
  getBlocks: method(
    'getBlocks',
    object({ ino: uint, fromIndex: uint, toIndex: uint }),
    object({ attr: inodeAttr, blocks: blockList }),
    true,
  ),
  commitBlocks: method(
    'commitBlocks',
    object({ ino: uint, blocks: blockList, sizeBytes: uint, time: timespec }),
    commitResult,
    false,
  ),
  reserveVersions: method('reserveVersions', object({ count: uint }), object({ first: uint }), false),
  listBlocks: method(
    'listBlocks',
    object({ afterIno: uint, afterIndex: uint, limit: uint }),
    object({ blocks: array(object({ ino: uint, index: uint, version: uint, checksum: str, lengthBytes: uint }), limits.maxBlocksPerCall) }),
    true,
  ),
  committedVersions: method(
    'committedVersions',
    object({ blocks: array(object({ ino: uint, index: uint }), limits.maxBlocksPerBatch) }),
    object({ versions: array(uint, limits.maxBlocksPerBatch) }),
    true,
  ),
  counts: method('counts', empty, object({ inodes: uint, blocks: uint, bytes: uint }), true),
  ping: method('ping', empty, object({ pid: uint }), true),
} as const;

export const metaMethods = { ...namespaceMethods, ...metaInternalMethods } as const;

/** The metadata server trusts its callers' uid/gid and block maps: only the mediator may call it. */
export const metaAccess: AccessPolicy = { defaultRoles: ['server'] };
