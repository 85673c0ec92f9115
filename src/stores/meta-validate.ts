// Argument checks for metadata-store calls: names, times, ids, modes and ranges. Pure functions
// that throw QfsError (INVALID, NAME_TOO_LONG) before a transaction starts, so a store method
// body can trust its arguments. Shared by every MetaStore implementation.

import { qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { nameByteLength } from '../common/name-bytes.js';
import { isChecksum } from '../common/checksum.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK, type BlockRef, type Caller, type DirEntry, type InodeAttr, type SetAttrRequest, type Timespec } from '../common/types.js';
import type { CommitBlocksRequest, CommitExpectation } from './meta-store.js';

const MAX_ID = 0xffff_ffff;
const NSEC_PER_SEC = 1_000_000_000;

/** Names and targets are bytes (common/name-bytes.ts): limits count the bytes they stand for. */
function byteLength(text: string): number {
  return nameByteLength(text);
}

export function isDotName(name: string): boolean {
  return name === '.' || name === '..';
}

/** A directory entry name: non-empty, no '/', no NUL, at most limits.maxNameBytes bytes.
 * '.' and '..' pass here; each operation decides what they mean for it. */
export function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw qfsError('INVALID', 'name is empty');
  if (name.includes('/') || name.includes('\0')) {
    throw qfsError('INVALID', `name contains '/' or NUL: ${JSON.stringify(name)}`);
  }
  if (byteLength(name) > limits.maxNameBytes) throw qfsError('NAME_TOO_LONG', `name is over ${limits.maxNameBytes} bytes`);
}

export function checkSymlinkTarget(target: string): void {
  // Linux: symlink("", ...) is ENOENT.
  if (typeof target !== 'string' || target.length === 0) throw qfsError('NOT_FOUND', 'symlink target is empty');
  if (target.includes('\0')) throw qfsError('INVALID', 'symlink target contains NUL');
  if (byteLength(target) > limits.maxSymlinkBytes) {
    throw qfsError('NAME_TOO_LONG', `symlink target is over ${limits.maxSymlinkBytes} bytes`);
  }
}

export function checkNonNegativeInt(value: number, what: string, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw qfsError('INVALID', `${what} is not an integer in [0, ${max}]: ${value}`);
  }
}

export function checkPositiveInt(value: number, what: string, max: number): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw qfsError('INVALID', `${what} is not an integer in [1, ${max}]: ${value}`);
  }
}

export function checkTimespec(time: Timespec, what: string): void {
  const ok =
    typeof time === 'object' &&
    time !== null &&
    Number.isSafeInteger(time.sec) &&
    Number.isInteger(time.nsec) &&
    time.nsec >= 0 &&
    time.nsec < NSEC_PER_SEC;
  if (!ok) throw qfsError('INVALID', `${what} is not a timespec with nsec in [0, 1e9)`);
}

export function checkCaller(caller: Caller): void {
  if (typeof caller !== 'object' || caller === null) throw qfsError('INVALID', 'caller is missing');
  checkNonNegativeInt(caller.uid, 'caller uid', MAX_ID);
  checkNonNegativeInt(caller.gid, 'caller gid', MAX_ID);
}

export function checkMode(mode: number): void {
  checkNonNegativeInt(mode, 'mode', 0o177777);
}

export function checkSetAttr(req: SetAttrRequest, now: Timespec): void {
  checkTimespec(now, 'now');
  if (req.mode !== undefined) checkMode(req.mode);
  if (req.uid !== undefined) checkNonNegativeInt(req.uid, 'uid', MAX_ID);
  if (req.gid !== undefined) checkNonNegativeInt(req.gid, 'gid', MAX_ID);
  if (req.size !== undefined) checkNonNegativeInt(req.size, 'size');
  if (req.atime !== undefined && req.atime !== 'now') checkTimespec(req.atime, 'atime');
  if (req.mtime !== undefined && req.mtime !== 'now') checkTimespec(req.mtime, 'mtime');
  if (req.ctime !== undefined) checkTimespec(req.ctime, 'ctime');
}

/** A page size: at least 1; larger requests are cut to `max` (the caller pages on). */
export function pageLimit(limit: number, max: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw qfsError('INVALID', `limit is not a positive integer: ${limit}`);
  return Math.min(limit, max);
}

export function checkXattrName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw qfsError('INVALID', 'xattr name is empty');
  if (name.includes('\0')) throw qfsError('INVALID', 'xattr name contains NUL');
  // Linux says ERANGE here; the kernel checks before FUSE ever sees it, so this is a backstop.
  if (byteLength(name) > limits.maxXattrNameBytes) {
    throw qfsError('INVALID', `xattr name is over ${limits.maxXattrNameBytes} bytes`);
  }
}

export function checkXattrValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw qfsError('INVALID', 'xattr value is not bytes');
  // Linux says E2BIG; there is no such code, and the kernel checks first anyway.
  if (value.byteLength > limits.maxXattrValueBytes) {
    throw qfsError('INVALID', `xattr value is over ${limits.maxXattrValueBytes} bytes`);
  }
}

function checkBlockRef(block: BlockRef): void {
  checkNonNegativeInt(block.index, 'block index');
  checkPositiveInt(block.version, 'block version', Number.MAX_SAFE_INTEGER);
  if (!isChecksum(block.checksum)) throw qfsError('INVALID', `block ${block.index} has a malformed checksum`);
  checkNonNegativeInt(block.lengthBytes, 'block lengthBytes', limits.blockSizeBytes);
}

/** Shape and limits of a commit; that each block ends within the file is checked by the store,
 * which knows the current size. */
