// FuseSession: one mounted file system on quorumfs's libfuse3 low-level binding. FUSE worker
// threads hand each request to this (JS) thread without waiting; the handler's result or error
// is turned into exactly one reply (a failed handler answers with its errno, else EIO). The
// session ends on unmount(), on an external unmount, or when the process's environment goes
// away; `closed` settles then, and every request still pending was answered ENOTCONN.

import { limits } from '../common/limits.js';
import { nameFromBytes, nameToBytes } from '../common/name-bytes.js';
import { errnoCodes, errnoName } from './errno-codes.js';
import { FuseError, carriedErrno, errnoOf } from './fuse-error.js';
import { loadNativeBinding, type NativeBinding, type NativeDispatch, type NativeConnConfig, type NativeHandle } from './fuse-native.js';
import type {
  ConnInfo,
  DirEntryPlus,
  Entry,
  FileLock,
  FuseOperations,
  NegativeEntry,
  OpenReply,
  RequestContext,
  SetattrArgs,
  Timespec,
} from './fuse-operations.js';
import {
  ENTRY_BLOCK_LENGTH,
  OpCode,
  SetattrValid,
  encodeDirents,
  encodeDirentsPlus,
  encodeEntry,
  encodeAttr,
  encodeOpenBits,
  encodeStatfs,
  EntryField,
} from './fuse-wire.js';
import { clearStaleMount } from './stale-mount.js';

/** Connection parameters asked of the kernel at INIT. */
interface FuseConnOptions {
  /** Largest write request; the kernel's cap is 1 MiB (256 pages). Default 1 MiB. */
  maxWriteBytes?: number;
  /** Largest readahead; the kernel offers at most its own setting. Default 1 MiB. */
  maxReadaheadBytes?: number;
  /** Background requests (readahead, async direct I/O) in flight. Default 64. */
  maxBackground?: number;
  congestionThreshold?: number;
  /** Kernel write-back caching (the kernel then owns mtime/ctime of written files). Default off. */
  writebackCache?: boolean;
  /** splice transfers to/from /dev/fuse. Default off. */
  splice?: boolean;
  /** Let the kernel choose between readdir and readdirplus. Default on. */
  readdirplusAuto?: boolean;
  /** The file system clears setuid/setgid on write, truncate and chown itself. Default on. */
  handleKillpriv?: boolean;
  /** open() gets O_TRUNC instead of a separate truncating setattr. Default off. */
  atomicOTrunc?: boolean;
  /** Drop cached pages when getattr shows a changed mtime or size. Default on. */
  autoInvalData?: boolean;
  cacheSymlinks?: boolean;
  asyncDio?: boolean;
  /** FUSE worker threads at most / kept idle. Defaults 8 / 4: handlers never block them. */
  maxThreads?: number;
  maxIdleThreads?: number;
  cloneFd?: boolean;
}

interface HandlerErrorInfo {
  op: string;
  errno: number;
  error: unknown;
}

interface FuseSessionOptions {
  mountpoint: string;
  operations: FuseOperations;
  /** Operations not to register even though `operations` implements them (the kernel then
   * gets ENOSYS once and stops asking, e.g. xattrs: no GETXATTR before every write). */
  exclude?: readonly (keyof FuseOperations)[];
  /** Mount options passed as -o, e.g. ['allow_other', 'default_permissions', 'fsname=q']. */
  mountOptions?: readonly string[];
  conn?: FuseConnOptions;
  /** Clear a stale (ENOTCONN) mount at the mount point first. Default true. */
  clearStaleMount?: boolean;
  /** Unmount on SIGINT and SIGTERM. Default false. */
  handleSignals?: boolean;
  /** On unmount, wait up to this long for requests in flight to be answered. Default
   * limits.fuseDrainTimeoutMs. */
  drainTimeoutMs?: number;
  /** libfuse debug output on stderr. Default false. */
  debug?: boolean;
  /**
   * Called when a handler fails without an errno (answered EIO) or returns a malformed value,
   * and when a forget/init/destroy hook throws. Quiet by default.
   */
  onHandlerError?: (info: HandlerErrorInfo) => void;
}

