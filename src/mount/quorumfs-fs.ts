// The quorumfs file system as FUSE operations: each request becomes a call through the client
// API, to the metadata server for names, attributes and directories, to the replicas for file
// data (direct-read.ts and direct-write.ts, with the mediator making what they cannot), and to
// the mediator for truncation and holds; FUSE inode numbers are quorumfs inode numbers. Writes
// are buffered per inode (write-back-buffer.ts) and committed on close, fsync, truncate, read and
// when a buffer fills. Attributes are cached by the kernel for a short time and invalidated when
// the metadata server or the mediator reports another client's change; open() revalidates, so
// close-to-open consistency holds for data, size and times. The kernel places an O_APPEND write
// at its cached size, which open cannot refresh, so the mount puts such writes at the file's end
// itself (file-ends.ts). Every inode open here is held for this mount's session from its open
// (the hold rides on the open's own call) to its last close, so another mount's unlink cannot
// free its data meanwhile (docs/open-files.md).

import type { QuorumfsClient } from '../client/quorumfs-client.js';
import { codeOf } from '../common/errors.js';
import { Semaphore } from '../common/async.js';
import { limits } from '../common/limits.js';
import { FALLOC_FL_KEEP_SIZE, O_APPEND, O_DIRECT, O_EXCL, RENAME_EXCHANGE, RENAME_NOREPLACE, S_IFMT, S_IFREG, type InodeAttr, type SetAttrRequest, type Timespec } from '../common/types.js';
import { toFuseError } from './errno.js';
import { FuseError } from '../fuse/fuse-error.js';
import type * as F from '../fuse/fuse-operations.js';
import { FileEnds } from './file-ends.js';
import { WriteBackBuffer } from './write-back-buffer.js';
import { XattrAbsence } from './xattr-absence.js';
import { DirAttrPrefetch } from './dir-attr-prefetch.js';
import { KnownNames } from './known-names.js';
import { mediatorMethods as methods } from '../protocol/mediator-messages.js';

const STAT_BLOCK_BYTES = 512;
/** Asked by the kernel before every write, to strip file capabilities. */
const CAPABILITY_XATTR = 'security.capability';

interface QuorumfsFsOptions {
  client: QuorumfsClient;
  /** How long the kernel may cache attributes and names. */
  attrTimeoutSec: number;
  entryTimeoutSec: number;
  now: () => Timespec;
  /** Drops the kernel's cached attributes of an inode (the session's notify call). */
  invalidateAttributes?: (ino: number) => Promise<void>;
  /** Drops the kernel's cached attributes of an inode and its cached data from `fromBytes` to
   * the end of the file. Never awaited inside a write handler: the kernel holds the pages'
   * locks until the write is answered. */
  invalidateData?: (ino: number, fromBytes: number) => Promise<void>;
  /** This mount's session id: the holder of the inodes open here. */
  session: string;
  /** The bound on names kept of directories known whole (default limits.mountKnownNamesMax). */
  knownNamesMax?: number;
  /** Reads from the replicas directly (direct-read.ts); without it, the mediator reads. */
  directRead?: DirectRead;
  /** Writes to the replicas directly (direct-write.ts); without it, the mediator writes. */
  directWrite?: DirectWrite;
}

/** What the mount needs of a direct reader. */
export interface DirectRead {
  /** The bytes and whether the access was marked, or undefined when the mediator must read. */
  read(ino: number, offset: number, size: number): Promise<{ data: Uint8Array; atimeUpdated: boolean } | undefined>;
  /** The file changed, or is opened: what the reader knows of its block map is stale. */
  forget(ino: number): void;
}

/** What the mount needs of a direct writer. */
export interface DirectWrite {
  /** Makes the write, or has `viaMediator` make it; the new attributes either way. */
  write(ino: number, extents: Array<{ offset: number; data: Buffer }>, time: Timespec | undefined, viaMediator: () => Promise<InodeAttr>): Promise<InodeAttr>;
  /** A regular file this mount created (its first write needs no block-map read). */
  created(attr: InodeAttr): void;
  /** The inode changed other than through the writer. */
  forget(ino: number): void;
}

