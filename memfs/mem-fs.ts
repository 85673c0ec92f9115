// MemFs: an in-memory POSIX file system implementing FuseOperations, the reference file system
// of the FUSE binding. Timestamps follow POSIX (which call marks which of atime/mtime/ctime on
// which inodes); new inodes belong to the caller (group from a setgid parent); names are at most
// NAME_MAX bytes. With enforcePermissions off (mounted with default_permissions) the kernel
// checks mode bits and setattr rights; the sticky-directory rule and setuid/setgid clearing are
// always applied here. Test hooks (names starting __throw__/__hang__) exist only when enabled.

import { nameByteLength } from '../src/common/name-bytes.js';
import { direntPlusSizeBytes } from '../src/fuse/fuse-wire.js';
import { fuseError } from '../src/fuse/fuse-error.js';
import type {
  AccessArgs,
  AttrReply,
  CopyFileRangeArgs,
  CreateArgs,
  CreateReply,
  DirEntry,
  DirEntryPlus,
  Entry,
  FallocateArgs,
  FileLock,
  FlushArgs,
  ForgetArgs,
  FuseOperations,
  GetattrArgs,
  GetlkArgs,
  GetxattrArgs,
  InoArgs,
  LinkArgs,
  ListxattrArgs,
  LookupArgs,
  LseekArgs,
  MkdirArgs,
  MknodArgs,
  NameArgs,
  NegativeEntry,
  OpenArgs,
  OpenReply,
  ReadArgs,
  ReaddirArgs,
  ReleaseArgs,
  ReleasedirArgs,
  RemovexattrArgs,
  RenameArgs,
  RequestContext,
  SetattrArgs,
  SetlkArgs,
  SetxattrArgs,
  StatFs,
  SymlinkArgs,
  Timespec,
  WriteArgs,
} from '../src/fuse/fuse-operations.js';
import { InodeTable, ROOT_INO, type Inode } from './inode-table.js';
import { LockTable } from './lock-table.js';
import {
  R_OK,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  S_ISGID,
  S_IXGRP,
  W_OK,
  X_OK,
  isOwnerOrRoot,
  isRoot,
  mayAccess,
  mayDeleteFromSticky,
  modeAfterWrite,
  modeWithoutPrivileges,
} from './permissions.js';
import { nowTimespec as wallClockNow } from '../src/common/clock.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, RENAME_EXCHANGE, RENAME_NOREPLACE, XATTR_CREATE, XATTR_REPLACE } from '../src/common/types.js';

const GiB = 1024 * 1024 * 1024;
const TiB = 1024 * GiB;
/** Limits of this file system (Linux's NAME_MAX, PATH_MAX - 1, XATTR_*_MAX). */
const memfsLimits = {
  maxNameBytes: 255,
  maxSymlinkBytes: 4095,
  maxXattrNameBytes: 255,
  maxXattrValueBytes: 64 * 1024,
  maxFileSizeBytes: 1 * TiB,
  defaultCapacityBytes: 1 * GiB,
  defaultMaxInodes: 1_000_000,
  statfsBlockBytes: 4096,
} as const;

const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const O_EXCL = 0o200;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.'];
const TEST_THROW_PREFIX = '__throw__';
const TEST_HANG_PREFIX = '__hang__';

interface MemFsOptions {
  /** Attribute and entry cache timeouts handed to the kernel; 0 disables caching. Default 1. */
  attrTimeoutSec?: number;
  entryTimeoutSec?: number;
  /** How long the kernel may cache "no such name"; 0 (default) answers ENOENT instead. */
  negativeTimeoutSec?: number;
  /** Check mode bits here (mounts without default_permissions). Default false. */
  enforcePermissions?: boolean;
  capacityBytes?: number;
  maxInodes?: number;
  /** Enable the failure-injection names (__throw__*, __hang__*). Tests only. */
  testHooks?: boolean;
  rootMode?: number;
  rootUid?: number;
  rootGid?: number;
  now?: () => Timespec;
}

interface FileHandle {
  ino: number;
  flags: number;
}

interface DirHandle {
  ino: number;
  snapshot: Array<{ name: string; ino: number }> | undefined;
}

function isDir(inode: Inode): boolean {
  return (inode.mode & S_IFMT) === S_IFDIR;
}