/** Counters of one session (monotonic). */
interface FuseSessionStats {
  requests: number;
  errorReplies: number;
  handlerFailures: number;
  /** Replies that found their request already answered or dropped (no-ops). */
  staleReplies: number;
  interrupts: number;
  forgets: number;
}

const MiB = 1024 * 1024;
const NOTIFY_INVAL_INODE = 0;
const NOTIFY_INVAL_ENTRY = 1;
const NOTIFY_DELETE = 2;
const NOTIFY_EXPIRE_ENTRY = 3;
const F_UNLCK = 2;
const NUL = Buffer.of(0);

const opByName: ReadonlyArray<[keyof FuseOperations, number]> = [
  ['lookup', OpCode.LOOKUP],
  ['getattr', OpCode.GETATTR],
  ['setattr', OpCode.SETATTR],
  ['readlink', OpCode.READLINK],
  ['mknod', OpCode.MKNOD],
  ['mkdir', OpCode.MKDIR],
  ['unlink', OpCode.UNLINK],
  ['rmdir', OpCode.RMDIR],
  ['symlink', OpCode.SYMLINK],
  ['rename', OpCode.RENAME],
  ['link', OpCode.LINK],
  ['open', OpCode.OPEN],
  ['read', OpCode.READ],
  ['write', OpCode.WRITE],
  ['flush', OpCode.FLUSH],
  ['release', OpCode.RELEASE],
  ['fsync', OpCode.FSYNC],
  ['opendir', OpCode.OPENDIR],
  ['readdir', OpCode.READDIR],
  ['releasedir', OpCode.RELEASEDIR],
  ['fsyncdir', OpCode.FSYNCDIR],
  ['statfs', OpCode.STATFS],
  ['setxattr', OpCode.SETXATTR],
  ['getxattr', OpCode.GETXATTR],
  ['listxattr', OpCode.LISTXATTR],
  ['removexattr', OpCode.REMOVEXATTR],
  ['access', OpCode.ACCESS],
  ['create', OpCode.CREATE],
  ['getlk', OpCode.GETLK],
  ['setlk', OpCode.SETLK],
  ['readdirplus', OpCode.READDIRPLUS],
  ['fallocate', OpCode.FALLOCATE],
  ['copyFileRange', OpCode.COPY_FILE_RANGE],
  ['lseek', OpCode.LSEEK],
];

function connConfig(c: FuseConnOptions = {}): NativeConnConfig {
  return {
    maxWriteBytes: c.maxWriteBytes ?? 1 * MiB,
    maxReadaheadBytes: c.maxReadaheadBytes ?? 1 * MiB,
    maxBackground: c.maxBackground ?? 64,
    congestionThreshold: c.congestionThreshold ?? 48,
    writebackCache: c.writebackCache ?? false,
    splice: c.splice ?? false,
    readdirplusAuto: c.readdirplusAuto ?? true,
    handleKillpriv: c.handleKillpriv ?? true,
    atomicOTrunc: c.atomicOTrunc ?? false,
    autoInvalData: c.autoInvalData ?? true,
    cacheSymlinks: c.cacheSymlinks ?? false,
    asyncDio: c.asyncDio ?? true,
    maxThreads: c.maxThreads ?? 8,
    maxIdleThreads: c.maxIdleThreads ?? 4,
    cloneFd: c.cloneFd ?? false,
  };
}