export function checkCommitBlocks(req: CommitBlocksRequest): void {
  checkNonNegativeInt(req.ino, 'ino');
  checkNonNegativeInt(req.sizeBytes, 'sizeBytes');
  checkTimespec(req.time, 'time');
  if (!Array.isArray(req.blocks)) throw qfsError('INVALID', 'blocks is not an array');
  if (req.blocks.length > limits.maxBlocksPerCall) {
    throw qfsError('INVALID', `commit names ${req.blocks.length} blocks, over ${limits.maxBlocksPerCall}`);
  }
  const seen = new Set<number>();
  for (const block of req.blocks) {
    checkBlockRef(block);
    if (seen.has(block.index)) throw qfsError('INVALID', `block ${block.index} appears twice in one commit`);
    seen.add(block.index);
  }
  if (req.expect !== undefined) checkCommitExpectation(req.expect);
}

function checkCommitExpectation(expect: CommitExpectation): void {
  checkNonNegativeInt(expect.sizeBytes, 'expect.sizeBytes');
  if (!Array.isArray(expect.blocks)) throw qfsError('INVALID', 'expect.blocks is not an array');
  if (expect.blocks.length > limits.maxBlocksPerCall) {
    throw qfsError('INVALID', `commit expects ${expect.blocks.length} blocks, over ${limits.maxBlocksPerCall}`);
  }
  const seen = new Set<number>();
  for (const block of expect.blocks) {
    checkNonNegativeInt(block.index, 'expect index');
    checkNonNegativeInt(block.version, 'expect version');
    if (seen.has(block.index)) throw qfsError('INVALID', `block ${block.index} is expected twice in one commit`);
    seen.add(block.index);
  }
}

/** A holder's session id: a non-empty string of at most limits.maxSessionIdBytes. */
export function checkSessionId(session: string): void {
  if (typeof session !== 'string' || session.length === 0) throw qfsError('INVALID', 'session id is empty');
  if (Buffer.byteLength(session, 'utf8') > limits.maxSessionIdBytes) throw qfsError('INVALID', `session id is over ${limits.maxSessionIdBytes} bytes`);
}

// ---- rules both engines apply the same way ----

export const S_ISGID = 0o2000;
export const PERMISSION_BITS = 0o7777;
/** mkdir keeps only these of the requested bits (as Linux: setgid comes from the parent only). */
export const MKDIR_BITS = 0o1777;
/** Half of the header limit: see limits.readdirEntryAllowanceBytes. */
const READDIR_PAGE_BUDGET_BYTES = limits.maxHeaderBytes / 2;

/** The first entries of `entries` that fit READDIR_PAGE_BUDGET_BYTES (at least one): 1,024
 * entries with long names would not fit one frame, and the caller pages on anyway. */
export function fitPage(entries: DirEntry[]): DirEntry[] {
  let usedBytes = 0;
  for (let i = 0; i < entries.length; i++) {
    usedBytes += nameByteLength(entries[i]!.name) + limits.readdirEntryAllowanceBytes;
    if (usedBytes > READDIR_PAGE_BUDGET_BYTES && i > 0) return entries.slice(0, i);
  }
  return entries;
}

export function isDir(attr: InodeAttr): boolean {
  return (attr.mode & S_IFMT) === S_IFDIR;
}

export function isRegular(attr: InodeAttr): boolean {
  return (attr.mode & S_IFMT) === S_IFREG;
}

/** The full mode of a create(): type bits default to S_IFREG; directories and symlinks have calls of their own. */
export function createMode(mode: number): number {
  const type = (mode & S_IFMT) === 0 ? S_IFREG : mode & S_IFMT;
  const allowed = [S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK];
  if (!allowed.includes(type)) throw qfsError('INVALID', `create cannot make file type 0o${type.toString(8)}`);
  return type | (mode & PERMISSION_BITS);
}

/** A rename onto an existing target: the kinds must match, and a directory must be empty. */
export function checkReplace(srcAttr: InodeAttr, dstAttr: InodeAttr, dstHasEntries: () => boolean): void {
  if (isDir(srcAttr) && !isDir(dstAttr)) throw qfsError('NOT_DIR', `cannot replace non-directory ${dstAttr.ino} with a directory`);
  if (!isDir(srcAttr) && isDir(dstAttr)) throw qfsError('IS_DIR', `cannot replace directory ${dstAttr.ino} with a non-directory`);
  if (isDir(dstAttr) && dstHasEntries()) throw qfsError('NOT_EMPTY', `target directory ${dstAttr.ino} is not empty`);
}

/** What a new inode is made from (create, mkdir, symlink). */
export interface NewInodeSpec {
  mode: number;
  rdev: number;
  size: number;
  target: string | null;
}

/** A new inode's attributes: the caller's; a setgid parent gives its gid (and, to a directory,
 * its setgid bit); all three times now. */
export function newInodeAttr(ino: number, parent: InodeAttr, caller: Caller, spec: NewInodeSpec, now: Timespec): InodeAttr {
  const setgidParent = (parent.mode & S_ISGID) !== 0;
  const dir = (spec.mode & S_IFMT) === S_IFDIR;
  return {
    ino,
    mode: setgidParent && dir ? spec.mode | S_ISGID : spec.mode,
    uid: caller.uid,
    gid: setgidParent ? parent.gid : caller.gid,
    size: spec.size,
    nlink: dir ? 2 : 1,
    rdev: spec.rdev,
    atime: { ...now },
    mtime: { ...now },
    ctime: { ...now },
    generation: 1,
  };
}