function checkName(name: string): void {
  if (name.length === 0 || name.includes('/')) throw fuseError('EINVAL');
  if (nameByteLength(name) > memfsLimits.maxNameBytes) throw fuseError('ENAMETOOLONG');
}

function checkXattrName(name: string): void {
  if (name.length === 0 || nameByteLength(name) > memfsLimits.maxXattrNameBytes) throw fuseError('ERANGE');
  if (!XATTR_NAMESPACES.some((ns) => name.startsWith(ns) && name.length > ns.length)) throw fuseError('EOPNOTSUPP');
}

export class MemFs implements FuseOperations {
  private readonly table: InodeTable;
  private readonly files = new Map<number, FileHandle>();
  private readonly dirs = new Map<number, DirHandle>();
  private nextFh = 1;
  private readonly attrTimeoutSec: number;
  private readonly entryTimeoutSec: number;
  private readonly negativeTimeoutSec: number;
  private readonly enforce: boolean;
  private readonly testHooks: boolean;
  private readonly now: () => Timespec;
  private invalidator: ((ino: number) => void) | undefined;

  constructor(options: MemFsOptions = {}) {
    this.attrTimeoutSec = options.attrTimeoutSec ?? 1;
    this.entryTimeoutSec = options.entryTimeoutSec ?? this.attrTimeoutSec;
    this.negativeTimeoutSec = options.negativeTimeoutSec ?? 0;
    this.enforce = options.enforcePermissions ?? false;
    this.testHooks = options.testHooks ?? false;
    this.now = options.now ?? wallClockNow;
    this.table = new InodeTable(
      options.capacityBytes ?? memfsLimits.defaultCapacityBytes,
      options.maxInodes ?? memfsLimits.defaultMaxInodes,
    );
    const root = this.table.create({
      mode: S_IFDIR | (options.rootMode ?? 0o755),
      uid: options.rootUid ?? 0,
      gid: options.rootGid ?? 0,
      now: this.now(),
    });
    root.nlookup = 1; // the kernel's permanent reference to the root
  }

  /**
   * Where to send "attributes of this inode changed behind the kernel's back" (the session's
   * invalidateInode). Called for inodes changed as a side effect of another inode's request.
   */
  setInvalidator(invalidate: (ino: number) => void): void {
    this.invalidator = invalidate;
  }

  /** Inodes alive (for tests and statfs). */
  get inodeCount(): number {
    return this.table.inodeCount;
  }

  // ---------------------------------------------------------------- helpers

  private attrReply(inode: Inode): AttrReply {
    return { attr: this.table.attrOf(inode), attrTimeoutSec: this.attrTimeoutSec };
  }

  /** A positive entry; counts one kernel lookup reference. */
  private entryOf(inode: Inode): Entry {
    inode.nlookup++;
    return {
      ino: inode.ino,
      attr: this.table.attrOf(inode),
      attrTimeoutSec: this.attrTimeoutSec,
      entryTimeoutSec: this.entryTimeoutSec,
    };
  }

  private dirOf(ino: number): Inode {
    const inode = this.table.get(ino);
    if (!isDir(inode)) throw fuseError('ENOTDIR');
    return inode;
  }

  private childOf(dir: Inode, name: string): Inode | undefined {
    const ino = dir.entries!.get(name);
    return ino === undefined ? undefined : this.table.find(ino);
  }

  private requireAccess(ctx: RequestContext, inode: Inode, mask: number): void {
    if (this.enforce && !mayAccess(ctx, inode, mask)) throw fuseError('EACCES');
  }

  /** Rights to add or remove names in `dir`. */
  private requireDirWrite(ctx: RequestContext, dir: Inode): void {
    this.requireAccess(ctx, dir, W_OK | X_OK);
  }

  private changed(inode: Inode, now: Timespec, data: boolean): void {
    inode.ctime = now;
    if (data) inode.mtime = now;
  }

  private invalidate(inode: Inode): void {
    if (this.invalidator && inode.nlookup > 0) this.invalidator(inode.ino);
  }

  private testHook(name: string): Promise<never> | undefined {
    if (!this.testHooks) return undefined;
    if (name.startsWith(TEST_THROW_PREFIX)) throw new Error(`memfs test hook: handler failure for ${name}`);
    if (name.startsWith(TEST_HANG_PREFIX)) return new Promise<never>(() => undefined);
    return undefined;
  }