interface OpenInode {
  /** Handles open, counted from before their open call is sent. */
  handles: number;
}

export class QuorumfsFs implements F.FuseOperations {
  private readonly client: QuorumfsClient;
  private readonly buffers = new Map<number, WriteBackBuffer>();
  /** Write-back sends in flight, all files together: with eight files each
   * sending four 4 MiB extents, 128 MiB queued at N=5 took over the 10 s deadline (EIO). */
  private readonly writeSlots = new Semaphore(limits.mountWriteSendsInFlight);
  /** Inodes open here: exactly the set this mount's session holds (attachSession restates it). */
  private readonly openInodes = new Map<number, OpenInode>();
  /** Releases of holds sent at a last close and not yet answered: a new open of the inode waits
   * for its release, or the release could land after the new hold and drop it. */
  private readonly releasing = new Map<number, Promise<void>>();
  /** Inodes whose release failed: still held by the session until the next attachSession. */
  private readonly unreleased = new Set<number>();
  /** The attributes last given to the kernel, to tell at open whether its cache is stale. */
  private readonly seen = new Map<number, number>();
  private readonly fileEnds = new FileEnds();
  /** Inodes whose cached data the kernel is being told to drop, and from which offset to drop it
   * again once that is done (one notification at a time per inode). */
  private readonly dataDrops = new Map<number, { againFromBytes: number | undefined }>();
  private readonly xattrAbsence: XattrAbsence;
  private readonly dirAttrs: DirAttrPrefetch;
  private readonly knownNames: KnownNames;
  private nextFh = 1;

  constructor(private readonly options: QuorumfsFsOptions) {
    this.client = options.client;
    this.xattrAbsence = new XattrAbsence(options.attrTimeoutSec * 1000);
    this.dirAttrs = new DirAttrPrefetch((ino) => this.client.getattr(ino), options.attrTimeoutSec * 1000);
    this.knownNames = new KnownNames({ ttlMs: options.entryTimeoutSec * 1000, maxNames: options.knownNamesMax ?? limits.mountKnownNamesMax });
  }

  /** The metadata server or the mediator reported that another client changed the inode. */
  changedElsewhere(ino: number): void {
    this.options.directWrite?.forget(ino);
    this.options.directRead?.forget(ino);
    this.xattrAbsence.forget(ino);
    this.dirAttrs.forget(ino);
    this.knownNames.forget(ino);
  }

  /** The metadata server answered a call sent at `sentAtMs`: its reports up to then arrived. */
  metaAnswered(sentAtMs: number): void {
    this.knownNames.answered(sentAtMs);
  }

  /** The connection to the metadata server broke: reports of other mounts' changes may be lost. */
  reportsMayBeLost(): void {
    this.knownNames.forgetAll();
  }

  // ---- attributes and names ----

  lookup = this.guard(async (_ctx: F.RequestContext, a: F.LookupArgs): Promise<F.Entry | F.NegativeEntry> => {
    if (this.knownNames.isAbsent(a.parent, a.name)) return { ino: 0, entryTimeoutSec: this.options.entryTimeoutSec };
    try {
      return this.entry(await this.client.lookup(a.parent, a.name));
    } catch (err) {
      if (codeOf(err) === 'NOT_FOUND') return { ino: 0, entryTimeoutSec: this.options.entryTimeoutSec };
      throw err;
    }
  });

  forget = (a: F.ForgetArgs): void => {
    this.knownNames.forget(a.ino);
    if (!this.openInodes.has(a.ino) && !this.buffers.get(a.ino)?.dirty) this.seen.delete(a.ino);
  };

  getattr = this.guard(async (_ctx: F.RequestContext, a: F.GetattrArgs): Promise<F.AttrReply> => {
    return this.attrReply((await this.dirAttrs.take(a.ino)) ?? (await this.client.getattr(a.ino)));
  });