/** libfuse splits -o values on commas; a literal comma or backslash is escaped. */
function escapeMountOption(option: string): string {
  return option.replace(/\\/g, '\\\\').replace(/,/g, '\\,');
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function timespec(sec: number, nsec: number): Timespec {
  return { sec, nsec };
}

function isDotName(name: string): boolean {
  return name === '.' || name === '..';
}

interface PendingNotify {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class FuseSession {
  readonly mountpoint: string;
  /** Settles once the session has ended; resolves with the session loop's result (0 or -errno). */
  readonly closed: Promise<number>;
  /** Resolves with the negotiated parameters once the kernel's INIT has arrived (the kernel
   * applies its own settings, e.g. the readahead window, as it processes the reply). */
  readonly initialized: Promise<ConnInfo>;

  private readonly native: NativeBinding;
  private readonly handle: NativeHandle;
  private readonly ops: FuseOperations;
  private readonly options: FuseSessionOptions;
  private readonly entryBlock = new Float64Array(ENTRY_BLOCK_LENGTH);
  private readonly counters: FuseSessionStats = {
    requests: 0,
    errorReplies: 0,
    handlerFailures: 0,
    staleReplies: 0,
    interrupts: 0,
    forgets: 0,
  };
  private readonly interruptible = new Map<number, AbortController>();
  private readonly earlyInterrupts = new Set<number>();
  private readonly notifies = new Map<number, PendingNotify>();
  private nextNotifyId = 1;
  private connInfo: ConnInfo | undefined;
  private ended = false;
  private mounted = false;
  private unmounting: Promise<void> | undefined;
  private resolveClosed!: (result: number) => void;
  private resolveInitialized!: (info: ConnInfo) => void;
  private readonly signalHandler = (): void => {
    void this.unmount();
  };

  private constructor(options: FuseSessionOptions) {
    this.options = options;
    this.mountpoint = options.mountpoint;
    this.ops = options.operations;
    this.native = loadNativeBinding();
    this.closed = new Promise<number>((resolve) => {
      this.resolveClosed = resolve;
    });
    this.initialized = new Promise<ConnInfo>((resolve) => {
      this.resolveInitialized = resolve;
    });
    const args: string[] = [];
    if (options.debug) args.push('-d');
    const mountOptions = options.mountOptions ?? [];
    if (mountOptions.length > 0) args.push('-o', mountOptions.map(escapeMountOption).join(','));
    const ops: number[] = [];
    const excluded = new Set(options.exclude ?? []);
    for (const [name, code] of opByName) {
      if (typeof this.ops[name] === 'function' && !excluded.has(name)) ops.push(code);
    }
    this.handle = this.native.create({
      mountpoint: options.mountpoint,
      args,
      ops,
      conn: connConfig(options.conn),
      dispatch: this.dispatch,
    });
  }

  /**
   * Mounts `operations` at `mountpoint` and starts serving. Clears a stale mount first unless
   * told not to. Rejects if libfuse refuses the options or the mount fails.
   */
  static async mount(options: FuseSessionOptions): Promise<FuseSession> {
    if (options.clearStaleMount !== false) await clearStaleMount(options.mountpoint);
    const session = new FuseSession(options);
    try {
      await session.native.mount(session.handle);
    } catch (err) {
      session.native.destroy(session.handle);
      session.finishClosed(-errnoCodes.EIO);
      throw err;
    }
    session.mounted = true;
    if (options.handleSignals) {
      process.on('SIGINT', session.signalHandler);
      process.on('SIGTERM', session.signalHandler);
    }
    return session;
  }

  /** Negotiated connection parameters, once the kernel's INIT has arrived. */
  get conn(): ConnInfo | undefined {
    return this.connInfo;
  }

  /** Requests handed to JavaScript and not answered yet. */
  get pendingRequests(): number {
    return this.ended ? 0 : this.native.pendingCount(this.handle);
  }

  get stats(): Readonly<FuseSessionStats> {
    return { ...this.counters };
  }

  get isMounted(): boolean {
    return this.mounted && !this.ended;
  }

  /**
   * Unmounts and ends the session: waits up to drainTimeoutMs for requests in flight, stops the
   * session loop, answers what is still pending with ENOTCONN, unmounts (lazily) and releases
   * the native threads. Idempotent; resolves once the session has ended.
   */
  unmount(): Promise<void> {
    if (this.unmounting === undefined) this.unmounting = this.doUnmount();
    return this.unmounting;
  }

  private async doUnmount(): Promise<void> {
    if (this.ended || !this.mounted) return;
    const drainMs = this.options.drainTimeoutMs ?? limits.fuseDrainTimeoutMs;
    const deadline = Date.now() + drainMs;
    while (!this.ended && this.native.pendingCount(this.handle) > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, limits.fuseDrainPollMs));
    }
    if (this.ended) return;
    this.native.exit(this.handle);
    // The loop thread may miss one wake-up signal (it can arrive just before it waits): repeat.
    const retry = setInterval(() => {
      if (!this.ended) this.native.exit(this.handle);
    }, limits.fuseExitRetryMs);
    try {
      await this.closed;
    } finally {
      clearInterval(retry);
    }
  }

  /**
   * Drops cached attributes and data of an inode. offset < 0: attributes only; length 0: to the
   * end. Resolves when the kernel has done it (or did not have the inode cached).
   */
  invalidateInode(ino: number, offset = 0, length = 0): Promise<void> {
    return this.notify(NOTIFY_INVAL_INODE, ino, offset, length, undefined);
  }

  /** Drops the cached name `name` in directory `parent` (and its negative entry). */
  invalidateEntry(parent: number, name: string): Promise<void> {
    return this.notify(NOTIFY_INVAL_ENTRY, parent, 0, 0, name);
  }

  /** Tells the kernel that `name` in `parent` (inode `child`) was deleted by someone else. */
  notifyDelete(parent: number, child: number, name: string): Promise<void> {
    return this.notify(NOTIFY_DELETE, parent, child, 0, name);
  }

  /** Marks a cached name as expired without dropping it from in-use paths (kernel 6.2+). */
  expireEntry(parent: number, name: string): Promise<void> {
    return this.notify(NOTIFY_EXPIRE_ENTRY, parent, 0, 0, name);
  }

  private notify(kind: number, a: number, b: number, c: number, name: string | undefined): Promise<void> {
    if (this.ended || !this.mounted) return Promise.reject(new FuseError('ENOTCONN', 'session is not mounted'));
    const id = this.nextNotifyId++;
    return new Promise<void>((resolve, reject) => {
      this.notifies.set(id, { resolve, reject });
      const rc = name === undefined ? this.native.notify(this.handle, kind, id, a, b, c) : this.native.notify(this.handle, kind, id, a, b, c, nameToBytes(name));
      if (rc !== 0) {
        this.notifies.delete(id);
        reject(new FuseError(errnoName(rc) ?? 'EIO', 'notification not queued'));
      }
    });
  }

  // ---------------------------------------------------------------- end of session

  private finishClosed(result: number): void {
    if (this.ended) return;
    this.ended = true;
    process.off('SIGINT', this.signalHandler);
    process.off('SIGTERM', this.signalHandler);
    for (const [, pending] of this.notifies) pending.reject(new FuseError('ENOTCONN', 'session ended'));
    this.notifies.clear();
    for (const [, controller] of this.interruptible) controller.abort();
    this.interruptible.clear();
    this.earlyInterrupts.clear();
    this.resolveClosed(result);
  }

  private onEnded(result: number): void {
    const wasEnded = this.ended;
    this.finishClosed(result);
    if (!wasEnded && this.ops.destroy) this.guard('destroy', () => this.ops.destroy?.());
  }

  // ---------------------------------------------------------------- replies

  private reportFailure(op: string, errno: number, error: unknown): void {
    this.counters.handlerFailures++;
    if (this.options.onHandlerError) {
      try {
        this.options.onHandlerError({ op, errno, error });
      } catch {
        // A broken logger must not break the mount.
      }
    }
  }

  private guard(op: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.reportFailure(op, errnoOf(err), err);
    }
  }

  private replyError(id: number, op: string, err: unknown): void {
    const carried = carriedErrno(err);
    const errno = carried ?? errnoCodes.EIO;
    if (carried === undefined) this.reportFailure(op, errno, err);
    this.counters.errorReplies++;
    this.track(this.native.replyErr(this.handle, id, errno));
  }

  private track(rc: number | null): number | null {
    if (rc === null) this.counters.staleReplies++;
    return rc;
  }

  /** Runs a handler and routes its outcome to `reply` or to an error reply. */
  private run<T>(id: number, op: string, call: () => T | Promise<T>, reply: (value: T) => void): void {
    let result: T | Promise<T>;
    try {
      result = call();
    } catch (err) {
      this.replyError(id, op, err);
      return;
    }
    const settle = (value: T): void => {
      try {
        reply(value);
      } catch (err) {
        // A malformed result: the native side already answered EIO if it got that far.
        this.reportFailure(op, errnoCodes.EIO, err);
        this.track(this.native.replyErr(this.handle, id, errnoCodes.EIO));
      }
    };
    if (isPromiseLike(result)) {
      result.then(settle, (err: unknown) => this.replyError(id, op, err));
    } else {
      settle(result);
    }
  }

  private replyOk(id: number): void {
    this.track(this.native.replyErr(this.handle, id, 0));
  }

  private replyEntry(id: number, entry: Entry | NegativeEntry): void {
    encodeEntry(this.entryBlock, 0, entry);
    const rc = this.track(this.native.replyEntry(this.handle, id, this.entryBlock));
    if (rc !== 0 && entry.ino !== 0) this.forgetUnsent(entry.ino);
  }

  private forgetUnsent(ino: number): void {
    if (this.ops.forget) this.guard('forget', () => this.ops.forget?.({ ino, nlookup: 1 }));
  }

  private releaseUnsent(ctx: RequestContext, ino: number, open: OpenReply, dir: boolean): void {
    const fh = open.fh;
    const release = dir
      ? this.ops.releasedir?.(ctx, { ino, fh })
      : this.ops.release?.(ctx, { ino, fh, flags: 0, flush: false, flockRelease: false, lockOwner: 0n });
    if (isPromiseLike(release)) release.catch((err: unknown) => this.reportFailure(dir ? 'releasedir' : 'release', errnoOf(err), err));
  }

  // ---------------------------------------------------------------- dispatch

  /** Every message from the native threads arrives here (see requests.c, qfs_call_js). */
  private readonly dispatch: NativeDispatch = (op, id, uid, gid, pid, umask, ino, n0, n1, n2, n3, n4, n5, n6, n7, s1, s2, data, owner) => {
    void n7;
    const ops = this.ops;
    const a0 = n0 ?? 0;
    const a1 = n1 ?? 0;
    const a2 = n2 ?? 0;
    const a3 = n3 ?? 0;
    const a4 = n4 ?? 0;
    const a5 = n5 ?? 0;
    const a6 = n6 ?? 0;
    const name = s1 === undefined ? '' : nameFromBytes(s1);
    const name2 = s2 === undefined ? '' : nameFromBytes(s2);
    const ctx: RequestContext = { uid, gid, pid, umask };
    switch (op) {
      case OpCode.INIT: {
        const info: ConnInfo = {
          protoMajor: a0,
          protoMinor: a1,
          maxWriteBytes: a2,
          maxReadaheadBytes: a3,
          capable: a4,
          want: a5,
          maxBackground: a6,
          congestionThreshold: n7 ?? 0,
        };
        this.connInfo = info;
        this.resolveInitialized(info);
        if (ops.init) this.guard('init', () => ops.init?.(info));
        return;
      }
      case OpCode.FORGET:
        this.counters.forgets++;
        if (ops.forget) this.guard('forget', () => ops.forget?.({ ino, nlookup: a0 }));
        return;
      case OpCode.ENDED:
        this.onEnded(a0);
        return;
      case OpCode.INTERRUPT: {
        this.counters.interrupts++;
        const controller = this.interruptible.get(id);
        if (controller) controller.abort();
        else this.earlyInterrupts.add(id);
        return;
      }
      case OpCode.NOTIFY_DONE: {
        const pending = this.notifies.get(id);
        if (!pending) return;
        this.notifies.delete(id);
        // ENOENT: the kernel had nothing cached for it, which is what we wanted.
        if (a0 === 0 || a0 === -errnoCodes.ENOENT) pending.resolve();
        else pending.reject(new FuseError(errnoName(-a0) ?? 'EIO', 'kernel notification failed'));
        return;
      }
    }
    this.counters.requests++;
    switch (op) {
      case OpCode.LOOKUP:
        return this.run(id, 'lookup', () => ops.lookup!(ctx, { parent: ino, name }), (e) => this.replyEntry(id, e));
      case OpCode.GETATTR:
        return this.run(
          id,
          'getattr',
          () => ops.getattr!(ctx, { ino, fh: a0 ? a1 : undefined }),
          (r) => {
            encodeAttr(this.entryBlock, 0, r.attr);
            this.entryBlock[EntryField.ATTR_TIMEOUT] = r.attrTimeoutSec;
            this.track(this.native.replyAttr(this.handle, id, this.entryBlock));
          },
        );
      case OpCode.SETATTR:
        return this.run(
          id,
          'setattr',
          () => ops.setattr!(ctx, decodeSetattr(ino, a0, a1 ? a2 : undefined, data)),
          (r) => {
            encodeAttr(this.entryBlock, 0, r.attr);
            this.entryBlock[EntryField.ATTR_TIMEOUT] = r.attrTimeoutSec;
            this.track(this.native.replyAttr(this.handle, id, this.entryBlock));
          },
        );
      case OpCode.READLINK:
        return this.run(id, 'readlink', () => ops.readlink!(ctx, { ino }), (t) => {
          this.track(this.native.replyReadlink(this.handle, id, nameToBytes(t)));
        });
      case OpCode.MKNOD:
        return this.run(id, 'mknod', () => ops.mknod!(ctx, { parent: ino, name, mode: a0, rdev: a1 }), (e) =>
          this.replyEntry(id, e),
        );
      case OpCode.MKDIR:
        return this.run(id, 'mkdir', () => ops.mkdir!(ctx, { parent: ino, name, mode: a0 }), (e) => this.replyEntry(id, e));
      case OpCode.UNLINK:
        return this.run(id, 'unlink', () => ops.unlink!(ctx, { parent: ino, name }), () => this.replyOk(id));
      case OpCode.RMDIR:
        return this.run(id, 'rmdir', () => ops.rmdir!(ctx, { parent: ino, name }), () => this.replyOk(id));
      case OpCode.SYMLINK:
        return this.run(id, 'symlink', () => ops.symlink!(ctx, { parent: ino, name, target: name2 }), (e) =>
          this.replyEntry(id, e),
        );
      case OpCode.RENAME:
        return this.run(
          id,
          'rename',
          () => ops.rename!(ctx, { parent: ino, name, newParent: a0, newName: name2, flags: a1 }),
          () => this.replyOk(id),
        );
      case OpCode.LINK:
        return this.run(id, 'link', () => ops.link!(ctx, { ino, newParent: a0, newName: name }), (e) => this.replyEntry(id, e));
      case OpCode.OPEN:
        return this.run(id, 'open', () => ops.open!(ctx, { ino, flags: a0 }), (o) => {
          const rc = this.track(this.native.replyOpen(this.handle, id, o.fh, encodeOpenBits(o)));
          if (rc !== 0) this.releaseUnsent(ctx, ino, o, false);
        });
      case OpCode.CREATE:
        return this.run(id, 'create', () => ops.create!(ctx, { parent: ino, name, mode: a0, flags: a1 }), (r) => {
          encodeEntry(this.entryBlock, 0, r.entry);
          const rc = this.track(
            this.native.replyCreate(this.handle, id, this.entryBlock, r.open.fh, encodeOpenBits(r.open)),
          );
          if (rc !== 0) {
            this.releaseUnsent(ctx, r.entry.ino, r.open, false);
            this.forgetUnsent(r.entry.ino);
          }
        });
      case OpCode.READ:
        return this.run(
          id,
          'read',
          () => ops.read!(ctx, { ino, fh: a0, offset: a1, sizeBytes: a2, flags: a3 }),
          (buf) => {
            this.track(this.native.replyBuf(this.handle, id, buf));
          },
        );
      case OpCode.WRITE:
        return this.run(
          id,
          'write',
          () =>
            ops.write!(ctx, {
              ino,
              fh: a0,
              offset: a1,
              data: data instanceof Buffer ? data : Buffer.alloc(0),
              writepage: a3 !== 0,
              flags: a4,
            }),
          (count) => {
            this.track(this.native.replyWrite(this.handle, id, count));
          },
        );
      case OpCode.FLUSH:
        return this.run(id, 'flush', () => ops.flush!(ctx, { ino, fh: a0, lockOwner: owner ?? 0n }), () => this.replyOk(id));
      case OpCode.RELEASE:
        return this.run(
          id,
          'release',
          () =>
            ops.release!(ctx, { ino, fh: a0, flags: a1, flush: a2 !== 0, flockRelease: a3 !== 0, lockOwner: owner ?? 0n }),
          () => this.replyOk(id),
        );
      case OpCode.FSYNC:
        return this.run(id, 'fsync', () => ops.fsync!(ctx, { ino, fh: a0, datasync: a1 !== 0 }), () => this.replyOk(id));
      case OpCode.OPENDIR:
        return this.run(id, 'opendir', () => ops.opendir!(ctx, { ino, flags: a0 }), (o) => {
          const rc = this.track(this.native.replyOpen(this.handle, id, o.fh, encodeOpenBits(o)));
          if (rc !== 0) this.releaseUnsent(ctx, ino, o, true);
        });
      case OpCode.READDIR:
        return this.run(
          id,
          'readdir',
          () => ops.readdir!(ctx, { ino, fh: a0, offset: a1, sizeBytes: a2 }),
          (entries) => {
            const { names, numbers } = encodeDirents(entries);
            this.track(this.native.replyDirents(this.handle, id, false, names, numbers));
          },
        );
      case OpCode.READDIRPLUS:
        return this.run(
          id,
          'readdirplus',
          () => ops.readdirplus!(ctx, { ino, fh: a0, offset: a1, sizeBytes: a2 }),
          (entries) => {
            const { names, numbers } = encodeDirentsPlus(entries);
            const packed = this.track(this.native.replyDirents(this.handle, id, true, names, numbers));
            this.forgetUnpacked(entries, packed === null || packed < 0 ? 0 : packed);
          },
        );
      case OpCode.RELEASEDIR:
        return this.run(id, 'releasedir', () => ops.releasedir!(ctx, { ino, fh: a0 }), () => this.replyOk(id));
      case OpCode.FSYNCDIR:
        return this.run(id, 'fsyncdir', () => ops.fsyncdir!(ctx, { ino, fh: a0, datasync: a1 !== 0 }), () =>
          this.replyOk(id),
        );
      case OpCode.STATFS:
        return this.run(id, 'statfs', () => ops.statfs!(ctx, { ino }), (s) => {
          this.track(this.native.replyStatfs(this.handle, id, encodeStatfs(s)));
        });
      case OpCode.SETXATTR:
        return this.run(
          id,
          'setxattr',
          () => ops.setxattr!(ctx, { ino, name, value: data instanceof Buffer ? data : Buffer.alloc(0), flags: a0 }),
          () => this.replyOk(id),
        );
      case OpCode.GETXATTR:
        return this.run(id, 'getxattr', () => ops.getxattr!(ctx, { ino, name, sizeBytes: a0 }), (value) =>
          this.replySized(id, a0, value),
        );
      case OpCode.LISTXATTR:
        return this.run(id, 'listxattr', () => ops.listxattr!(ctx, { ino, sizeBytes: a0 }), (names) =>
          this.replySized(id, a0, Buffer.concat(names.flatMap((n) => [nameToBytes(n), NUL]))),
        );
      case OpCode.REMOVEXATTR:
        return this.run(id, 'removexattr', () => ops.removexattr!(ctx, { ino, name }), () => this.replyOk(id));
      case OpCode.ACCESS:
        return this.run(id, 'access', () => ops.access!(ctx, { ino, mask: a0 }), () => this.replyOk(id));
      case OpCode.FALLOCATE:
        return this.run(
          id,
          'fallocate',
          () => ops.fallocate!(ctx, { ino, fh: a0, mode: a1, offset: a2, length: a3 }),
          () => this.replyOk(id),
        );
      case OpCode.COPY_FILE_RANGE:
        return this.run(
          id,
          'copyFileRange',
          () =>
            ops.copyFileRange!(ctx, {
              inoIn: ino,
              fhIn: a0,
              offsetIn: a1,
              inoOut: a2,
              fhOut: a3,
              offsetOut: a4,
              length: a5,
              flags: a6,
            }),
          (count) => {
            this.track(this.native.replyWrite(this.handle, id, count));
          },
        );
      case OpCode.LSEEK:
        return this.run(id, 'lseek', () => ops.lseek!(ctx, { ino, fh: a0, offset: a1, whence: a2 }), (off) => {
          this.track(this.native.replyLseek(this.handle, id, off));
        });
      case OpCode.GETLK:
        return this.run(
          id,
          'getlk',
          () => ops.getlk!(ctx, { ino, fh: a0, lockOwner: owner ?? 0n, lock: { type: a1, start: a2, len: a3, pid: a4 } }),
          (lk: FileLock) => {
            this.track(this.native.replyLock(this.handle, id, lk.type, lk.type === F_UNLCK ? 0 : lk.start, lk.len, lk.pid));
          },
        );
      case OpCode.SETLK: {
        const sleep = a5 !== 0;
        if (sleep) {
          const controller = new AbortController();
          ctx.signal = controller.signal;
          if (this.earlyInterrupts.delete(id)) controller.abort();
          else this.interruptible.set(id, controller);
        }
        return this.run(
          id,
          'setlk',
          async () => {
            try {
              await ops.setlk!(ctx, { ino, fh: a0, lockOwner: owner ?? 0n, lock: { type: a1, start: a2, len: a3, pid: a4 }, sleep });
            } finally {
              this.interruptible.delete(id);
            }
          },
          () => this.replyOk(id),
        );
      }
      default:
        // An operation this build does not know: never leave it unanswered.
        this.track(this.native.replyErr(this.handle, id, errnoCodes.ENOSYS));
    }
  };

  /** getxattr/listxattr: size 0 is a probe for the length; a value longer than asked is ERANGE. */
  private replySized(id: number, sizeBytes: number, value: Uint8Array): void {
    if (sizeBytes === 0) this.track(this.native.replyXattrSize(this.handle, id, value.length));
    else if (value.length > sizeBytes) this.track(this.native.replyErr(this.handle, id, errnoCodes.ERANGE));
    else this.track(this.native.replyBuf(this.handle, id, value));
  }

  private forgetUnpacked(entries: readonly DirEntryPlus[], packed: number): void {
    for (let i = packed; i < entries.length; i++) {
      const e = entries[i]!;
      if (!isDotName(e.name) && e.entry.ino !== 0) this.forgetUnsent(e.entry.ino);
    }
  }
}

function decodeSetattr(ino: number, valid: number, fh: number | undefined, data: Buffer | Float64Array | undefined): SetattrArgs {
  const v = data instanceof Float64Array ? data : new Float64Array(10);
  const args: SetattrArgs = { ino, fh, valid };
  if (valid & SetattrValid.MODE) args.mode = v[0]!;
  if (valid & SetattrValid.UID) args.uid = v[1]!;
  if (valid & SetattrValid.GID) args.gid = v[2]!;
  if (valid & SetattrValid.SIZE) args.sizeBytes = v[3]!;
  // The kernel sets ATIME together with ATIME_NOW for UTIME_NOW: NOW wins, and neither bit
  // means UTIME_OMIT (leave the time alone).
  if (valid & SetattrValid.ATIME_NOW) args.atime = 'now';
  else if (valid & SetattrValid.ATIME) args.atime = timespec(v[4]!, v[5]!);
  if (valid & SetattrValid.MTIME_NOW) args.mtime = 'now';
  else if (valid & SetattrValid.MTIME) args.mtime = timespec(v[6]!, v[7]!);
  if (valid & SetattrValid.CTIME) args.ctime = timespec(v[8]!, v[9]!);
  return args;
}
