// SqliteMetaStore: the MetaStore on SQLite, on disk (WAL + synchronous=FULL: whatever a call
// returned survives kill -9) or in memory (':memory:', for unit tests and simulation). Each public
// method is one transaction. Invariants: every entry names an existing inode; a directory has one
// entry (the root none) and nlink = 2 + its subdirectories; an inode with nlink 0 exists only
// while some session holds it (holds are durable), and open() deletes any left without a hold. No rwx checks: the kernel does them.

import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { nowTimespec } from '../common/clock.js';
import { atimeUpdateDue } from '../core/relatime.js';
import { asQfsError, qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { nameByteLength, nameFromBytes, nameToBytes } from '../common/name-bytes.js';
import {
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  XATTR_CREATE,
  XATTR_REPLACE,
  ROOT_INO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type BlockRef,
  type Caller,
  type DirEntry,
  type InodeAttr,
  type OrphanBlock,
  type SetAttrRequest,
  type StatFs,
  type Timespec,
} from '../common/types.js';
import type { CommitBlocksRequest, CommitExpectation, CommitResult, CreateRequest, MetaStore, RemoveResult, SetHoldsResult } from './meta-store.js';
import {
  checkCaller,
  checkCommitBlocks,
  checkMode,
  checkName,
  checkNonNegativeInt,
  checkPositiveInt,
  checkSessionId,
  checkSetAttr,
  checkSymlinkTarget,
  checkTimespec,
  checkXattrName,
  checkXattrValue,
  isDotName,
  pageLimit,
  newInodeAttr,
  type NewInodeSpec,
  PERMISSION_BITS,
  MKDIR_BITS,
  fitPage,
  isRegular,
  createMode,
  checkReplace,
  isDir,
} from './meta-validate.js';
import {
  attrToRow,
  newInodeRow,
  prepareStatements,
  rowToAttr,
  type EntryRow,
  type Statements,
} from './sqlite-meta-statements.js';
import { openDatabase } from './sqlite-schema.js';

interface SqliteMetaStoreOptions {
  /** Source of "now" for timestamps; the real clock (nanosecond resolution) by default. */
  clock?: () => Timespec;
}

/** What create, mkdir and symlink decide about a new inode; the rest comes from caller and parent. */







/** SQLite failures become QfsErrors: a full disk is NO_SPACE, a lock held too long UNAVAILABLE. */
function translate(err: unknown): never {
  if (err instanceof Database.SqliteError) {
    if (err.code === 'SQLITE_FULL') throw qfsError('NO_SPACE', `metadata store is full: ${err.message}`, err);
    if (err.code.startsWith('SQLITE_BUSY')) throw qfsError('UNAVAILABLE', `metadata store is locked: ${err.message}`, err);
  }
  throw asQfsError(err);
}

export class SqliteMetaStore implements MetaStore {
  private readonly st: Statements;
  private readonly runInTransaction: Database.Transaction<(fn: () => unknown) => unknown>;
  private startupOrphans: OrphanBlock[];

  /** Opens or creates the store at `path` (':memory:' for a private in-memory one). */
  static open(path: string, options: SqliteMetaStoreOptions = {}): SqliteMetaStore {
    const clock = options.clock ?? nowTimespec;
    let db: Database.Database;
    try {
      db = openDatabase(path, clock());
    } catch (err) {
      translate(err);
    }
    const diskDir = path === ':memory:' ? undefined : dirname(resolve(path));
    try {
      return new SqliteMetaStore(db, clock, diskDir);
    } catch (err) {
      db.close();
      translate(err);
    }
  }

  private constructor(
    private readonly db: Database.Database,
    private readonly clock: () => Timespec,
    private readonly diskDir: string | undefined,
  ) {
    this.st = prepareStatements(db);
    this.runInTransaction = db.transaction((fn: () => unknown) => fn());
    this.startupOrphans = this.write(() => this.purgeUnlinked());
  }

  // ---- transactions and row helpers ----

  private write<T>(fn: () => T): T {
    try {
      return this.runInTransaction.immediate(fn) as T;
    } catch (err) {
      translate(err);
    }
  }

  /**
   * A write whose commit is not synced to disk by itself (synchronous=NORMAL in WAL mode): it
   * survives kill -9 (it is in the WAL, in the OS's cache) but not a power loss, until the next
   * synced commit, which syncs the WAL up to it. For holds: an open or close costs no fsync, and
   * a hold still matters only if an unlink follows, whose own synced commit makes the hold
   * durable first; a hold lost with the machine is restated by its mount when it reconnects.
   */
  private writeUnsynced<T>(fn: () => T): T {
    if (this.diskDir === undefined) return this.write(fn);
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.write(fn);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  private read<T>(fn: () => T): T {
    try {
      return this.runInTransaction.deferred(fn) as T;
    } catch (err) {
      translate(err);
    }
  }

  /** The injected clock, checked: a bad timestamp must not reach the database. */
  private now(): Timespec {
    const now = this.clock();
    checkTimespec(now, 'clock reading');
    return now;
  }

  private findInode(ino: number): InodeAttr | undefined {
    const row = this.st.inodeGet.get(ino);
    return row === undefined ? undefined : rowToAttr(row);
  }

  private requireInode(ino: number): InodeAttr {
    const attr = this.findInode(ino);
    if (attr === undefined) throw qfsError('NOT_FOUND', `no inode ${ino}`);
    return attr;
  }

  /** A live directory: a removed one (nlink 0, still held) counts as gone, as on Linux. */
  private requireDir(ino: number): InodeAttr {
    const attr = this.findInode(ino);
    if (attr === undefined || (isDir(attr) && attr.nlink === 0)) throw qfsError('NOT_FOUND', `no directory ${ino}`);
    if (!isDir(attr)) throw qfsError('NOT_DIR', `inode ${ino} is not a directory`);
    return attr;
  }

  private requireEntry(parent: number, name: string): EntryRow {
    const entry = this.st.entryGet.get(parent, nameToBytes(name));
    if (entry === undefined) throw qfsError('NOT_FOUND', `no entry ${JSON.stringify(name)} in directory ${parent}`);
    return entry;
  }

  private parentOf(dir: number): number {
    if (dir === ROOT_INO) return ROOT_INO;
    const row = this.st.entryParentOf.get(dir);
    if (row === undefined) throw qfsError('INTERNAL', `directory ${dir} has no entry`);
    return row.parent;
  }

  /** True if `ancestor` is `ino` or a directory above it. */
  private isAncestorOrSelf(ancestor: number, ino: number): boolean {
    let current = ino;
    for (let depth = 0; depth < limits.maxTreeDepth; depth++) {
      if (current === ancestor) return true;
      if (current === ROOT_INO) return false;
      current = this.parentOf(current);
    }
    throw qfsError('INTERNAL', `directory ${ino} is over ${limits.maxTreeDepth} levels deep: a cycle`);
  }

  /** Writes an inode row back; every change bumps the generation. */
  private save(attr: InodeAttr): InodeAttr {
    attr.generation += 1;
    this.st.inodeUpdate.run(attrToRow(attr));
    return attr;
  }

  /** A directory whose entries changed: new mtime and ctime, saved. */
  private touchDir(dir: InodeAttr, now: Timespec): void {
    dir.mtime = { ...now };
    dir.ctime = { ...now };
    this.save(dir);
  }

  private isHeld(ino: number): boolean {
    return this.st.holdAny.get(ino) !== undefined;
  }

  /** Drops one hold; deletes the inode if that was its last hold and it has no name. */
  private dropHold(session: string, ino: number): OrphanBlock[] {
    if (this.st.holdDelete.run(session, ino).changes === 0 || this.isHeld(ino)) return [];
    const attr = this.findInode(ino);
    return attr === undefined || attr.nlink > 0 ? [] : this.deleteInode(ino);
  }

  /** Deletes an inode with its block map and xattrs; returns its blocks. */
  private deleteInode(ino: number): OrphanBlock[] {
    const orphans = this.blocksFrom(ino, 0);
    this.st.xattrDeleteAll.run(ino);
    this.st.inodeDelete.run(ino);
    return orphans;
  }

  /** Removes the block-map entries from `firstIndex` on and returns them. */
  private blocksFrom(ino: number, firstIndex: number): OrphanBlock[] {
    const orphans = this.st.blocksFrom.all(ino, firstIndex).map((b) => ({ ino, index: b.idx, version: b.version }));
    this.st.blocksDeleteFrom.run(ino, firstIndex);
    return orphans;
  }

  private purgeUnlinked(): OrphanBlock[] {
    return this.st.inodesUnlinked.all().flatMap((row) => this.deleteInode(row.ino));
  }

  /** One name of `attr` went away (its entry is already deleted): nlink drops (a directory's to
   * 0), and an inode left with no name and no holder is deleted. */
  private dropLink(attr: InodeAttr, now: Timespec): RemoveResult {
    attr.nlink = isDir(attr) ? 0 : attr.nlink - 1;
    attr.ctime = { ...now };
    if (attr.nlink > 0 || this.isHeld(attr.ino)) return { attr: this.save(attr), orphans: [] };
    attr.generation += 1;
    return { attr, orphans: this.deleteInode(attr.ino) };
  }

  /** The name is free for a new entry; '.' and '..' always exist. */
  private requireFreeName(parent: InodeAttr, name: string): void {
    if (isDotName(name) || this.st.entryGet.get(parent.ino, nameToBytes(name)) !== undefined) {
      throw qfsError('EXISTS', `${JSON.stringify(name)} exists in directory ${parent.ino}`);
    }
  }

  /** Inserts a new inode and its entry. A setgid parent gives its gid (and, to a directory, its
   * setgid bit). */
  private addChild(parent: InodeAttr, name: string, caller: Caller, spec: NewInodeSpec): InodeAttr {
    const now = this.now();
    const dir = (spec.mode & S_IFMT) === S_IFDIR;
    const attr = newInodeAttr(0, parent, caller, spec, now);
    attr.ino = Number(this.st.inodeInsert.run(newInodeRow(attr, spec.target === null ? null : nameToBytes(spec.target))).lastInsertRowid);
    this.st.entryInsert.run(parent.ino, nameToBytes(name), attr.ino);
    if (dir) parent.nlink += 1;
    this.touchDir(parent, now);
    return attr;
  }

  // ---- lookups ----

  getattr(ino: number): InodeAttr {
    checkNonNegativeInt(ino, 'ino');
    return this.read(() => this.requireInode(ino));
  }

  lookup(parent: number, name: string): InodeAttr {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    return this.read(() => {
      const dir = this.requireDir(parent);
      if (name === '.') return dir;
      if (name === '..') return this.requireInode(this.parentOf(dir.ino));
      return this.requireInode(this.requireEntry(dir.ino, name).ino);
    });
  }

  readlink(ino: number): string {
    checkNonNegativeInt(ino, 'ino');
    return this.read(() => {
      const attr = this.requireInode(ino);
      const row = this.st.inodeTarget.get(ino);
      if ((attr.mode & S_IFMT) !== S_IFLNK || row?.target == null) {
        throw qfsError('INVALID', `inode ${ino} is not a symlink`);
      }
      return nameFromBytes(row.target);
    });
  }

  /** Cookies: '.' is 1, '..' is 2, an entry is its id + 2; pass the last cookie seen to go on.
   * A page may hold fewer than `limit` entries (long names): only an empty page ends the list. */
  readdir(ino: number, cookie: number, limit: number): DirEntry[] {
    checkNonNegativeInt(ino, 'ino');
    checkNonNegativeInt(cookie, 'cookie');
    const max = pageLimit(limit, limits.maxReaddirEntries);
    return this.read(() => {
      const dir = this.requireDir(ino);
      const out: DirEntry[] = [];
      if (cookie < 1) out.push({ name: '.', ino: dir.ino, mode: dir.mode, cookie: 1 });
      if (cookie < 2 && out.length < max) {
        const up = this.requireInode(this.parentOf(dir.ino));
        out.push({ name: '..', ino: up.ino, mode: up.mode, cookie: 2 });
      }
      const rest = this.st.entryPage.all(dir.ino, Math.max(cookie - 2, 0), max - out.length);
      for (const row of rest) out.push({ name: nameFromBytes(row.name), ino: row.ino, mode: row.mode, cookie: row.id + 2 });
      return fitPage(out);
    });
  }

  readdirplus(ino: number, cookie: number, limit: number): Array<{ entry: DirEntry; attr: InodeAttr }> {
    return this.read(() => this.readdir(ino, cookie, limit).map((entry) => ({ entry, attr: this.requireInode(entry.ino) })));
  }

  // ---- namespace changes ----

  create(req: CreateRequest): InodeAttr {
    checkNonNegativeInt(req.parent, 'parent');
    checkName(req.name);
    checkCaller(req.caller);
    checkMode(req.mode);
    const mode = createMode(req.mode);
    const special = (mode & S_IFMT) === S_IFCHR || (mode & S_IFMT) === S_IFBLK;
    const rdev = special ? (req.rdev ?? 0) : 0;
    checkNonNegativeInt(rdev, 'rdev');
    if (req.session !== undefined) checkSessionId(req.session);
    return this.write(() => {
      const parent = this.requireDir(req.parent);
      const attr =
        this.existingForCreate(parent, req.name, mode, req.exclusive) ??
        this.addChild(parent, req.name, req.caller, { mode, rdev, size: 0, target: null });
      if (req.session !== undefined) this.st.holdAdd.run(req.session, attr.ino);
      return attr;
    });
  }

  /** create() without O_EXCL opens an existing regular file, as open(O_CREAT) does. */
  private existingForCreate(parent: InodeAttr, name: string, mode: number, exclusive: boolean): InodeAttr | undefined {
    const entry = isDotName(name) ? undefined : this.st.entryGet.get(parent.ino, nameToBytes(name));
    if (entry === undefined) {
      this.requireFreeName(parent, name);
      return undefined;
    }
    const attr = this.requireInode(entry.ino);
    const wantsRegular = (mode & S_IFMT) === S_IFREG;
    if (!exclusive && wantsRegular && isRegular(attr)) return attr;
    if (!exclusive && wantsRegular && isDir(attr)) throw qfsError('IS_DIR', `${JSON.stringify(name)} is a directory`);
    throw qfsError('EXISTS', `${JSON.stringify(name)} exists in directory ${parent.ino}`);
  }

  mkdir(parent: number, name: string, mode: number, caller: Caller): InodeAttr {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    checkMode(mode);
    checkCaller(caller);
    return this.write(() => {
      const dir = this.requireDir(parent);
      this.requireFreeName(dir, name);
      return this.addChild(dir, name, caller, { mode: S_IFDIR | (mode & MKDIR_BITS), rdev: 0, size: 0, target: null });
    });
  }

  symlink(parent: number, name: string, target: string, caller: Caller): InodeAttr {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    checkSymlinkTarget(target);
    checkCaller(caller);
    const size = nameByteLength(target);
    return this.write(() => {
      const dir = this.requireDir(parent);
      this.requireFreeName(dir, name);
      return this.addChild(dir, name, caller, { mode: S_IFLNK | 0o777, rdev: 0, size, target });
    });
  }

  /** Error order as Linux linkat: source, target directory, EXISTS, then EPERM for directories. */
  link(ino: number, newParent: number, newName: string): InodeAttr {
    checkNonNegativeInt(ino, 'ino');
    checkNonNegativeInt(newParent, 'newParent');
    checkName(newName);
    return this.write(() => {
      const attr = this.requireInode(ino);
      const dir = this.requireDir(newParent);
      this.requireFreeName(dir, newName);
      if (isDir(attr)) throw qfsError('PERMISSION', `inode ${ino} is a directory; directories cannot be hard-linked`);
      // Linux refuses to give an unlinked (open) file a name again: ENOENT.
      if (attr.nlink === 0) throw qfsError('NOT_FOUND', `inode ${ino} has been removed`);
      const now = this.now();
      this.st.entryInsert.run(dir.ino, nameToBytes(newName), ino);
      attr.nlink += 1;
      attr.ctime = { ...now };
      this.save(attr);
      this.touchDir(dir, now);
      return attr;
    });
  }

  unlink(parent: number, name: string): RemoveResult {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    return this.write(() => {
      const dir = this.requireDir(parent);
      if (isDotName(name)) throw qfsError('IS_DIR', `cannot unlink ${JSON.stringify(name)}`);
      const entry = this.requireEntry(dir.ino, name);
      const attr = this.requireInode(entry.ino);
      if (isDir(attr)) throw qfsError('IS_DIR', `${JSON.stringify(name)} is a directory`);
      const now = this.now();
      this.st.entryDelete.run(entry.id);
      this.touchDir(dir, now);
      return this.dropLink(attr, now);
    });
  }

  rmdir(parent: number, name: string): RemoveResult {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    return this.write(() => {
      const dir = this.requireDir(parent);
      if (name === '.') throw qfsError('INVALID', `cannot rmdir '.'`);
      if (name === '..') throw qfsError('NOT_EMPTY', `cannot rmdir '..'`);
      const entry = this.requireEntry(dir.ino, name);
      const attr = this.requireInode(entry.ino);
      if (!isDir(attr)) throw qfsError('NOT_DIR', `${JSON.stringify(name)} is not a directory`);
      if (this.st.entryAny.get(attr.ino) !== undefined) {
        throw qfsError('NOT_EMPTY', `directory ${JSON.stringify(name)} is not empty`);
      }
      const now = this.now();
      this.st.entryDelete.run(entry.id);
      dir.nlink -= 1;
      this.touchDir(dir, now);
      return this.dropLink(attr, now);
    });
  }

  /** Error order follows Linux renameat2: lookups, NOREPLACE/EXCHANGE, loops, same inode (a
   * successful no-op), then kinds and emptiness. '.' and '..' are INVALID (Linux: EBUSY). */
  rename(oldParent: number, oldName: string, newParent: number, newName: string, flags: number): RemoveResult | null {
    checkNonNegativeInt(oldParent, 'oldParent');
    checkNonNegativeInt(newParent, 'newParent');
    checkName(oldName);
    checkName(newName);
    if (flags !== 0 && flags !== RENAME_NOREPLACE && flags !== RENAME_EXCHANGE) {
      throw qfsError('INVALID', `rename flags ${flags} are not supported`);
    }
    if (isDotName(oldName) || isDotName(newName)) throw qfsError('INVALID', `cannot rename '.' or '..'`);
    return this.write(() => {
      const from = this.requireDir(oldParent);
      // One object per directory, so that two updates to the same parent do not overwrite each other.
      const to = newParent === oldParent ? from : this.requireDir(newParent);
      const src = this.requireEntry(from.ino, oldName);
      const dst = this.st.entryGet.get(to.ino, nameToBytes(newName));
      if (dst !== undefined && flags === RENAME_NOREPLACE) {
        throw qfsError('EXISTS', `${JSON.stringify(newName)} exists in directory ${to.ino}`);
      }
      if (dst === undefined && flags === RENAME_EXCHANGE) {
        throw qfsError('NOT_FOUND', `no entry ${JSON.stringify(newName)} in directory ${to.ino}`);
      }
      const srcAttr = this.requireInode(src.ino);
      const dstAttr = dst === undefined ? undefined : this.requireInode(dst.ino);
      this.checkRenameLoops(from, to, srcAttr, dstAttr, flags);
      if (dst !== undefined && dst.ino === src.ino) return null;
      const now = this.now();
      if (dst !== undefined && dstAttr !== undefined && flags === RENAME_EXCHANGE) {
        this.exchange({ from, to, src, dst, srcAttr, dstAttr, now });
        return null;
      }
      return this.move({ from, to, src, srcAttr, newName, dst, dstAttr, now });
    });
  }

  /** A directory cannot move below itself (INVALID); a target directory above the source is
   * NOT_EMPTY by nature, INVALID when exchanging (as Linux). */
  private checkRenameLoops(
    from: InodeAttr,
    to: InodeAttr,
    srcAttr: InodeAttr,
    dstAttr: InodeAttr | undefined,
    flags: number,
  ): void {
    if (isDir(srcAttr) && this.isAncestorOrSelf(srcAttr.ino, to.ino)) {
      throw qfsError('INVALID', `cannot move directory ${srcAttr.ino} into its own subtree`);
    }
    if (dstAttr !== undefined && isDir(dstAttr) && this.isAncestorOrSelf(dstAttr.ino, from.ino)) {
      if (flags === RENAME_EXCHANGE) {
        throw qfsError('INVALID', `cannot exchange directory ${dstAttr.ino} with its own descendant`);
      }
      throw qfsError('NOT_EMPTY', `target directory ${dstAttr.ino} contains the source`);
    }
  }

  private move(m: {
    from: InodeAttr;
    to: InodeAttr;
    src: EntryRow;
    srcAttr: InodeAttr;
    newName: string;
    dst: EntryRow | undefined;
    dstAttr: InodeAttr | undefined;
    now: Timespec;
  }): RemoveResult | null {
    if (m.dstAttr !== undefined) checkReplace(m.srcAttr, m.dstAttr, () => this.st.entryAny.get(m.dstAttr!.ino) !== undefined);
    this.st.entryDelete.run(m.src.id);
    // A replaced name keeps its entry (and so its readdir position); only the inode changes.
    if (m.dst !== undefined) this.st.entrySetIno.run(m.srcAttr.ino, m.dst.id);
    else this.st.entryInsert.run(m.to.ino, nameToBytes(m.newName), m.srcAttr.ino);
    if (isDir(m.srcAttr) && m.from !== m.to) {
      m.from.nlink -= 1;
      m.to.nlink += 1;
    }
    // A replaced directory's '..' no longer counts toward the target parent.
    if (m.dstAttr !== undefined && isDir(m.dstAttr)) m.to.nlink -= 1;
    m.srcAttr.ctime = { ...m.now };
    this.save(m.srcAttr);
    this.touchDir(m.from, m.now);
    if (m.to !== m.from) this.touchDir(m.to, m.now);
    return m.dstAttr === undefined ? null : this.dropLink(m.dstAttr, m.now);
  }

  private exchange(x: {
    from: InodeAttr;
    to: InodeAttr;
    src: EntryRow;
    dst: EntryRow;
    srcAttr: InodeAttr;
    dstAttr: InodeAttr;
    now: Timespec;
  }): void {
    this.st.entrySetIno.run(x.dstAttr.ino, x.src.id);
    this.st.entrySetIno.run(x.srcAttr.ino, x.dst.id);
    // A directory changing parents takes its '..' link along.
    if (x.from !== x.to && isDir(x.srcAttr) !== isDir(x.dstAttr)) {
      const delta = isDir(x.srcAttr) ? 1 : -1;
      x.from.nlink -= delta;
      x.to.nlink += delta;
    }
    for (const attr of [x.srcAttr, x.dstAttr]) {
      attr.ctime = { ...x.now };
      this.save(attr);
    }
    this.touchDir(x.from, x.now);
    if (x.to !== x.from) this.touchDir(x.to, x.now);
  }

  // ---- attributes ----

  setattr(ino: number, req: SetAttrRequest, now: Timespec): CommitResult {
    checkNonNegativeInt(ino, 'ino');
    checkSetAttr(req, now);
    // A read's relatime mark (atime alone, ctime kept) is not synced by itself, as with Linux's
    // lazytime: a power loss can only set an access time back.
    const accessMark = req.atime !== undefined && req.ctime !== undefined && Object.entries(req).every(([k, v]) => v === undefined || k === 'atime' || k === 'ctime');
    const commit = <T>(fn: () => T): T => (accessMark ? this.writeUnsynced(fn) : this.write(fn));
    return commit(() => {
      const attr = this.requireInode(ino);
      if (req.size !== undefined) this.requireResizable(attr);
      const orphans = req.size === undefined ? [] : this.resize(attr, req.size, req.mtime === undefined, now);
      if (req.mode !== undefined) attr.mode = (attr.mode & S_IFMT) | (req.mode & PERMISSION_BITS);
      if (req.uid !== undefined) attr.uid = req.uid;
      if (req.gid !== undefined) attr.gid = req.gid;
      if (req.atime !== undefined) attr.atime = req.atime === 'now' ? { ...now } : { ...req.atime };
      if (req.mtime !== undefined) attr.mtime = req.mtime === 'now' ? { ...now } : { ...req.mtime };
      const changed = Object.values(req).some((value) => value !== undefined);
      if (!changed) return { attr, orphans };
      attr.ctime = req.ctime === undefined ? { ...now } : { ...req.ctime };
      return { attr: this.save(attr), orphans };
    });
  }

  private requireResizable(attr: InodeAttr): void {
    if (isDir(attr)) throw qfsError('IS_DIR', `inode ${attr.ino} is a directory`);
    if (!isRegular(attr)) throw qfsError('INVALID', `inode ${attr.ino} is not a regular file`);
  }

  /** Drops the block-map entries wholly past the new end and returns them; the block straddling
   * the end keeps its entry, since the caller rewrites it. A real size change sets mtime. */
  private resize(attr: InodeAttr, size: number, setMtime: boolean, now: Timespec): OrphanBlock[] {
    const firstGone = Math.ceil(size / limits.blockSizeBytes);
    const orphans = this.blocksFrom(attr.ino, firstGone);
    if (size !== attr.size && setMtime) attr.mtime = { ...now };
    attr.size = size;
    return orphans;
  }

  // ---- block maps ----

  getBlocks(ino: number, fromIndex: number, toIndex: number): BlockRef[] {
    checkNonNegativeInt(ino, 'ino');
    checkNonNegativeInt(fromIndex, 'fromIndex');
    checkNonNegativeInt(toIndex, 'toIndex');
    if (toIndex < fromIndex) throw qfsError('INVALID', `block range [${fromIndex}, ${toIndex}) is reversed`);
    return this.read(() => {
      this.requireInode(ino);
      return this.st.blocksRange.all(ino, fromIndex, toIndex, limits.maxBlocksPerCall).map((row) => ({
        index: row.idx,
        version: row.version,
        checksum: row.checksum,
        lengthBytes: row.length_bytes,
      }));
    });
  }

  commitBlocks(req: CommitBlocksRequest): CommitResult {
    checkCommitBlocks(req);
    return this.write(() => {
      const attr = this.requireInode(req.ino);
      this.requireResizable(attr);
      if (req.expect !== undefined && !this.alreadyCommitted(req)) this.requireExpected(attr, req.expect);
      const size = Math.max(attr.size, req.sizeBytes);
      for (const block of req.blocks) {
        if (block.index * limits.blockSizeBytes + block.lengthBytes > size) {
          throw qfsError('INVALID', `block ${block.index} of inode ${req.ino} ends past the file size ${size}`);
        }
      }
      const orphans = req.blocks.flatMap((block) => this.putBlock(req.ino, block));
      attr.size = size;
      attr.mtime = { ...req.time };
      attr.ctime = { ...req.time };
      return { attr: this.save(attr), orphans };
    });
  }

  /** True if every block of the commit is in the map at its version: this commit was made. */
  private alreadyCommitted(req: CommitBlocksRequest): boolean {
    return req.blocks.length > 0 && req.blocks.every((b) => this.st.blockVersion.get(req.ino, b.index)?.version === b.version);
  }

  /** STALE unless the inode has the expected size and block versions (0: no entry). */
  private requireExpected(attr: InodeAttr, expect: CommitExpectation): void {
    if (attr.size !== expect.sizeBytes) {
      throw qfsError('STALE', `inode ${attr.ino} has size ${attr.size}, not the ${expect.sizeBytes} the write was planned from`);
    }
    for (const { index, version } of expect.blocks) {
      const current = this.st.blockVersion.get(attr.ino, index)?.version ?? 0;
      if (current !== version) {
        throw qfsError('STALE', `block ${index} of inode ${attr.ino} is at version ${current}, not the ${version} the write was planned from`);
      }
    }
  }

  /** Writes one block-map entry; returns the version it replaced, if any other. STALE if the
   * block would go back to an older version (the transaction then commits nothing): each writer
   * (the mediator, each mount) allocates from a batch of its own, so one planned from an older
   * map could name a version below the one committed since, and a patch's base must lie below
   * the patch. */
  private putBlock(ino: number, block: BlockRef): OrphanBlock[] {
    const previous = this.st.blockVersion.get(ino, block.index);
    const { index, version, checksum, lengthBytes } = block;
    if (previous !== undefined && previous.version > version) {
      throw qfsError('STALE', `block ${index} of inode ${ino} is at version ${previous.version}, newer than the ${version} committed`);
    }
    this.st.blockUpsert.run({ ino, idx: index, version, checksum, length_bytes: lengthBytes });
    return previous === undefined || previous.version === version ? [] : [{ ino, index, version: previous.version }];
  }

  reserveVersions(count: number): number {
    checkPositiveInt(count, 'count', limits.versionReserveBatch);
    return this.write(() => {
      const row = this.st.versionBump.get(count);
      if (row === undefined) throw qfsError('INTERNAL', 'version counter is missing');
      return row.value - count;
    });
  }

  /** Pass (0, 0) to start: inode 0 never exists. */
  listBlocks(afterIno: number, afterIndex: number, limit: number): Array<BlockRef & { ino: number }> {
    checkNonNegativeInt(afterIno, 'afterIno');
    checkNonNegativeInt(afterIndex, 'afterIndex');
    const max = pageLimit(limit, limits.maxBlocksPerCall);
    return this.read(() =>
      this.st.blocksAfter.all(afterIno, afterIndex, max).map((row) => ({
        ino: row.ino,
        index: row.idx,
        version: row.version,
        checksum: row.checksum,
        lengthBytes: row.length_bytes,
      })),
    );
  }

  committedVersions(blocks: ReadonlyArray<{ ino: number; index: number }>): number[] {
    if (blocks.length > limits.maxBlocksPerBatch) throw qfsError('INVALID', `${blocks.length} blocks asked, over ${limits.maxBlocksPerBatch}`);
    for (const b of blocks) {
      checkNonNegativeInt(b.ino, 'ino');
      checkNonNegativeInt(b.index, 'index');
    }
    return this.read(() => blocks.map((b) => this.st.blockVersion.get(b.ino, b.index)?.version ?? 0));
  }

  // ---- extended attributes ----

  setxattr(ino: number, name: string, value: Uint8Array, flags: number): void {
    checkNonNegativeInt(ino, 'ino');
    checkXattrName(name);
    checkXattrValue(value);
    if (flags !== 0 && flags !== XATTR_CREATE && flags !== XATTR_REPLACE) {
      throw qfsError('INVALID', `setxattr flags ${flags} are not supported`);
    }
    this.write(() => {
      const attr = this.requireInode(ino);
      const present = this.st.xattrGet.get(ino, nameToBytes(name)) !== undefined;
      if (present && flags === XATTR_CREATE) {
        throw qfsError('EXISTS', `xattr ${JSON.stringify(name)} exists on inode ${ino}`);
      }
      if (!present && flags === XATTR_REPLACE) throw qfsError('NO_DATA', `no xattr ${JSON.stringify(name)} on inode ${ino}`);
      this.st.xattrUpsert.run(ino, nameToBytes(name), Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      attr.ctime = this.now();
      this.save(attr);
    });
  }

  getxattr(ino: number, name: string): Uint8Array {
    checkNonNegativeInt(ino, 'ino');
    checkXattrName(name);
    return this.read(() => {
      this.requireInode(ino);
      const row = this.st.xattrGet.get(ino, nameToBytes(name));
      if (row === undefined) throw qfsError('NO_DATA', `no xattr ${JSON.stringify(name)} on inode ${ino}`);
      return new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength);
    });
  }

  listxattr(ino: number): string[] {
    checkNonNegativeInt(ino, 'ino');
    return this.read(() => {
      this.requireInode(ino);
      return this.st.xattrNames.all(ino).map((row) => nameFromBytes(row.name));
    });
  }

  removexattr(ino: number, name: string): void {
    checkNonNegativeInt(ino, 'ino');
    checkXattrName(name);
    this.write(() => {
      const attr = this.requireInode(ino);
      if (this.st.xattrDelete.run(ino, nameToBytes(name)).changes === 0) {
        throw qfsError('NO_DATA', `no xattr ${JSON.stringify(name)} on inode ${ino}`);
      }
      attr.ctime = this.now();
      this.save(attr);
    });
  }

  // ---- open files ----

  hold(session: string, ino: number): InodeAttr {
    checkSessionId(session);
    checkNonNegativeInt(ino, 'ino');
    return this.writeUnsynced(() => {
      const attr = this.requireInode(ino);
      this.st.holdAdd.run(session, ino);
      return attr;
    });
  }

  release(session: string, ino: number): OrphanBlock[] {
    checkSessionId(session);
    checkNonNegativeInt(ino, 'ino');
    return this.writeUnsynced(() => this.dropHold(session, ino));
  }

  setHolds(session: string, inos: readonly number[]): SetHoldsResult {
    checkSessionId(session);
    if (inos.length > limits.maxHoldsPerSession) throw qfsError('INVALID', `more than ${limits.maxHoldsPerSession} holds for one session`);
    for (const ino of inos) checkNonNegativeInt(ino, 'ino');
    const wanted = new Set(inos);
    return this.write(() => {
      const orphans = this.st.holdsOf
        .all(session)
        .filter((row) => !wanted.has(row.ino))
        .flatMap((row) => this.dropHold(session, row.ino));
      const missing: number[] = [];
      for (const ino of wanted) {
        if (this.findInode(ino) === undefined) missing.push(ino);
        else this.st.holdAdd.run(session, ino);
      }
      return { orphans, missing };
    });
  }

  holdSessions(): string[] {
    return this.read(() => this.st.holdSessions.all(limits.maxHoldSessions).map((row) => row.session));
  }

  takeStartupOrphans(): OrphanBlock[] {
    const orphans = this.startupOrphans;
    this.startupOrphans = [];
    return orphans;
  }

  // ---- status ----

  markAccess(ino: number, now: Timespec): boolean {
    checkNonNegativeInt(ino, 'ino');
    checkTimespec(now, 'now');
    return this.writeUnsynced(() => {
      const attr = this.requireInode(ino);
      if (!atimeUpdateDue(attr, now)) return false;
      attr.atime = { ...now };
      this.save(attr);
      return true;
    });
  }

  statfs(): StatFs {
    const inodes = this.read(() => this.st.inodeCount.get()?.n ?? 0);
    return {
      blockSizeBytes: limits.blockSizeBytes,
      ...this.spaceBlocks(),
      totalInodes: limits.metaStoreReportedInodes,
      freeInodes: Math.max(0, limits.metaStoreReportedInodes - inodes),
      maxNameBytes: limits.maxNameBytes,
    };
  }

  /** Space of the disk the database lives on, in blocks of limits.blockSizeBytes. */
  private spaceBlocks(): { totalBlocks: number; freeBlocks: number; availBlocks: number } {
    const toBlocks = (bytes: number): number => Math.floor(bytes / limits.blockSizeBytes);
    if (this.diskDir === undefined) {
      const all = toBlocks(limits.memoryMetaStoreSpaceBytes);
      return { totalBlocks: all, freeBlocks: all, availBlocks: all };
    }
    try {
      const disk = statfsSync(this.diskDir);
      return {
        totalBlocks: toBlocks(disk.blocks * disk.bsize),
        freeBlocks: toBlocks(disk.bfree * disk.bsize),
        availBlocks: toBlocks(disk.bavail * disk.bsize),
      };
    } catch (err) {
      throw asQfsError(err);
    }
  }

  counts(): { inodes: number; blocks: number; bytes: number } {
    return this.read(() => {
      const blocks = this.st.blockTotals.get();
      return { inodes: this.st.inodeCount.get()?.n ?? 0, blocks: blocks?.n ?? 0, bytes: blocks?.bytes ?? 0 };
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