  setattr = this.guard(async (_ctx: F.RequestContext, a: F.SetattrArgs): Promise<F.AttrReply> => {
    this.dirAttrs.forget(a.ino);
    // Commit buffered writes first: their commit sets mtime and ctime to the time of the write,
    // which must not override times set after it (cp -p, tar and rsync set them before close).
    const buffer = this.buffers.get(a.ino);
    await buffer?.drain();
    const req: SetAttrRequest = {};
    if (a.mode !== undefined) req.mode = a.mode;
    if (a.uid !== undefined) req.uid = a.uid;
    if (a.gid !== undefined) req.gid = a.gid;
    if (a.atime !== undefined) req.atime = a.atime;
    if (a.mtime !== undefined) req.mtime = a.mtime;
    if (a.ctime !== undefined) req.ctime = a.ctime;
    if (a.sizeBytes !== undefined) {
      req.size = a.sizeBytes;
      buffer?.resetEnd(a.sizeBytes);
    }
    this.options.directWrite?.forget(a.ino); // the mediator changes it
    this.options.directRead?.forget(a.ino);
    const attr = await this.client.setattr(a.ino, req);
    if (a.sizeBytes !== undefined) this.fileEnds.resized(a.ino, a.sizeBytes);
    return this.attrReply(attr);
  });

  readlink = this.guard((_ctx: F.RequestContext, a: F.InoArgs) => this.client.readlink(a.ino));

  mknod = this.guard(async (ctx: F.RequestContext, a: F.MknodArgs): Promise<F.Entry> =>
    this.entry(this.created(await this.changingDirs([a.parent], () => this.client.create(a.parent, a.name, a.mode, { exclusive: true, rdev: a.rdev, caller: caller(ctx) }), this.adds(a.parent, a.name)))),
  );

  mkdir = this.guard(async (ctx: F.RequestContext, a: F.MkdirArgs): Promise<F.Entry> =>
    this.entry(
      this.created(
        await this.changingDirs([a.parent], () => this.client.mkdir(a.parent, a.name, a.mode, caller(ctx)), (attr) => {
          this.knownNames.added(a.parent, a.name);
          this.knownNames.createdEmpty(attr.ino);
        }),
      ),
    ),
  );

  symlink = this.guard(async (ctx: F.RequestContext, a: F.SymlinkArgs): Promise<F.Entry> =>
    this.entry(await this.changingDirs([a.parent], () => this.client.symlink(a.parent, a.name, a.target, caller(ctx)), this.adds(a.parent, a.name))),
  );

  link = this.guard(async (_ctx: F.RequestContext, a: F.LinkArgs): Promise<F.Entry> => {
    await this.buffers.get(a.ino)?.drain(); // ctime of the link must come after the writes' commit
    return this.entry(await this.changingDirs([a.newParent], () => this.client.link(a.ino, a.newParent, a.newName), this.adds(a.newParent, a.newName)));
  });

  unlink = this.guard(async (_ctx: F.RequestContext, a: F.NameArgs): Promise<void> => {
    await this.flushNamed(a.parent, a.name);
    await this.changingDirs([a.parent], () => this.client.unlink(a.parent, a.name), () => this.knownNames.removed(a.parent, a.name));
  });

  rmdir = this.guard(async (_ctx: F.RequestContext, a: F.NameArgs): Promise<void> => {
    await this.changingDirs([a.parent], () => this.client.rmdir(a.parent, a.name), () => this.knownNames.removed(a.parent, a.name));
  });