  /** Creates a new inode named `name` in `parent`, owned by the caller. */
  private makeNode(ctx: RequestContext, parentIno: number, name: string, mode: number, extra: { rdev?: number; target?: string }): Inode {
    checkName(name);
    const parent = this.dirOf(parentIno);
    this.requireDirWrite(ctx, parent);
    if (parent.entries!.has(name)) throw fuseError('EEXIST');
    const now = this.now();
    let gid = ctx.gid;
    let finalMode = mode;
    if (parent.mode & S_ISGID) {
      // BSD group semantics under a setgid directory: inherit the group; subdirectories keep
      // the setgid bit so the rule propagates.
      gid = parent.gid;
      if ((mode & S_IFMT) === S_IFDIR) finalMode |= S_ISGID;
    }
    if ((finalMode & S_IFMT) !== S_IFDIR && (finalMode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) {
      if (!isRoot(ctx) && ctx.gid !== gid) finalMode &= ~S_ISGID;
    }
    const inode = this.table.create({
      mode: finalMode,
      uid: ctx.uid,
      gid,
      rdev: extra.rdev ?? 0,
      parent: parent.ino,
      target: extra.target,
      now,
    });
    parent.entries!.set(name, inode.ino);
    if (isDir(inode)) parent.nlink++;
    this.changed(parent, now, true);
    return inode;
  }

  /** Removes the name `name` → `victim` from `dir`; the caller checked permissions. */
  private dropName(dir: Inode, name: string, victim: Inode, now: Timespec): void {
    dir.entries!.delete(name);
    if (isDir(victim)) {
      victim.nlink = 0;
      dir.nlink--;
    } else {
      victim.nlink--;
    }
    victim.ctime = now;
    this.invalidate(victim);
    this.table.maybeFree(victim);
  }

  private isAncestor(ancestor: Inode, ino: number): boolean {
    let cur = this.table.find(ino);
    for (;;) {
      if (!cur) return false;
      if (cur.ino === ancestor.ino) return true;
      if (cur.ino === ROOT_INO) return false;
      cur = this.table.find(cur.parent);
    }
  }

  // ---------------------------------------------------------------- names

  lookup(ctx: RequestContext, { parent, name }: LookupArgs): Entry | NegativeEntry | Promise<never> {
    const hook = this.testHook(name);
    if (hook) return hook;
    checkName(name);
    const dir = this.dirOf(parent);
    this.requireAccess(ctx, dir, X_OK);
    let child: Inode | undefined;
    if (name === '.') child = dir;
    else if (name === '..') child = this.table.find(dir.parent);
    else child = this.childOf(dir, name);
    if (!child) {
      if (this.negativeTimeoutSec > 0) return { ino: 0, entryTimeoutSec: this.negativeTimeoutSec };
      throw fuseError('ENOENT');
    }
    return this.entryOf(child);
  }

  forget({ ino, nlookup }: ForgetArgs): void {
    const inode = this.table.find(ino);
    if (!inode) return;
    inode.nlookup = Math.max(0, inode.nlookup - nlookup);
    this.table.maybeFree(inode);
  }

  getattr(_ctx: RequestContext, { ino }: GetattrArgs): AttrReply {
    return this.attrReply(this.table.get(ino));
  }

  setattr(ctx: RequestContext, args: SetattrArgs): AttrReply {
    const inode = this.table.get(args.ino);
    const now = this.now();
    const owner = isOwnerOrRoot(ctx, inode);
    // Rights first, then changes: a refused setattr changes nothing.
    if (this.enforce) {
      if (args.mode !== undefined && !owner) throw fuseError('EPERM');
      if (args.uid !== undefined && args.uid !== inode.uid && !isRoot(ctx)) throw fuseError('EPERM');
      if (args.gid !== undefined && args.gid !== inode.gid && !isRoot(ctx) && !(owner && args.gid === ctx.gid)) {
        throw fuseError('EPERM');
      }
      const explicitTime =
        (args.atime !== undefined && args.atime !== 'now') || (args.mtime !== undefined && args.mtime !== 'now');
      if (explicitTime && !owner) throw fuseError('EPERM');
      if ((args.atime === 'now' || args.mtime === 'now') && !owner && !mayAccess(ctx, inode, W_OK)) {
        throw fuseError('EACCES');
      }
      if (args.sizeBytes !== undefined && !mayAccess(ctx, inode, W_OK) && args.fh === undefined) {
        throw fuseError('EACCES');
      }
    }
    if (args.sizeBytes !== undefined) {
      if (isDir(inode)) throw fuseError('EISDIR');
      if (!inode.data) throw fuseError('EINVAL');
      if (args.sizeBytes < 0) throw fuseError('EINVAL');
      if (args.sizeBytes > memfsLimits.maxFileSizeBytes) throw fuseError('EFBIG');
    }
    if (args.mode !== undefined) {
      let mode = (inode.mode & S_IFMT) | (args.mode & 0o7777);
      // chmod by someone outside the file's group may not set setgid (primary group only here;
      // with default_permissions the kernel already applied the full rule).
      if (this.enforce && !isRoot(ctx) && ctx.gid !== inode.gid) mode &= ~S_ISGID;
      inode.mode = mode;
    }
    if (args.uid !== undefined || args.gid !== undefined) {
      if (args.uid !== undefined) inode.uid = args.uid;
      if (args.gid !== undefined) inode.gid = args.gid;
      // chown drops setuid (and setgid with group-exec) on non-directories, even for root.
      if (!isDir(inode)) inode.mode = modeWithoutPrivileges(inode.mode);
    }
    if (args.sizeBytes !== undefined) {
      const size = args.sizeBytes;
      this.table.changeData(inode, 0, (data) => data.truncate(size));
      inode.mode = modeAfterWrite(ctx, inode.mode);
      inode.mtime = now;
    }
    if (args.atime !== undefined) inode.atime = args.atime === 'now' ? now : args.atime;
    if (args.mtime !== undefined) inode.mtime = args.mtime === 'now' ? now : args.mtime;
    inode.ctime = args.ctime ?? now;
    return this.attrReply(inode);
  }

  readlink(_ctx: RequestContext, { ino }: InoArgs): string {
    const inode = this.table.get(ino);
    if (inode.target === undefined) throw fuseError('EINVAL');
    inode.atime = this.now();
    return inode.target;
  }

  mknod(ctx: RequestContext, { parent, name, mode, rdev }: MknodArgs): Entry | Promise<never> {
    const hook = this.testHook(name);
    if (hook) return hook;
    const type = mode & S_IFMT;
    const allowed = [S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK];
    if (!allowed.includes(type)) throw fuseError('EINVAL');
    const inode = this.makeNode(ctx, parent, name, mode, { rdev: type === S_IFCHR || type === S_IFBLK ? rdev : 0 });
    return this.entryOf(inode);
  }

  mkdir(ctx: RequestContext, { parent, name, mode }: MkdirArgs): Entry | Promise<never> {
    const hook = this.testHook(name);
    if (hook) return hook;
    const inode = this.makeNode(ctx, parent, name, S_IFDIR | (mode & 0o7777), {});
    return this.entryOf(inode);
  }

  symlink(ctx: RequestContext, { parent, name, target }: SymlinkArgs): Entry {
    if (nameByteLength(target) > memfsLimits.maxSymlinkBytes) throw fuseError('ENAMETOOLONG');
    const inode = this.makeNode(ctx, parent, name, S_IFLNK | 0o777, { target });
    return this.entryOf(inode);
  }

  unlink(ctx: RequestContext, { parent, name }: NameArgs): void {
    checkName(name);
    const dir = this.dirOf(parent);
    this.requireDirWrite(ctx, dir);
    const victim = this.childOf(dir, name);
    if (!victim) throw fuseError('ENOENT');
    if (isDir(victim)) throw fuseError('EISDIR');
    if (!mayDeleteFromSticky(ctx, dir, victim)) throw fuseError('EPERM');
    const now = this.now();
    this.changed(dir, now, true);
    this.dropName(dir, name, victim, now);
  }

  rmdir(ctx: RequestContext, { parent, name }: NameArgs): void {
    if (name === '.') throw fuseError('EINVAL');
    if (name === '..') throw fuseError('ENOTEMPTY');
    checkName(name);
    const dir = this.dirOf(parent);
    this.requireDirWrite(ctx, dir);
    const victim = this.childOf(dir, name);
    if (!victim) throw fuseError('ENOENT');
    if (!isDir(victim)) throw fuseError('ENOTDIR');
    if (victim.entries!.size > 0) throw fuseError('ENOTEMPTY');
    if (!mayDeleteFromSticky(ctx, dir, victim)) throw fuseError('EPERM');
    const now = this.now();
    this.changed(dir, now, true);
    this.dropName(dir, name, victim, now);
  }

  rename(ctx: RequestContext, args: RenameArgs): void {
    const { name, newName, flags } = args;
    checkName(name);
    checkName(newName);
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) throw fuseError('EINVAL');
    if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) throw fuseError('EINVAL');
    const from = this.dirOf(args.parent);
    const to = this.dirOf(args.newParent);
    this.requireDirWrite(ctx, from);
    this.requireDirWrite(ctx, to);
    const moved = this.childOf(from, name);
    if (!moved) throw fuseError('ENOENT');
    const target = this.childOf(to, newName);
    if (flags & RENAME_EXCHANGE) return this.exchange(ctx, from, name, moved, to, newName, target);
    if (target && flags & RENAME_NOREPLACE) throw fuseError('EEXIST');
    if (target === moved) return; // two names of one inode: POSIX says do nothing
    if (!mayDeleteFromSticky(ctx, from, moved)) throw fuseError('EPERM');
    if (isDir(moved)) {
      if (this.isAncestor(moved, to.ino)) throw fuseError('EINVAL');
      if (from !== to) this.requireAccess(ctx, moved, W_OK); // its ".." changes
    }
    if (target) {
      if (!mayDeleteFromSticky(ctx, to, target)) throw fuseError('EPERM');
      if (isDir(moved) && !isDir(target)) throw fuseError('ENOTDIR');
      if (!isDir(moved) && isDir(target)) throw fuseError('EISDIR');
      if (isDir(target) && target.entries!.size > 0) throw fuseError('ENOTEMPTY');
    }
    const now = this.now();
    if (target) this.dropName(to, newName, target, now);
    from.entries!.delete(name);
    to.entries!.set(newName, moved.ino);
    if (isDir(moved) && from !== to) {
      moved.parent = to.ino;
      from.nlink--;
      to.nlink++;
    }
    moved.ctime = now;
    this.changed(from, now, true);
    this.changed(to, now, true);
    this.invalidate(moved);
  }

  private exchange(
    ctx: RequestContext,
    from: Inode,
    name: string,
    a: Inode,
    to: Inode,
    newName: string,
    b: Inode | undefined,
  ): void {
    if (!b) throw fuseError('ENOENT');
    if (!mayDeleteFromSticky(ctx, from, a) || !mayDeleteFromSticky(ctx, to, b)) throw fuseError('EPERM');
    if (a === b) return;
    if (isDir(a) && this.isAncestor(a, to.ino)) throw fuseError('EINVAL');
    if (isDir(b) && this.isAncestor(b, from.ino)) throw fuseError('EINVAL');
    const now = this.now();
    from.entries!.set(name, b.ino);
    to.entries!.set(newName, a.ino);
    if (from !== to) {
      if (isDir(a)) {
        a.parent = to.ino;
        from.nlink--;
        to.nlink++;
      }
      if (isDir(b)) {
        b.parent = from.ino;
        to.nlink--;
        from.nlink++;
      }
    }
    a.ctime = now;
    b.ctime = now;
    this.changed(from, now, true);
    this.changed(to, now, true);
    this.invalidate(a);
    this.invalidate(b);
  }

  link(ctx: RequestContext, { ino, newParent, newName }: LinkArgs): Entry {
    checkName(newName);
    const inode = this.table.get(ino);
    if (isDir(inode)) throw fuseError('EPERM');
    if (inode.nlink === 0) throw fuseError('ENOENT');
    const dir = this.dirOf(newParent);
    this.requireDirWrite(ctx, dir);
    if (dir.entries!.has(newName)) throw fuseError('EEXIST');
    const now = this.now();
    dir.entries!.set(newName, inode.ino);
    inode.nlink++;
    inode.ctime = now;
    this.changed(dir, now, true);
    return this.entryOf(inode);
  }

  // ---------------------------------------------------------------- files

  private openHandle(ctx: RequestContext, inode: Inode, flags: number): OpenReply {
    const acc = flags & O_ACCMODE;
    let mask = 0;
    if (acc === 0 || acc === O_RDWR) mask |= R_OK;
    if (acc === O_WRONLY || acc === O_RDWR || flags & O_TRUNC) mask |= W_OK;
    this.requireAccess(ctx, inode, mask);
    const fh = this.nextFh++;
    this.files.set(fh, { ino: inode.ino, flags });
    inode.openCount++;
    return { fh };
  }

  open(ctx: RequestContext, { ino, flags }: OpenArgs): OpenReply {
    const inode = this.table.get(ino);
    if (isDir(inode)) throw fuseError('EISDIR');
    return this.openHandle(ctx, inode, flags);
  }

  create(ctx: RequestContext, { parent, name, mode, flags }: CreateArgs): CreateReply | Promise<never> {
    const hook = this.testHook(name);
    if (hook) return hook;
    checkName(name);
    const dir = this.dirOf(parent);
    const existing = this.childOf(dir, name);
    if (existing) {
      if (flags & O_EXCL) throw fuseError('EEXIST');
      if (isDir(existing)) throw fuseError('EISDIR');
      const open = this.openHandle(ctx, existing, flags);
      return { entry: this.entryOf(existing), open };
    }
    const inode = this.makeNode(ctx, parent, name, S_IFREG | (mode & 0o7777), {});
    // The creator may write the new file whatever its mode says (open(O_CREAT, 0444) for writing).
    const fh = this.nextFh++;
    this.files.set(fh, { ino: inode.ino, flags });
    inode.openCount++;
    return { entry: this.entryOf(inode), open: { fh } };
  }

  read(_ctx: RequestContext, { ino, offset, sizeBytes }: ReadArgs): Buffer {
    const inode = this.table.get(ino);
    if (!inode.data) throw fuseError(isDir(inode) ? 'EISDIR' : 'EINVAL');
    const out = inode.data.read(offset, sizeBytes);
    if (sizeBytes > 0) inode.atime = this.now();
    return out;
  }

  write(ctx: RequestContext, { ino, offset, data }: WriteArgs): number {
    const inode = this.table.get(ino);
    if (!inode.data) throw fuseError(isDir(inode) ? 'EISDIR' : 'EINVAL');
    if (offset + data.length > memfsLimits.maxFileSizeBytes) throw fuseError('EFBIG');
    this.table.changeData(inode, inode.data.growthBytes(offset, data.length), (d) => d.write(offset, data));
    if (data.length > 0) {
      const now = this.now();
      inode.mtime = now;
      inode.ctime = now;
      // The file system clears setuid/setgid on write (FUSE_CAP_HANDLE_KILLPRIV).
      inode.mode = modeAfterWrite(ctx, inode.mode);
    }
    return data.length;
  }

  flush(_ctx: RequestContext, { ino, lockOwner }: FlushArgs): void {
    // close() of any descriptor drops the process's POSIX locks on the file.
    this.table.find(ino)?.locks?.releaseOwner(lockOwner);
  }

  release(_ctx: RequestContext, { fh }: ReleaseArgs): void {
    const handle = this.files.get(fh);
    if (!handle) return;
    this.files.delete(fh);
    const inode = this.table.find(handle.ino);
    if (!inode) return;
    inode.openCount--;
    this.table.maybeFree(inode);
  }

  fsync(): void {
    // Memory is as durable as it gets here.
  }

  fallocate(ctx: RequestContext, { ino, mode, offset, length }: FallocateArgs): void {
    const inode = this.table.get(ino);
    if (!inode.data) throw fuseError(isDir(inode) ? 'EISDIR' : 'ENODEV');
    if (offset < 0 || length <= 0) throw fuseError('EINVAL');
    const end = offset + length;
    if (end > memfsLimits.maxFileSizeBytes) throw fuseError('EFBIG');
    const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
    const known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
    if (mode & ~known) throw fuseError('EOPNOTSUPP');
    const now = this.now();
    const data = inode.data;
    if (mode & FALLOC_FL_PUNCH_HOLE) {
      if (!keepSize || mode & FALLOC_FL_ZERO_RANGE) throw fuseError('EOPNOTSUPP');
      const stop = Math.min(end, data.sizeBytes);
      if (stop > offset) this.table.changeData(inode, 0, (d) => d.zero(offset, stop - offset, true));
      this.changed(inode, now, true);
      return;
    }
    const grow = data.growthBytes(offset, length);
    this.table.changeData(inode, grow, (d) => {
      if (mode & FALLOC_FL_ZERO_RANGE) {
        d.zero(offset, Math.max(0, Math.min(end, d.sizeBytes) - offset), false);
      }
      d.allocate(offset, length);
      if (!keepSize) d.extendTo(end);
    });
    if (mode & FALLOC_FL_ZERO_RANGE || !keepSize) this.changed(inode, now, true);
    inode.mode = modeAfterWrite(ctx, inode.mode);
  }

  copyFileRange(ctx: RequestContext, args: CopyFileRangeArgs): number {
    const src = this.table.get(args.inoIn);
    const dst = this.table.get(args.inoOut);
    if (!src.data || !dst.data) throw fuseError('EINVAL');
    const bytes = src.data.read(args.offsetIn, args.length);
    if (args.offsetOut + bytes.length > memfsLimits.maxFileSizeBytes) throw fuseError('EFBIG');
    this.table.changeData(dst, dst.data.growthBytes(args.offsetOut, bytes.length), (d) => d.write(args.offsetOut, bytes));
    const now = this.now();
    if (bytes.length > 0) {
      src.atime = now;
      this.changed(dst, now, true);
      dst.mode = modeAfterWrite(ctx, dst.mode);
    }
    return bytes.length;
  }

  lseek(_ctx: RequestContext, { ino, offset, whence }: LseekArgs): number {
    const inode = this.table.get(ino);
    if (!inode.data) throw fuseError('EINVAL');
    if (whence === SEEK_DATA) {
      const at = inode.data.nextData(offset);
      if (at < 0) throw fuseError('ENXIO');
      return at;
    }
    if (whence === SEEK_HOLE) {
      if (offset >= inode.data.sizeBytes) throw fuseError('ENXIO');
      return inode.data.nextHole(offset);
    }
    throw fuseError('EINVAL');
  }

  // ---------------------------------------------------------------- directories

  opendir(ctx: RequestContext, { ino, flags }: OpenArgs): OpenReply {
    const inode = this.dirOf(ino);
    if ((flags & O_ACCMODE) === 0) this.requireAccess(ctx, inode, R_OK);
    const fh = this.nextFh++;
    this.dirs.set(fh, { ino, snapshot: undefined });
    inode.openCount++;
    return { fh };
  }

  /** The listing seen through a directory handle: fixed at the first read and at each rewind. */
  private listing(fh: number, ino: number, offset: number): Array<{ name: string; ino: number }> {
    const dir = this.dirOf(ino);
    let handle = this.dirs.get(fh);
    if (!handle) {
      handle = { ino, snapshot: undefined };
      this.dirs.set(fh, handle);
    }
    if (offset === 0 || handle.snapshot === undefined) {
      const list = [
        { name: '.', ino: dir.ino },
        { name: '..', ino: dir.parent },
      ];
      for (const [name, child] of dir.entries!) list.push({ name, ino: child });
      handle.snapshot = list;
    }
    dir.atime = this.now();
    return handle.snapshot;
  }

  readdir(_ctx: RequestContext, { ino, fh, offset }: ReaddirArgs): DirEntry[] {
    const list = this.listing(fh, ino, offset);
    const out: DirEntry[] = [];
    for (let i = offset; i < list.length; i++) {
      const item = list[i]!;
      const inode = this.table.find(item.ino);
      if (!inode) continue; // removed since the snapshot
      out.push({ name: item.name, ino: inode.ino, mode: inode.mode, nextOffset: i + 1 });
    }
    return out;
  }

  readdirplus(_ctx: RequestContext, { ino, fh, offset, sizeBytes }: ReaddirArgs): DirEntryPlus[] {
    const list = this.listing(fh, ino, offset);
    const out: DirEntryPlus[] = [];
    let used = 0;
    for (let i = offset; i < list.length; i++) {
      const item = list[i]!;
      const inode = this.table.find(item.ino);
      if (!inode) continue;
      used += direntPlusSizeBytes(item.name);
      if (used > sizeBytes) break; // only what fits: each entry sent is a lookup reference
      const dot = item.name === '.' || item.name === '..';
      const entry: Entry = dot
        ? { ino: inode.ino, attr: this.table.attrOf(inode), attrTimeoutSec: this.attrTimeoutSec, entryTimeoutSec: this.entryTimeoutSec }
        : this.entryOf(inode);
      out.push({ name: item.name, nextOffset: i + 1, entry });
    }
    return out;
  }

  releasedir(_ctx: RequestContext, { fh }: ReleasedirArgs): void {
    const handle = this.dirs.get(fh);
    if (!handle) return;
    this.dirs.delete(fh);
    const inode = this.table.find(handle.ino);
    if (!inode) return;
    inode.openCount--;
    this.table.maybeFree(inode);
  }

  fsyncdir(): void {
    // Nothing to make durable.
  }

  statfs(): StatFs {
    const block = memfsLimits.statfsBlockBytes;
    const blocks = Math.floor(this.table.capacityBytes / block);
    const free = Math.max(0, blocks - Math.ceil(this.table.usedDataBytes / block));
    const filesFree = Math.max(0, this.table.maxInodes - this.table.inodeCount);
    return {
      blockSizeBytes: block,
      fragmentSizeBytes: block,
      blocks,
      blocksFree: free,
      blocksAvailable: free,
      files: this.table.maxInodes,
      filesFree,
      filesAvailable: filesFree,
      nameMaxBytes: memfsLimits.maxNameBytes,
    };
  }

  access(ctx: RequestContext, { ino, mask }: AccessArgs): void {
    const inode = this.table.get(ino);
    if (mask !== 0 && !mayAccess(ctx, inode, mask)) throw fuseError('EACCES');
  }

  // ---------------------------------------------------------------- extended attributes

  setxattr(ctx: RequestContext, { ino, name, value, flags }: SetxattrArgs): void {
    checkXattrName(name);
    if (value.length > memfsLimits.maxXattrValueBytes) throw fuseError('E2BIG');
    const inode = this.table.get(ino);
    if (name.startsWith('trusted.') && !isRoot(ctx)) throw fuseError('EPERM');
    if (this.enforce && !isOwnerOrRoot(ctx, inode) && !mayAccess(ctx, inode, W_OK)) throw fuseError('EACCES');
    const attrs = (inode.xattrs ??= new Map());
    const exists = attrs.has(name);
    if (flags & XATTR_CREATE && exists) throw fuseError('EEXIST');
    if (flags & XATTR_REPLACE && !exists) throw fuseError('ENODATA');
    attrs.set(name, Buffer.from(value));
    inode.ctime = this.now();
  }

  getxattr(ctx: RequestContext, { ino, name }: GetxattrArgs): Buffer {
    const inode = this.table.get(ino);
    if (name.startsWith('trusted.') && !isRoot(ctx)) throw fuseError('ENODATA');
    const value = inode.xattrs?.get(name);
    if (value === undefined) throw fuseError('ENODATA');
    return value;
  }

  listxattr(ctx: RequestContext, { ino }: ListxattrArgs): string[] {
    const inode = this.table.get(ino);
    const names = [...(inode.xattrs?.keys() ?? [])];
    return isRoot(ctx) ? names : names.filter((n) => !n.startsWith('trusted.'));
  }

  removexattr(ctx: RequestContext, { ino, name }: RemovexattrArgs): void {
    checkXattrName(name);
    const inode = this.table.get(ino);
    if (name.startsWith('trusted.') && !isRoot(ctx)) throw fuseError('EPERM');
    if (!inode.xattrs?.delete(name)) throw fuseError('ENODATA');
    inode.ctime = this.now();
  }

  // ---------------------------------------------------------------- locks

  getlk(_ctx: RequestContext, { ino, lockOwner, lock }: GetlkArgs): FileLock {
    const inode = this.table.get(ino);
    return (inode.locks ??= new LockTable()).test(lockOwner, lock);
  }

  setlk(ctx: RequestContext, { ino, lockOwner, lock, sleep }: SetlkArgs): Promise<void> {
    const inode = this.table.get(ino);
    return (inode.locks ??= new LockTable()).set(lockOwner, lock, sleep, ctx.signal);
  }
}
