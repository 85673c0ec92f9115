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
  symlinkTarget,
  statFs,
  timespec,
  timespecOrNow,
} from './common-decoders.js';
import { method } from './method.js';
import { wireName } from './wire-names.js';
import { array, bool, boundedStr, bytes, object, optional, str, uint } from './schema.js';

const caller = object({ uid: uint, gid: uint, groups: optional(array(uint, 65536)) });

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

/** An etcd election key (prefix, name and lease id) is far shorter. */
const FENCE_KEY_MAX_BYTES = 1024;
const xattrName = wireName(limits.maxXattrNameBytes * 4);
/** Marks the methods whose messages hold names (method.ts, carriesNames). */
const NAMES = true;
/** A mount's session id: the key of the holds on the inodes it has open. */
export const sessionId = boundedStr(limits.maxSessionIdBytes);
export const heldInodes = array(uint, limits.maxHoldsPerSession);
const blockList = array(blockRef, limits.maxBlocksPerCall);
/** A commit's condition (CommitExpectation): the size and block versions the writer planned from. */
const commitExpectation = object({
  sizeBytes: uint,
  blocks: array(object({ index: uint, version: uint }), limits.maxBlocksPerCall),
});

/** Namespace methods: the same on the metadata server and on the mediator. */
export const namespaceMethods = {
  getattr: method('getattr', object({ ino: uint }), inodeAttr, true),
  lookup: method('lookup', object({ parent: uint, name }), inodeAttr, true, NAMES),
  create: method(
    'create',
    // With `session`: the inode is held for that session in the same transaction (O_CREAT open).
    object({ parent: uint, name, mode: uint, rdev: optional(uint), caller, exclusive: bool, session: optional(sessionId) }),
    inodeAttr,
    false,
    NAMES,
  ),
  mkdir: method('mkdir', object({ parent: uint, name, mode: uint, caller }), inodeAttr, false, NAMES),
  symlink: method(
    'symlink',
    object({ parent: uint, name, target: symlinkTarget, caller }),
    inodeAttr,
    false,
    NAMES,
  ),
  readlink: method('readlink', object({ ino: uint }), object({ target: symlinkTarget }), true, NAMES),
  link: method('link', object({ ino: uint, newParent: uint, newName: name }), inodeAttr, false, NAMES),
  unlink: method('unlink', object({ parent: uint, name }), removeResult, false, NAMES),
  rmdir: method('rmdir', object({ parent: uint, name }), removeResult, false, NAMES),
  rename: method(
    'rename',
    object({ oldParent: uint, oldName: name, newParent: uint, newName: name, flags: uint }),
    object({ replaced: optional(removeResult) }),
    false,
    NAMES,
  ),
  readdir: method(
    'readdir',
    object({ ino: uint, cookie: uint, limit: uint }),
    object({ entries: array(dirEntry, limits.maxReaddirEntries) }),
    true,
    NAMES,
  ),
  /** readdir with each entry's attributes ('.' and '..' included). */
  readdirplus: method(
    'readdirplus',
    object({ ino: uint, cookie: uint, limit: uint }),
    object({ entries: array(object({ entry: dirEntry, attr: inodeAttr }), limits.maxReaddirEntries) }),
    true,
    NAMES,
  ),
  setxattr: method('setxattr', object({ ino: uint, name: xattrName, value: bytes, flags: uint }), empty, false, NAMES),
  getxattr: method('getxattr', object({ ino: uint, name: xattrName }), object({ value: bytes }), true, NAMES),
  listxattr: method('listxattr', object({ ino: uint }), object({ names: array(xattrName, 65536) }), true, NAMES),
  removexattr: method('removexattr', object({ ino: uint, name: xattrName }), empty, false, NAMES),
  statfs: method('statfs', empty, statFs, true),
  /** Marks a read access as relatime does (atime to `now` if it is not after mtime or ctime,
   * or a day old; ctime kept); says whether it did. */
  markAccess: method('markAccess', object({ ino: uint, now: timespec }), object({ marked: bool }), false),
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
    // With `expect`: STALE, and nothing committed, unless the inode still has that size and those
    // block versions (a repeat of a commit already made passes: see MetaStore.commitBlocks).
    object({ ino: uint, blocks: blockList, sizeBytes: uint, time: timespec, expect: optional(commitExpectation) }),
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
  /** Holds (session, ino) and returns the inode's attributes; holds are a set, so idempotent. */
  hold: method('hold', object({ session: sessionId, ino: uint }), inodeAttr, true),
  release: method('release', object({ session: sessionId, ino: uint }), object({ orphans: orphanList }), true),
  /** Replaces a session's whole set of holds ([] ends them). */
  setHolds: method(
    'setHolds',
    object({ session: sessionId, inos: heldInodes }),
    object({ orphans: orphanList, missing: heldInodes }),
    true,
  ),
  holdSessions: method('holdSessions', empty, object({ sessions: array(str, limits.maxHoldSessions) }), true),
  /** The connection it arrives on is the mediator's: block versions freed by other callers'
   * calls (a mount's unlink) are pushed to it as ORPHANS_EVENT, to be deleted, and the files
   * they create as CREATED_EVENT. */
  watchOrphans: method('watchOrphans', empty, empty, true),
  ping: method('ping', empty, object({ pid: uint }), true),
  /** The leader's fence (its election key and that key's create revision): a store on etcd then
   * commits only while that key lives. Without both fields: cleared (nothing commits while
   * the server requires a fence). NOT_SUPPORTED by a store that takes no fence (SQLite). */
  fence: method('fence', object({ key: optional(boundedStr(FENCE_KEY_MAX_BYTES)), createRevision: optional(boundedStr(20)) }), empty, true),
} as const;

export const metaMethods = { ...namespaceMethods, ...metaInternalMethods } as const;

/** Mounts and other clients call the namespace methods here directly, trusted with their uid/gid
 * as the mediator trusts them, read block maps (a mount reads replicas itself), and reserve
 * versions and commit block maps (a mount writes its files' blocks itself). Setting attributes
 * and sizes, holds, listings and the repair methods are the mediator's alone. A client may ping,
 * to keep the connection that carries its invalidations open. */
const CLIENT_META_METHODS = [
  ...Object.keys(namespaceMethods),
  metaInternalMethods.ping.name,
  metaInternalMethods.getBlocks.name,
  metaInternalMethods.commitBlocks.name,
  metaInternalMethods.reserveVersions.name,
];
export const metaAccess: AccessPolicy = {
  defaultRoles: ['server'],
  methodRoles: Object.fromEntries(CLIENT_META_METHODS.map((name) => [name, ['client', 'admin', 'server'] as const])),
};

/** Event pushed to the mediator's connection (watchOrphans): block versions to delete. */
export const ORPHANS_EVENT = 'orphans';
export const orphansEvent = object({ orphans: orphanList });
/** Event pushed to the mediator's connection (watchOrphans): a file another client created, so
 * its first write can be planned without reading the block map (write-state-cache.ts). */
export const CREATED_EVENT = 'created';
export const createdEvent = object({ attr: inodeAttr });