  rename = this.guard(async (_ctx: F.RequestContext, a: F.RenameArgs): Promise<void> => {
    await this.flushNamed(a.parent, a.name);
    // A renamed directory's own ctime changes too, and its inode is not at hand: forget them all.
    this.dirAttrs.forgetAll();
    await this.changingDirs([a.parent, a.newParent], () => this.client.rename(a.parent, a.name, a.newParent, a.newName, a.flags), () => {
      if (a.flags === RENAME_EXCHANGE) return; // both names stay
      if ((a.flags & ~RENAME_NOREPLACE) !== 0) {
        this.knownNames.forget(a.parent);
        this.knownNames.forget(a.newParent);
        return;
      }
      this.knownNames.removed(a.parent, a.name);
      this.knownNames.added(a.newParent, a.newName);
    });
  });

  // ---- files ----

  open = this.guard(async (_ctx: F.RequestContext, a: F.OpenArgs): Promise<F.OpenReply> => {
    // Close-to-open: ask the mediator, not the cache; keep cached pages only if nothing changed.
    // The same call holds the inode for this session: no round trip of its own.
    const attr = await this.holding(a.ino, () => this.client.rpc.call(methods.open, { ino: a.ino, session: this.options.session }));
    this.options.directRead?.forget(a.ino); // its block map too
    const unchanged = this.unchangedSinceSeen(attr);
    if (!unchanged) await this.dropCachedAttributes(a.ino);
    this.remember(attr);
    return { fh: this.opened(attr), keepCache: unchanged };
  });

  create = this.guard(async (ctx: F.RequestContext, a: F.CreateArgs): Promise<F.CreateReply> => {
    this.checkHoldRoom(undefined);
    const releasesBefore = new Map(this.releasing);
    // The create holds its inode for this session in the same transaction.
    const attr = this.created(
      await this.changingDirs([a.parent], () =>
        this.client.create(a.parent, a.name, a.mode, { exclusive: (a.flags & O_EXCL) !== 0, caller: caller(ctx), session: this.options.session }), this.adds(a.parent, a.name),
      ),
    );
    const state = this.openInodes.get(attr.ino) ?? { handles: 0 };
    state.handles++;
    this.openInodes.set(attr.ino, state);
    const release = releasesBefore.get(attr.ino);
    if (release && this.releasing.get(attr.ino) === release) {
      // An existing file closed just before: its release, sent first on the same connection,
      // is answered first unless it was resent (a lost connection) and may land after the
      // create's hold: then hold again once it is done.
      await release;
      await this.client.rpc.call(methods.open, { ino: attr.ino, session: this.options.session }).catch(() => undefined);
    }
    return { entry: this.entry(attr), open: { fh: this.opened(attr) } };
  });

  read = this.guard(async (_ctx: F.RequestContext, a: F.ReadArgs): Promise<Uint8Array> => {
    await this.buffers.get(a.ino)?.flush();
    const { data, atimeUpdated } =
      (await this.options.directRead?.read(a.ino, a.offset, a.sizeBytes)) ?? (await this.client.readChunk(a.ino, a.offset, a.sizeBytes));
    // The kernel's cached attributes still hold the old atime (Linux 6.x also marks its atime
    // stale after each read it sends). Told after the reply, never awaited here: the kernel holds
    // the read's page locks until it is answered, and a notification may queue behind one that
    // waits for those locks (a data invalidation), which would never finish.
    if (atimeUpdated) setImmediate(() => void this.dropCachedAttributes(a.ino));
    return data;
  });

  write = this.guard(async (_ctx: F.RequestContext, a: F.WriteArgs): Promise<number> => {
    const offset = this.placeWrite(a);
    const undo = this.fileEnds.wrote(a.ino, offset, a.data.length);
    try {
      await this.bufferOf(a.ino).write(offset, a.data, this.options.now());
    } catch (err) {
      undo();
      throw err;
    }
    if (offset !== a.offset) {
      // The kernel copied these bytes into its page cache at a.offset and takes its size from
      // there: both are wrong now. The binding answers in a promise reaction of this handler's
      // result, which runs before any immediate, so the pages are unlocked by then.
      const fromBytes = Math.min(offset, a.offset);
      setImmediate(() => this.dropCachedData(a.ino, fromBytes));
    }
    return a.data.length;
  });

