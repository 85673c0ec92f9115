// Permission rules of the in-memory file system, as pure functions of the caller and the inode.
// The caller's supplementary groups are not known here (FUSE passes uid and primary gid only),
// so with the default_permissions mount option the kernel's own checks are authoritative and
// the mode-bit checks below are off; ownership rules that need no groups (sticky directories,
// setuid/setgid clearing) always apply.

import type { RequestContext } from '../src/fuse/fuse-operations.js';

import { S_IFDIR, S_IFMT } from '../src/common/types.js';

export { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO } from '../src/common/types.js';
const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;
export const S_IXGRP = 0o0010;

export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

/** What the rules need to know about an inode. */
interface Owned {
  mode: number;
  uid: number;
  gid: number;
}

export function isRoot(ctx: RequestContext): boolean {
  return ctx.uid === 0;
}

/** Whether the caller may access the inode with every bit of `mask` (R_OK | W_OK | X_OK). */
export function mayAccess(ctx: RequestContext, inode: Owned, mask: number): boolean {
  if (isRoot(ctx)) {
    // Root may read and write anything; execute needs some execute bit (or a directory).
    if (mask & X_OK) return (inode.mode & S_IFMT) === S_IFDIR || (inode.mode & 0o111) !== 0;
    return true;
  }
  let bits: number;
  if (ctx.uid === inode.uid) bits = (inode.mode >> 6) & 7;
  else if (ctx.gid === inode.gid) bits = (inode.mode >> 3) & 7;
  else bits = inode.mode & 7;
  return (bits & mask) === mask;
}

/** The sticky-directory rule for unlink, rmdir and rename (over) an entry. */
export function mayDeleteFromSticky(ctx: RequestContext, dir: Owned, victim: Owned): boolean {
  if ((dir.mode & S_ISVTX) === 0 || isRoot(ctx)) return true;
  return ctx.uid === victim.uid || ctx.uid === dir.uid;
}

export function isOwnerOrRoot(ctx: RequestContext, inode: Owned): boolean {
  return isRoot(ctx) || ctx.uid === inode.uid;
}

/** Mode bits after a write or truncate by the caller: setuid always goes, setgid if group-exec. */
export function modeAfterWrite(ctx: RequestContext, mode: number): number {
  if (isRoot(ctx)) return mode;
  return modeWithoutPrivileges(mode);
}

/** setuid cleared; setgid cleared only with group-exec (without it, it marks mandatory locking). */
export function modeWithoutPrivileges(mode: number): number {
  let next = mode & ~S_ISUID;
  if ((next & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) next &= ~S_ISGID;
  return next;
}