  flush = this.guard(async (_ctx: F.RequestContext, a: F.FlushArgs): Promise<void> => {
    await this.buffers.get(a.ino)?.flush();
  });

  fsync = this.guard(async (_ctx: F.RequestContext, a: F.FsyncArgs): Promise<void> => {
    // Committed data is already on Qw data servers' disks and in the fsynced metadata store.
    await this.buffers.get(a.ino)?.flush();
  });

  release = this.guard(async (_ctx: F.RequestContext, a: F.ReleaseArgs): Promise<void> => {
    const buffer = this.buffers.get(a.ino);
    try {
      await buffer?.flush();
    } finally {
      await this.closed(a.ino);
    }
  });

  fallocate = this.guard(async (_ctx: F.RequestContext, a: F.FallocateArgs): Promise<void> => {
    if (a.mode !== 0 && a.mode !== FALLOC_FL_KEEP_SIZE) throw new FuseError('EOPNOTSUPP', 'only plain fallocate is supported');
    if (a.mode === FALLOC_FL_KEEP_SIZE) return; // blocks are allocated on write; nothing to reserve
    await this.buffers.get(a.ino)?.flush();
    const attr = await this.client.getattr(a.ino);
    if (a.offset + a.length > attr.size) {
      this.options.directWrite?.forget(a.ino);
      this.options.directRead?.forget(a.ino);
      await this.client.setattr(a.ino, { size: a.offset + a.length });
      this.fileEnds.wrote(a.ino, a.offset, a.length);
    }
  });

  // ---- directories ----

  opendir = this.guard((_ctx: F.RequestContext, _a: F.OpenArgs): F.OpenReply => ({ fh: this.nextFh++ }));

  readdir = this.guard(async (_ctx: F.RequestContext, a: F.ReaddirArgs): Promise<F.DirEntry[]> => {
    const entries = await this.client.readdir(a.ino, a.offset, direntLimit(a.sizeBytes));
    return entries.map((e) => ({ name: e.name, ino: e.ino, mode: e.mode, nextOffset: e.cookie }));
  });

  readdirplus = this.guard(async (_ctx: F.RequestContext, a: F.ReaddirArgs): Promise<F.DirEntryPlus[]> => {
    const { entries } = await this.client.ns.call(methods.readdirplus, {
      ino: a.ino,
      cookie: a.offset,
      limit: direntLimit(a.sizeBytes),
    });
    return entries.map(({ entry, attr }) => ({ name: entry.name, nextOffset: entry.cookie, entry: this.entry(attr) }));
  });

  releasedir = this.guard((): void => {});

  fsyncdir = this.guard((): void => {}); // every namespace change is committed before it returns

  statfs = this.guard(async (): Promise<F.StatFs> => {
    const s = await this.client.rpc.call(methods.statfs, {});
    return {
      blockSizeBytes: s.blockSizeBytes,
      fragmentSizeBytes: s.blockSizeBytes,
      blocks: s.totalBlocks,
      blocksFree: s.freeBlocks,
      blocksAvailable: s.availBlocks,
      files: s.totalInodes,
      filesFree: s.freeInodes,
      filesAvailable: s.freeInodes,
      nameMaxBytes: s.maxNameBytes,
    };
  });

  // ---- extended attributes ----

  setxattr = this.guard(async (_ctx: F.RequestContext, a: F.SetxattrArgs): Promise<void> => {
    refuseAcl(a.name);
    await this.buffers.get(a.ino)?.drain();
    this.xattrAbsence.forget(a.ino);
    this.dirAttrs.forget(a.ino);
    await this.client.ns.call(methods.setxattr, { ino: a.ino, name: a.name, value: a.value, flags: a.flags });
  });

  getxattr = this.guard(async (_ctx: F.RequestContext, a: F.GetxattrArgs): Promise<Uint8Array> => {
    refuseAcl(a.name);
    // Only the name the kernel asks before every write is answered from what this mount knows;
    // every other name goes to the mediator, so xattrs stay as coherent as before.
    const cacheable = a.name === CAPABILITY_XATTR;
    if (cacheable && this.xattrAbsence.isMissing(a.ino, a.name)) throw new FuseError('ENODATA', `no attribute ${a.name}`);
    try {
      return (await this.client.ns.call(methods.getxattr, { ino: a.ino, name: a.name })).value;
    } catch (err) {
      if (cacheable && codeOf(err) === 'NO_DATA') this.xattrAbsence.missing(a.ino, a.name);
      throw err;
    }
  });

  listxattr = this.guard(async (_ctx: F.RequestContext, a: F.ListxattrArgs): Promise<string[]> =>
    (await this.client.ns.call(methods.listxattr, { ino: a.ino })).names,
  );

  removexattr = this.guard(async (_ctx: F.RequestContext, a: F.RemovexattrArgs): Promise<void> => {
    await this.buffers.get(a.ino)?.drain();
    this.xattrAbsence.forget(a.ino);
    this.dirAttrs.forget(a.ino);
    await this.client.ns.call(methods.removexattr, { ino: a.ino, name: a.name });
  });

  // ---- helpers ----

  /** Wraps a handler so quorumfs errors reach the kernel as their errno. */
  private guard<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toFuseError(err);
      }
    };
  }

  /** Runs a change of the entries of `dirs`; once it is done, `changed` records it in what this
   * mount knows of their names, and their new attributes are fetched for the GETATTR the kernel
   * sends next (see dir-attr-prefetch.ts). A change that failed may or may not have happened. */
  private async changingDirs<T>(dirs: number[], change: () => Promise<T>, changed: (result: T) => void): Promise<T> {
    for (const dir of dirs) this.dirAttrs.forget(dir);
    let result: T;
    try {
      result = await change();
    } catch (err) {
      for (const dir of dirs) this.knownNames.forget(dir);
      throw err;
    }
    changed(result);
    for (const dir of new Set(dirs)) this.dirAttrs.start(dir);
    return result;
  }

  /** Records that this mount added `name` to `dir`. */
  private adds(dir: number, name: string): () => void {
    return () => this.knownNames.added(dir, name);
  }

  /** A new inode has no extended attributes yet. */
  private created(attr: InodeAttr): InodeAttr {
    this.options.directWrite?.created(attr);
    this.xattrAbsence.none(attr.ino);
    return attr;
  }

  private bufferOf(ino: number): WriteBackBuffer {
    let buffer = this.buffers.get(ino);
    if (!buffer) {
      buffer = new WriteBackBuffer(async (extents, time) => {
        // The call's deadline starts once it has a slot, not while it queues behind other files'.
        const viaMediator = (): Promise<InodeAttr> => this.client.writeExtents(ino, extents, { time });
        const direct = this.options.directWrite;
        const attr = await this.writeSlots.run(() => (direct ? direct.write(ino, extents, time, viaMediator) : viaMediator()));
        this.options.directRead?.forget(ino);
        // Our own commit is not a change the kernel's cache missed, unless another change came
        // in between (the generation moved by more than this one commit): then the next open
        // must still revalidate.
        if (this.seen.get(ino) === attr.generation - 1) this.remember(attr);
      });
      this.buffers.set(ino, buffer);
    }
    return buffer;
  }

  /** A handle of the file with the metadata's attributes `attr` (just fetched) is opened; its
   * handle is already counted in openInodes. */
  private opened(attr: InodeAttr): number {
    this.fileEnds.opened(attr.ino, this.withPending(attr).size);
    return this.nextFh++;
  }

  /**
   * Runs `open`, the call that fetches an inode's attributes and holds it for this session. The
   * handle counts from before the call is sent, so an attachSession sent meanwhile (after a
   * reconnect) names the inode too; a release of it still in flight goes first.
   */
  private async holding(ino: number, open: () => Promise<InodeAttr>): Promise<InodeAttr> {
    await this.releasing.get(ino);
    this.checkHoldRoom(ino);
    const state = this.openInodes.get(ino) ?? { handles: 0 };
    state.handles++;
    this.openInodes.set(ino, state);
    try {
      return await open();
    } catch (err) {
      this.dropHandle(ino, false); // the hold may have landed before the failure: release it
      throw err;
    }
  }

  /** The session's holds are bounded (attachSession restates them in one call). */
  private checkHoldRoom(ino: number | undefined): void {
    if ((ino === undefined || !this.openInodes.has(ino)) && this.openInodes.size >= limits.maxHoldsPerSession) {
      throw new FuseError('ENFILE', `more than ${limits.maxHoldsPerSession} files open on this mount`);
    }
  }

  private async closed(ino: number): Promise<void> {
    this.dropHandle(ino, true);
  }

  /** One handle fewer; at the last one the inode is no longer open here and its hold is released
   * in the background (the close is not held up by it). */
  private dropHandle(ino: number, wasOpened: boolean): void {
    const state = this.openInodes.get(ino);
    if (!state) return;
    if (--state.handles > 0) return;
    this.openInodes.delete(ino);
    if (wasOpened) this.fileEnds.closed(ino);
    const buffer = this.buffers.get(ino);
    if (buffer && !buffer.dirty) this.buffers.delete(ino);
    const release: Promise<void> = this.client.rpc
      .call(methods.close, { ino, session: this.options.session })
      .then(
        () => void this.unreleased.delete(ino),
        () => void this.unreleased.add(ino), // restated by the next attachSession
      )
      .finally(() => {
        if (this.releasing.get(ino) === release) this.releasing.delete(ino);
      });
    this.releasing.set(ino, release);
  }

  /**
   * Binds this mount's session to its connection and restates its holds: exactly the inodes open
   * here. Sent when the mount starts and after every reconnect (so a mediator or a connection
   * that went away finds the session again within its grace period), and when a release failed.
   * Returns the inodes that no longer exist (the session was gone too long).
   */
  async attachSession(): Promise<number[]> {
    const stale = [...this.unreleased];
    const { missing } = await this.client.rpc.call(methods.attachSession, { session: this.options.session, inos: [...this.openInodes.keys()] });
    for (const ino of stale) if (!this.openInodes.has(ino)) this.unreleased.delete(ino);
    return missing;
  }

  /** Whether a release failed and the next attachSession should restate the holds. */
  get holdsStale(): boolean {
    return this.unreleased.size > 0;
  }

  /** Ends the session's holds (a clean unmount: nothing is open any more). One short try: an
   * unreachable mediator must not hold up the unmount, and it ends the session after its grace
   * period anyway. */
  async endSession(): Promise<void> {
    await this.client.rpc.call(methods.attachSession, { session: this.options.session, inos: [] }, { timeoutMs: limits.mountEndSessionTimeoutMs, retry: false });
  }

  /** Commits the buffered writes of the inode `name` names, if this mount has any: a change of
   * its ctime (rename, unlink, link, xattrs) must not be followed by a commit that sets ctime
   * back to the earlier time of a write. */
  private async flushNamed(parent: number, name: string): Promise<void> {
    if (![...this.buffers.values()].some((buffer) => buffer.dirty)) return;
    const target = await this.client.lookup(parent, name).catch(() => undefined); // the call reports a missing name
    if (target) await this.buffers.get(target.ino)?.drain();
  }

  private async dropCachedAttributes(ino: number): Promise<void> {
    await this.options.invalidateAttributes?.(ino).catch(() => undefined); // not cached: nothing to drop
  }

  /**
   * Where a write goes. An O_APPEND write that went through the kernel's page cache goes to the
   * file's end as this mount knows it, whatever offset the kernel chose: the kernel's size can
   * be older than another mount's append. Such writes reach us one at a time (a write(2) is sent
   * piece by piece, each waiting for its answer, under the inode lock), so placing them in
   * arrival order keeps their order. O_DIRECT writes keep the kernel's offset: their pieces may
   * be in flight together and arrive in any order. Mapped pages written back keep theirs too.
   */
  private placeWrite(a: F.WriteArgs): number {
    const appending = (a.flags & O_APPEND) !== 0 && (a.flags & O_DIRECT) === 0 && !a.writepage;
    return (appending ? this.fileEnds.endOf(a.ino) : undefined) ?? a.offset;
  }

  /** Tells the kernel to drop its cached attributes and data from `fromBytes` on; a request
   * while one runs for the same inode is merged into one more run after it. */
  private dropCachedData(ino: number, fromBytes: number): void {
    const running = this.dataDrops.get(ino);
    if (running) {
      running.againFromBytes = Math.min(running.againFromBytes ?? fromBytes, fromBytes);
      return;
    }
    const state: { againFromBytes: number | undefined } = { againFromBytes: undefined };
    this.dataDrops.set(ino, state);
    void (async () => {
      for (let from: number | undefined = fromBytes; from !== undefined; ) {
        await this.options.invalidateData?.(ino, from).catch(() => undefined); // not cached: nothing to drop
        from = state.againFromBytes;
        state.againFromBytes = undefined;
      }
      this.dataDrops.delete(ino);
    })();
  }

  private unchangedSinceSeen(attr: InodeAttr): boolean {
    return this.seen.get(attr.ino) === attr.generation;
  }

  private remember(attr: InodeAttr): void {
    this.seen.set(attr.ino, attr.generation);
  }

  /** Attributes as the kernel should see them: with this mount's uncommitted writes. */
  private withPending(attr: InodeAttr): InodeAttr {
    const buffer = this.buffers.get(attr.ino);
    if (!buffer?.dirty) return attr;
    const { endBytes, time } = buffer.pending;
    return { ...attr, size: Math.max(attr.size, endBytes), mtime: time ?? attr.mtime, ctime: time ?? attr.ctime };
  }

  private attrReply(attr: InodeAttr): F.AttrReply {
    this.remember(attr);
    return { attr: toFuseAttr(this.withPending(attr)), attrTimeoutSec: this.options.attrTimeoutSec };
  }

  private entry(attr: InodeAttr): F.Entry {
    this.remember(attr);
    return {
      ino: attr.ino,
      generation: 0,
      attr: toFuseAttr(this.withPending(attr)),
      attrTimeoutSec: this.options.attrTimeoutSec,
      entryTimeoutSec: this.options.entryTimeoutSec,
    };
  }
}

/** POSIX ACLs are not supported: stored as plain xattrs they would be shown (ls '+') but not
 * enforced, and `cp -a` would set one instead of the mode. EOPNOTSUPP makes tools use chmod. */
function refuseAcl(name: string): void {
  if (name.startsWith('system.posix_acl_')) throw new FuseError('EOPNOTSUPP', 'POSIX ACLs are not supported');
}

function caller(ctx: F.RequestContext): { uid: number; gid: number } {
  return { uid: ctx.uid, gid: ctx.gid };
}

/** Entries worth asking for to fill a readdir buffer (a packed entry takes 24+ bytes). */
function direntLimit(sizeBytes: number): number {
  return Math.max(1, Math.min(limits.maxReaddirEntries, Math.floor(sizeBytes / 32)));
}

function toFuseAttr(attr: InodeAttr): F.Attr {
  const isFile = (attr.mode & S_IFMT) === S_IFREG;
  return {
    ino: attr.ino,
    mode: attr.mode,
    nlink: attr.nlink,
    uid: attr.uid,
    gid: attr.gid,
    rdev: attr.rdev,
    sizeBytes: attr.size,
    blksizeBytes: limits.blockSizeBytes,
    blocks: isFile ? Math.ceil(attr.size / STAT_BLOCK_BYTES) : 0,
    atime: attr.atime,
    mtime: attr.mtime,
    ctime: attr.ctime,
  };
}
