// EtcdMetaStore: the metadata store in an etcd cluster, with SqliteMetaStore's semantics call for
// call. Each mutating call is ONE etcd transaction (setHolds: a few, each atomic): it reads at one
// snapshot, then commits only if nothing it read changed (compares on mod revisions) and, with a
// fence set, only while the leader's key lives; a conflict is retried from fresh reads, a lost
// fence is NOT_LEADER. Keys and records: etcd-meta-keys.ts. Every etcd call has a deadline.

import { Etcd3, type IRangeRequest } from 'etcd3';
import { nowTimespec } from '../common/clock.js';
import { QfsError, qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { nameByteLength, nameFromBytes, nameToBytes } from '../common/name-bytes.js';
import { atimeUpdateDue } from '../core/relatime.js';
import {
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  ROOT_INO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  XATTR_CREATE,
  XATTR_REPLACE,
  type BlockRef,
  type Caller,
  type DirEntry,
  type InodeAttr,
  type OrphanBlock,
  type SetAttrRequest,
  type StatFs,
  type Timespec,
} from '../common/types.js';
import { EtcdKv, TxnConflict, etcdFailure, prefixEnd } from './etcd-txn.js';
import { KEY_FORMAT_VERSION, MetaKeys, decodeJson, encodeJson, type ChunkRecord, type DirIndexRecord, type EntryRecord, type InodeRecord } from './etcd-meta-keys.js';
import { MetaTxn, decodeCounter } from './etcd-meta-txn.js';
import type { CommitBlocksRequest, CommitExpectation, CommitResult, CreateRequest, Fence, FencedMetaStore, RemoveResult, SetHoldsResult } from './meta-store.js';
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

export interface EtcdMetaStoreOptions {
  /** Client URLs of the etcd members (http://host:port). */
  endpoints: string[];
  /** Every key of this store starts with it (e.g. '/quorumfs/'). */
  prefix: string;
  /** Source of "now" for timestamps; the real clock by default. */
  clock?: () => Timespec;
  /** Refuse every change (NOT_LEADER) while no fence is set: a metadata server serving a leader. */
  requireFence?: boolean;
  /** Deadline of each etcd call; limits.etcdCallTimeoutMs by default. */
  callTimeoutMs?: number;
}


const EMPTY = Buffer.alloc(0);




function checkEndpoints(endpoints: string[]): void {
  if (!Array.isArray(endpoints) || endpoints.length === 0) throw qfsError('INVALID', 'no etcd endpoints given');
  for (const url of endpoints) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw qfsError('INVALID', `etcd endpoint ${JSON.stringify(url)} is not a URL`);
    }
    if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.port === '' || parsed.pathname.length > 1) {
      throw qfsError('INVALID', `etcd endpoint ${JSON.stringify(url)} is not http(s)://host:port`);
    }
  }
}

/** Per-key queues of this process: run(keys, fn) waits until every earlier run holding one of
 * the keys is done (keys taken in order: no deadlock). Memory: one entry per key in use. */
class KeyedTurns {
  private readonly tails = new Map<number, Promise<void>>();

  async run<T>(keys: number[], fn: () => Promise<T>): Promise<T> {
    const releases: Array<() => void> = [];
    try {
      for (const key of [...new Set(keys)].sort((a, b) => a - b)) {
        const previous = this.tails.get(key) ?? Promise.resolve();
        let release!: () => void;
        const done = new Promise<void>((resolve) => (release = resolve));
        const tail = previous.then(() => done);
        this.tails.set(key, tail);
        releases.push(() => {
          release();
          if (this.tails.get(key) === tail) this.tails.delete(key);
        });
        await previous;
      }
      return await fn();
    } finally {
      for (const release of releases) release();
    }
  }
}

const b64 = (bytes: Buffer): string => bytes.toString('base64');
const unb64 = (text: string): Buffer => Buffer.from(text, 'base64');

export class EtcdMetaStore implements FencedMetaStore {
  private fence: Fence | undefined;
  private readonly turns = new KeyedTurns();
  private inoNext = 0;
  private inoEnd = 0;
  private inoRefill: Promise<void> | undefined;
  private closed = false;

  /** Connects and makes sure the root directory exists (one create-if-absent transaction).
   * INVALID for bad options; UNAVAILABLE or TIMEOUT if etcd does not answer within the deadline. */
  static async connect(options: EtcdMetaStoreOptions): Promise<EtcdMetaStore> {
    checkEndpoints(options.endpoints);
    if (typeof options.prefix !== 'string' || options.prefix.length === 0) throw qfsError('INVALID', 'the etcd key prefix is empty');
    const timeoutMs = options.callTimeoutMs ?? limits.etcdCallTimeoutMs;
    const client = new Etcd3({ hosts: options.endpoints, dialTimeout: timeoutMs });
    const store = new EtcdMetaStore(client, new EtcdKv(client, timeoutMs), new MetaKeys(options.prefix), options.clock ?? nowTimespec, options.requireFence === true);
    try {
      await store.createRoot();
    } catch (err) {
      client.close();
      const failure = etcdFailure('connect', err);
      const why = failure.message.replace(/\s+/g, ' ');
      throw qfsError(failure.code, `cannot open the metadata in etcd at ${options.endpoints.join(',')}: ${why}`, err);
    }
    return store;
  }

  private constructor(
    private readonly client: Etcd3,
    private readonly kv: EtcdKv,
    private readonly keys: MetaKeys,
    private readonly clock: () => Timespec,
    private readonly requireFence: boolean,
  ) {}

  setFence(fence: Fence | undefined): void {
    if (fence !== undefined && (typeof fence.key !== 'string' || fence.key.length === 0 || !/^[1-9][0-9]*$/.test(fence.createRevision))) {
      throw qfsError('INVALID', 'a fence needs a key and a positive create revision');
    }
    this.fence = fence === undefined ? undefined : { ...fence };
  }

  // ---- transactions ----

  /** Runs `body` as one transaction, retried on conflict with jittered backoff. Calls of this
   * process on the same inodes (`lockInos`: a directory whose entries change, a file whose block
   * map does) take turns here first, so that they do not all conflict in etcd and run out of
   * attempts: the leader's metadata server is the only writer, and one directory's creates then
   * cost no retries. Unfenced only for the root's creation (every leader makes the same root). */
  private async mutate<T>(what: string, lockInos: number[], body: (t: MetaTxn) => Promise<T>, fenced = true): Promise<T> {
    if (this.closed) throw qfsError('UNAVAILABLE', 'the metadata store is closed');
    const fence = fenced ? this.fence : undefined;
    if (fenced && this.requireFence && fence === undefined) throw qfsError('NOT_LEADER', `${what} refused: this metadata server has no leader's fence`);
    return this.turns.run(lockInos, () => this.attempts(what, fence, body));
  }

  private async attempts<T>(what: string, fence: Fence | undefined, body: (t: MetaTxn) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const t = this.newTxn();
      try {
        const result = await body(t);
        await t.finish();
        if (!t.tx.hasWrites && fence === undefined) return result;
        const outcome = await t.tx.commit(fence);
        if (outcome === 'committed') return result;
        if (outcome === 'fenced') throw qfsError('NOT_LEADER', `${what} refused: the leader's fence ${fence!.key} is gone`);
      } catch (err) {
        if (!(err instanceof TxnConflict)) throw await this.fencedFailure(what, fence, err);
      }
      if (attempt >= limits.etcdTxnAttempts) {
        throw qfsError('UNAVAILABLE', `${what} conflicted with other writers ${attempt} times`);
      }
      const ceilingMs = Math.min(limits.etcdTxnBackoffMaxMs, limits.etcdTxnBackoffMs * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, Math.random() * ceilingMs));
    }
  }

  /** A call that failed before its commit (NOT_EMPTY, STALE…) under a fence that is gone fails
   * NOT_LEADER instead: a deposed server sends its callers to the leader, whatever they asked. */
  private async fencedFailure(what: string, fence: Fence | undefined, err: unknown): Promise<unknown> {
    if (fence === undefined || !(err instanceof QfsError) || err.code === 'NOT_LEADER') return err;
    try {
      const res = await this.kv.range({ key: Buffer.from(fence.key) });
      if (res.kvs[0]?.create_revision === fence.createRevision) return err;
    } catch {
      return err;
    }
    return qfsError('NOT_LEADER', `${what} refused: the leader's fence ${fence.key} is gone`);
  }

  /** A read at one snapshot (no commit). */
  private async view<T>(body: (t: MetaTxn) => Promise<T>): Promise<T> {
    if (this.closed) throw qfsError('UNAVAILABLE', 'the metadata store is closed');
    for (let attempt = 1; ; attempt++) {
      try {
        return await body(this.newTxn());
      } catch (err) {
        if (!(err instanceof TxnConflict) || attempt >= limits.etcdTxnAttempts) throw err;
      }
    }
  }

  private newTxn(): MetaTxn {
    return new MetaTxn(this.kv, this.keys, Math.floor(Math.random() * limits.etcdCounterShards));
  }

  private async createRoot(): Promise<void> {
    await this.mutate(
      'create the root',
      [],
      async (t) => {
        await t.loadInodes([ROOT_INO], true);
        if ((await t.findInode(ROOT_INO)) !== undefined) return;
        const now = this.now();
        const a: InodeAttr = { ino: ROOT_INO, mode: S_IFDIR | 0o755, uid: 0, gid: 0, size: 0, nlink: 2, rdev: 0, atime: now, mtime: { ...now }, ctime: { ...now }, generation: 1 };
        t.insert({ v: KEY_FORMAT_VERSION, a, p: ROOT_INO, n: 0, c: 1 });
      },
      false,
    );
  }

  /** A fresh inode number from this process's batch; a new batch is one transaction on the
   * shared counter, which only grows: numbers are never handed out twice. */
  private async allocIno(): Promise<number> {
    while (this.inoNext >= this.inoEnd) {
      this.inoRefill ??= this.mutate('reserve inode numbers', [], async (t) => {
        const value = await t.tx.get(this.keys.inodeCounter());
        const first = value === undefined ? ROOT_INO + 1 : Number(value.toString());
        t.tx.put(this.keys.inodeCounter(), Buffer.from(String(first + limits.etcdInodeBatch)));
        return first;
      })
        .then((first) => {
          this.inoNext = first;
          this.inoEnd = first + limits.etcdInodeBatch;
        })
        .finally(() => {
          this.inoRefill = undefined;
        });
      await this.inoRefill;
    }
    return this.inoNext++;
  }

  private now(): Timespec {
    const now = this.clock();
    checkTimespec(now, 'clock reading');
    return now;
  }

  // ---- helpers within a transaction ----

  private async requireDir(t: MetaTxn, ino: number): Promise<InodeRecord> {
    const rec = await t.findInode(ino);
    if (rec === undefined || (isDir(rec.a) && rec.a.nlink === 0)) throw qfsError('NOT_FOUND', `no directory ${ino}`);
    if (!isDir(rec.a)) throw qfsError('NOT_DIR', `inode ${ino} is not a directory`);
    return rec;
  }

  private async requireEntry(t: MetaTxn, dir: number, name: string): Promise<EntryRecord> {
    const entry = await t.entry(dir, nameToBytes(name));
    if (entry === undefined) throw qfsError('NOT_FOUND', `no entry ${JSON.stringify(name)} in directory ${dir}`);
    return entry;
  }

  private parentOf(dir: InodeRecord): number {
    if (dir.a.ino === ROOT_INO) return ROOT_INO;
    if (dir.p === undefined) throw qfsError('INTERNAL', `directory ${dir.a.ino} has no parent`);
    return dir.p;
  }

  /** True if `ancestor` is `ino` or a directory above it. Reads without compares: a directory
   * move that could change the answer bumps the dirmoves key, which such a rename compares. */
  private async isAncestorOrSelf(t: MetaTxn, ancestor: number, ino: number): Promise<boolean> {
    let current = ino;
    for (let depth = 0; depth < limits.maxTreeDepth; depth++) {
      if (current === ancestor) return true;
      if (current === ROOT_INO) return false;
      const rec = await t.peekInode(current);
      if (rec === undefined) throw qfsError('INTERNAL', `directory ${current} is missing`);
      current = this.parentOf(rec);
    }
    throw qfsError('INTERNAL', `directory ${ino} is over ${limits.maxTreeDepth} levels deep: a cycle`);
  }

  private touchDir(t: MetaTxn, dir: InodeRecord, now: Timespec): void {
    dir.a.mtime = { ...now };
    dir.a.ctime = { ...now };
    t.save(dir);
  }

  /** Whether a session holds the inode; commits only if that stays so. */
  private async isHeld(t: MetaTxn, ino: number): Promise<boolean> {
    const prefix = this.keys.holdsOfInodePrefix(ino);
    const [res] = await t.tx.read([t.holdersRequest(ino, 1)]);
    const first = res!.kvs[0];
    if (first !== undefined) {
      t.tx.expect(first.key, first.mod_revision);
      return true;
    }
    t.tx.guardRange(prefix, prefixEnd(prefix));
    return false;
  }

  private addHold(t: MetaTxn, session: string, ino: number): void {
    t.tx.put(this.keys.hold(session, ino), EMPTY);
    t.tx.put(this.keys.holdByInode(ino, session), EMPTY);
    t.tx.put(this.keys.session(session), EMPTY);
  }

  /** Drops the session's holds of `inos`; an inode left with no hold and no name is deleted.
   * Reads what it may need in one call, with `ahead` (requests the caller makes next). */
  private async dropHolds(t: MetaTxn, session: string, inos: number[], ahead: IRangeRequest[] = []): Promise<OrphanBlock[]> {
    const holdKeys = inos.map((ino) => this.keys.hold(session, ino));
    await t.tx.prefetch([...holdKeys.map((key) => ({ key })), ...inos.flatMap((ino) => [t.holdersRequest(ino, 2), t.inodeRequest(ino)]), t.counterRequest(), ...ahead]);
    const present = await t.tx.getMany(holdKeys);
    const held = inos.filter((_, i) => present[i] !== undefined);
    const prefixes = held.map((ino) => this.keys.holdsOfInodePrefix(ino));
    const ranges = await t.tx.read(held.map((ino) => t.holdersRequest(ino, 2)));
    const lastHold: number[] = [];
    held.forEach((ino, i) => {
      const mine = this.keys.holdByInode(ino, session);
      const other = ranges[i]!.kvs.find((kv) => !kv.key.equals(mine));
      if (other !== undefined) t.tx.expect(other.key, other.mod_revision);
      else {
        t.tx.guardRange(prefixes[i]!, prefixEnd(prefixes[i]!));
        lastHold.push(ino);
      }
      t.tx.del(this.keys.hold(session, ino));
      t.tx.del(mine);
    });
    await t.loadInodes(lastHold, true);
    const orphans: OrphanBlock[] = [];
    for (const ino of lastHold) {
      const rec = await t.findInode(ino);
      if (rec !== undefined && rec.a.nlink === 0) orphans.push(...(await t.deleteInode(ino)));
    }
    return orphans;
  }

  /** Deletes the session's key if no hold of it is left but the `dropping` ones. */
  private async endSessionIfEmpty(t: MetaTxn, session: string, dropping: number): Promise<void> {
    const prefix = this.keys.holdsOfSessionPrefix(session);
    const [res] = await t.tx.read([this.sessionHoldsRequest(session, dropping + 1)]);
    const left = res!.kvs;
    if (left.length > dropping) return;
    t.tx.guardRange(prefix, prefixEnd(prefix));
    for (const kv of left) t.tx.expect(kv.key, kv.mod_revision);
    t.tx.del(this.keys.session(session));
  }

  private sessionHoldsRequest(session: string, limit: number): IRangeRequest {
    const prefix = this.keys.holdsOfSessionPrefix(session);
    return { key: prefix, range_end: prefixEnd(prefix), limit, keys_only: true };
  }

  /** One name of `rec` went away: nlink drops (a directory's to 0); deleted if no one holds it. */
  private async dropLink(t: MetaTxn, rec: InodeRecord, now: Timespec): Promise<RemoveResult> {
    const attr = rec.a;
    attr.nlink = isDir(attr) ? 0 : attr.nlink - 1;
    attr.ctime = { ...now };
    if (attr.nlink > 0 || (await this.isHeld(t, attr.ino))) return { attr: t.save(rec), orphans: [] };
    attr.generation += 1;
    return { attr, orphans: await t.deleteInode(attr.ino) };
  }

  private async requireFreeName(t: MetaTxn, parent: InodeRecord, name: string): Promise<void> {
    if (isDotName(name) || (await t.entry(parent.a.ino, nameToBytes(name))) !== undefined) {
      throw qfsError('EXISTS', `${JSON.stringify(name)} exists in directory ${parent.a.ino}`);
    }
  }

  private putEntry(t: MetaTxn, dir: number, name: string, ino: number, id: number): void {
    t.tx.put(this.keys.entry(dir, nameToBytes(name)), encodeJson({ ino, id } satisfies EntryRecord));
    t.tx.put(this.keys.dirIndex(dir, id), encodeJson({ name: b64(nameToBytes(name)), ino } satisfies DirIndexRecord));
  }

  /** A new entry in `dir`: the next id, one more entry. */
  private addEntry(t: MetaTxn, dir: InodeRecord, name: string, ino: number): void {
    const id = dir.c ?? 1;
    dir.c = id + 1;
    dir.n = (dir.n ?? 0) + 1;
    this.putEntry(t, dir.a.ino, name, ino, id);
  }

  private deleteEntry(t: MetaTxn, dir: InodeRecord, name: string, entry: EntryRecord): void {
    t.tx.del(this.keys.entry(dir.a.ino, nameToBytes(name)));
    t.tx.del(this.keys.dirIndex(dir.a.ino, entry.id));
    dir.n = (dir.n ?? 1) - 1;
  }

  private async addChild(t: MetaTxn, parent: InodeRecord, name: string, caller: Caller, spec: NewInodeSpec): Promise<InodeAttr> {
    const ino = await this.allocIno();
    const now = this.now();
    const dir = (spec.mode & S_IFMT) === S_IFDIR;
    const a = newInodeAttr(ino, parent.a, caller, spec, now);
    const rec: InodeRecord = { v: KEY_FORMAT_VERSION, a };
    if (spec.target !== null) rec.t = b64(nameToBytes(spec.target));
    if (dir) Object.assign(rec, { p: parent.a.ino, n: 0, c: 1 });
    t.insert(rec);
    this.addEntry(t, parent, name, ino);
    if (dir) parent.a.nlink += 1;
    this.touchDir(t, parent, now);
    return { ...a, atime: { ...a.atime }, mtime: { ...a.mtime }, ctime: { ...a.ctime } };
  }

  // ---- lookups ----

  async getattr(ino: number): Promise<InodeAttr> {
    checkNonNegativeInt(ino, 'ino');
    return this.view(async (t) => (await t.requireInode(ino)).a);
  }

  async lookup(parent: number, name: string): Promise<InodeAttr> {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    return this.view(async (t) => {
      await t.loadInodes([parent], false, isDotName(name) ? [] : [{ dir: parent, name: nameToBytes(name) }]);
      const dir = await this.requireDir(t, parent);
      if (name === '.') return dir.a;
      if (name === '..') return (await t.requireInode(this.parentOf(dir))).a;
      return (await t.requireInode((await this.requireEntry(t, dir.a.ino, name)).ino)).a;
    });
  }

  async readlink(ino: number): Promise<string> {
    checkNonNegativeInt(ino, 'ino');
    return this.view(async (t) => {
      const rec = await t.requireInode(ino);
      if ((rec.a.mode & S_IFMT) !== S_IFLNK || rec.t === undefined) throw qfsError('INVALID', `inode ${ino} is not a symlink`);
      return nameFromBytes(unb64(rec.t));
    });
  }

  /** Cookies: '.' is 1, '..' is 2, an entry is its id in the directory + 2 (ids only grow). */
  async readdir(ino: number, cookie: number, limit: number): Promise<DirEntry[]> {
    checkNonNegativeInt(ino, 'ino');
    checkNonNegativeInt(cookie, 'cookie');
    const max = pageLimit(limit, limits.maxReaddirEntries);
    return this.view(async (t) => (await this.readdirPage(t, ino, cookie, max)).map((e) => e.entry));
  }

  /** readdir with each entry's attributes, at one snapshot: two etcd calls for a page. */
  async readdirplus(ino: number, cookie: number, limit: number): Promise<Array<{ entry: DirEntry; attr: InodeAttr }>> {
    checkNonNegativeInt(ino, 'ino');
    checkNonNegativeInt(cookie, 'cookie');
    const max = pageLimit(limit, limits.maxReaddirEntries);
    return this.view((t) => this.readdirPage(t, ino, cookie, max));
  }

  /** A page of entries with their inodes' attributes: the directory's record and its index page
   * in one etcd call, then the inodes they name (the parent's too) in another. */
  private async readdirPage(t: MetaTxn, ino: number, cookie: number, max: number): Promise<Array<{ entry: DirEntry; attr: InodeAttr }>> {
    const dots = Math.min(max, (cookie < 1 ? 1 : 0) + (cookie < 2 ? 1 : 0));
    const want = max - dots;
    const prefix = this.keys.dirIndexPrefix(ino);
    const page: IRangeRequest = { key: this.keys.dirIndex(ino, Math.max(cookie - 2, 0) + 1), range_end: prefixEnd(prefix), limit: want };
    await t.loadInodes([ino], false, [], want === 0 ? [] : [page]);
    const dir = await this.requireDir(t, ino);
    const kvs = want === 0 ? [] : (await t.tx.read([page]))[0]!.kvs;
    const rows = kvs.map((kv) => ({ id: parseInt(kv.key.subarray(prefix.length).toString(), 16), rec: decodeJson<DirIndexRecord>(kv.value) }));
    const up = cookie < 2 && dots > (cookie < 1 ? 1 : 0) ? this.parentOf(dir) : undefined;
    await t.loadInodes([...(up === undefined ? [] : [up]), ...rows.map((row) => row.rec.ino)]);
    const out: Array<{ entry: DirEntry; attr: InodeAttr }> = [];
    if (cookie < 1) out.push({ entry: { name: '.', ino: dir.a.ino, mode: dir.a.mode, cookie: 1 }, attr: dir.a });
    if (up !== undefined) {
      const upRec = await t.requireInode(up);
      out.push({ entry: { name: '..', ino: upRec.a.ino, mode: upRec.a.mode, cookie: 2 }, attr: upRec.a });
    }
    for (const row of rows) {
      const rec = await t.findInode(row.rec.ino);
      if (rec === undefined) continue; // cannot be: every entry names an inode
      out.push({ entry: { name: nameFromBytes(unb64(row.rec.name)), ino: row.rec.ino, mode: rec.a.mode, cookie: row.id + 2 }, attr: rec.a });
    }
    return out.slice(0, fitPage(out.map((e) => e.entry)).length);
  }

  // ---- namespace changes ----

  async create(req: CreateRequest): Promise<InodeAttr> {
    checkNonNegativeInt(req.parent, 'parent');
    checkName(req.name);
    checkCaller(req.caller);
    checkMode(req.mode);
    const mode = createMode(req.mode);
    const special = (mode & S_IFMT) === S_IFCHR || (mode & S_IFMT) === S_IFBLK;
    const rdev = special ? (req.rdev ?? 0) : 0;
    checkNonNegativeInt(rdev, 'rdev');
    if (req.session !== undefined) checkSessionId(req.session);
    return this.mutate('create', [req.parent], async (t) => {
      await t.loadInodes([req.parent], true, [{ dir: req.parent, name: nameToBytes(req.name) }]);
      const parent = await this.requireDir(t, req.parent);
      const attr =
        (await this.existingForCreate(t, parent, req.name, mode, req.exclusive)) ??
        (await this.addChild(t, parent, req.name, req.caller, { mode, rdev, size: 0, target: null }));
      if (req.session !== undefined) this.addHold(t, req.session, attr.ino);
      return attr;
    });
  }

  private async existingForCreate(t: MetaTxn, parent: InodeRecord, name: string, mode: number, exclusive: boolean): Promise<InodeAttr | undefined> {
    const entry = isDotName(name) ? undefined : await t.entry(parent.a.ino, nameToBytes(name));
    if (entry === undefined) {
      await this.requireFreeName(t, parent, name);
      return undefined;
    }
    const attr = (await t.requireInode(entry.ino)).a;
    const wantsRegular = (mode & S_IFMT) === S_IFREG;
    if (!exclusive && wantsRegular && isRegular(attr)) return attr;
    if (!exclusive && wantsRegular && isDir(attr)) throw qfsError('IS_DIR', `${JSON.stringify(name)} is a directory`);
    throw qfsError('EXISTS', `${JSON.stringify(name)} exists in directory ${parent.a.ino}`);
  }

  async mkdir(parent: number, name: string, mode: number, caller: Caller): Promise<InodeAttr> {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    checkMode(mode);
    checkCaller(caller);
    return this.mutate('mkdir', [parent], async (t) => {
      await t.loadInodes([parent], true, [{ dir: parent, name: nameToBytes(name) }]);
      const dir = await this.requireDir(t, parent);
      await this.requireFreeName(t, dir, name);
      return this.addChild(t, dir, name, caller, { mode: S_IFDIR | (mode & MKDIR_BITS), rdev: 0, size: 0, target: null });
    });
  }

  async symlink(parent: number, name: string, target: string, caller: Caller): Promise<InodeAttr> {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    checkSymlinkTarget(target);
    checkCaller(caller);
    const size = nameByteLength(target);
    return this.mutate('symlink', [parent], async (t) => {
      await t.loadInodes([parent], true, [{ dir: parent, name: nameToBytes(name) }]);
      const dir = await this.requireDir(t, parent);
      await this.requireFreeName(t, dir, name);
      return this.addChild(t, dir, name, caller, { mode: S_IFLNK | 0o777, rdev: 0, size, target });
    });
  }

  /** Error order as Linux linkat: source, target directory, EXISTS, then EPERM for directories. */
  async link(ino: number, newParent: number, newName: string): Promise<InodeAttr> {
    checkNonNegativeInt(ino, 'ino');
    checkNonNegativeInt(newParent, 'newParent');
    checkName(newName);
    return this.mutate('link', [ino, newParent], async (t) => {
      await t.loadInodes([ino, newParent], false, [{ dir: newParent, name: nameToBytes(newName) }]);
      const rec = await t.requireInode(ino);
      const dir = await this.requireDir(t, newParent);
      await this.requireFreeName(t, dir, newName);
      if (isDir(rec.a)) throw qfsError('PERMISSION', `inode ${ino} is a directory; directories cannot be hard-linked`);
      if (rec.a.nlink === 0) throw qfsError('NOT_FOUND', `inode ${ino} has been removed`);
      const now = this.now();
      this.addEntry(t, dir, newName, ino);
      rec.a.nlink += 1;
      rec.a.ctime = { ...now };
      t.save(rec);
      this.touchDir(t, dir, now);
      return rec.a;
    });
  }

  async unlink(parent: number, name: string): Promise<RemoveResult> {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    return this.mutate('unlink', [parent], async (t) => {
      await t.loadInodes([parent], true, [{ dir: parent, name: nameToBytes(name) }]);
      const dir = await this.requireDir(t, parent);
      if (isDotName(name)) throw qfsError('IS_DIR', `cannot unlink ${JSON.stringify(name)}`);
      const entry = await this.requireEntry(t, dir.a.ino, name);
      await t.tx.prefetch(t.removalRequests(entry.ino));
      const rec = await t.requireInode(entry.ino);
      if (isDir(rec.a)) throw qfsError('IS_DIR', `${JSON.stringify(name)} is a directory`);
      const now = this.now();
      this.deleteEntry(t, dir, name, entry);
      this.touchDir(t, dir, now);
      return this.dropLink(t, rec, now);
    });
  }

  async rmdir(parent: number, name: string): Promise<RemoveResult> {
    checkNonNegativeInt(parent, 'parent');
    checkName(name);
    return this.mutate('rmdir', [parent], async (t) => {
      await t.loadInodes([parent], true, [{ dir: parent, name: nameToBytes(name) }]);
      const dir = await this.requireDir(t, parent);
      if (name === '.') throw qfsError('INVALID', `cannot rmdir '.'`);
      if (name === '..') throw qfsError('NOT_EMPTY', `cannot rmdir '..'`);
      const entry = await this.requireEntry(t, dir.a.ino, name);
      await t.tx.prefetch(t.removalRequests(entry.ino));
      const rec = await t.requireInode(entry.ino);
      if (!isDir(rec.a)) throw qfsError('NOT_DIR', `${JSON.stringify(name)} is not a directory`);
      if ((rec.n ?? 0) > 0) throw qfsError('NOT_EMPTY', `directory ${JSON.stringify(name)} is not empty`);
      const now = this.now();
      this.deleteEntry(t, dir, name, entry);
      dir.a.nlink -= 1;
      this.touchDir(t, dir, now);
      return this.dropLink(t, rec, now);
    });
  }

  /** Error order follows Linux renameat2, as SqliteMetaStore. A directory changing parents reads
   * and bumps the dirmoves key: two such moves never commit from the same view of the tree, so
   * the subtree check (reads without compares) cannot be raced into a cycle. */
  async rename(oldParent: number, oldName: string, newParent: number, newName: string, flags: number): Promise<RemoveResult | null> {
    checkNonNegativeInt(oldParent, 'oldParent');
    checkNonNegativeInt(newParent, 'newParent');
    checkName(oldName);
    checkName(newName);
    if (flags !== 0 && flags !== RENAME_NOREPLACE && flags !== RENAME_EXCHANGE) {
      throw qfsError('INVALID', `rename flags ${flags} are not supported`);
    }
    if (isDotName(oldName) || isDotName(newName)) throw qfsError('INVALID', `cannot rename '.' or '..'`);
    return this.mutate('rename', [oldParent, newParent], async (t) => {
      await t.loadInodes([oldParent, newParent], true, [
        { dir: oldParent, name: nameToBytes(oldName) },
        { dir: newParent, name: nameToBytes(newName) },
      ]);
      const from = await this.requireDir(t, oldParent);
      const to = await this.requireDir(t, newParent);
      const [src, dst] = await this.renameEntries(t, from.a.ino, oldName, to.a.ino, newName);
      if (src === undefined) throw qfsError('NOT_FOUND', `no entry ${JSON.stringify(oldName)} in directory ${from.a.ino}`);
      if (dst !== undefined && flags === RENAME_NOREPLACE) throw qfsError('EXISTS', `${JSON.stringify(newName)} exists in directory ${to.a.ino}`);
      if (dst === undefined && flags === RENAME_EXCHANGE) throw qfsError('NOT_FOUND', `no entry ${JSON.stringify(newName)} in directory ${to.a.ino}`);
      // Read along: what replacing the target may read, and the dirmoves key of a move between
      // directories.
      const ahead = [...(dst === undefined || dst.ino === src.ino ? [] : t.removalRequests(dst.ino)), ...(from !== to ? [{ key: this.keys.dirMoves() }] : [])];
      await t.loadInodes(dst === undefined ? [src.ino] : [src.ino, dst.ino], false, [], ahead);
      const srcRec = await t.requireInode(src.ino);
      const dstRec = dst === undefined ? undefined : await t.requireInode(dst.ino);
      if (from !== to && (isDir(srcRec.a) || (dstRec !== undefined && isDir(dstRec.a)))) {
        const moves = await t.tx.get(this.keys.dirMoves());
        t.tx.put(this.keys.dirMoves(), Buffer.from(String(Number(moves?.toString() ?? '0') + 1)));
      }
      await this.checkRenameLoops(t, from, to, srcRec, dstRec, flags);
      if (dst !== undefined && dst.ino === src.ino) {
        t.tx.forget(this.keys.dirMoves());
        return null;
      }
      const now = this.now();
      if (dst !== undefined && dstRec !== undefined && flags === RENAME_EXCHANGE) {
        this.exchange(t, { from, to, oldName, newName, src, dst, srcRec, dstRec, now });
        return null;
      }
      return this.move(t, { from, to, oldName, newName, src, dst, srcRec, dstRec, now });
    });
  }

  /** The source and target entries, read in one call (one entry when they are the same name). */
  private async renameEntries(t: MetaTxn, from: number, oldName: string, to: number, newName: string): Promise<Array<EntryRecord | undefined>> {
    const srcKey = this.keys.entry(from, nameToBytes(oldName));
    const dstKey = this.keys.entry(to, nameToBytes(newName));
    if (srcKey.equals(dstKey)) {
      const value = await t.tx.get(srcKey);
      const entry = value === undefined ? undefined : decodeJson<EntryRecord>(value);
      return [entry, entry];
    }
    const values = await t.tx.getMany([srcKey, dstKey]);
    return values.map((v) => (v === undefined ? undefined : decodeJson<EntryRecord>(v)));
  }

  private async checkRenameLoops(t: MetaTxn, from: InodeRecord, to: InodeRecord, srcRec: InodeRecord, dstRec: InodeRecord | undefined, flags: number): Promise<void> {
    if (isDir(srcRec.a) && (await this.isAncestorOrSelf(t, srcRec.a.ino, to.a.ino))) {
      throw qfsError('INVALID', `cannot move directory ${srcRec.a.ino} into its own subtree`);
    }
    if (dstRec !== undefined && isDir(dstRec.a) && (await this.isAncestorOrSelf(t, dstRec.a.ino, from.a.ino))) {
      if (flags === RENAME_EXCHANGE) throw qfsError('INVALID', `cannot exchange directory ${dstRec.a.ino} with its own descendant`);
      throw qfsError('NOT_EMPTY', `target directory ${dstRec.a.ino} contains the source`);
    }
  }

  private async move(
    t: MetaTxn,
    m: { from: InodeRecord; to: InodeRecord; oldName: string; newName: string; src: EntryRecord; dst: EntryRecord | undefined; srcRec: InodeRecord; dstRec: InodeRecord | undefined; now: Timespec },
  ): Promise<RemoveResult | null> {
    if (m.dstRec !== undefined) checkReplace(m.srcRec.a, m.dstRec.a, () => (m.dstRec!.n ?? 0) > 0);
    this.deleteEntry(t, m.from, m.oldName, m.src);
    // A replaced name keeps its entry id (and so its readdir position); only the inode changes.
    if (m.dst !== undefined) this.putEntry(t, m.to.a.ino, m.newName, m.srcRec.a.ino, m.dst.id);
    else this.addEntry(t, m.to, m.newName, m.srcRec.a.ino);
    if (isDir(m.srcRec.a) && m.from !== m.to) {
      m.from.a.nlink -= 1;
      m.to.a.nlink += 1;
      m.srcRec.p = m.to.a.ino;
    }
    if (m.dstRec !== undefined && isDir(m.dstRec.a)) m.to.a.nlink -= 1;
    m.srcRec.a.ctime = { ...m.now };
    t.save(m.srcRec);
    this.touchDir(t, m.from, m.now);
    if (m.to !== m.from) this.touchDir(t, m.to, m.now);
    return m.dstRec === undefined ? null : this.dropLink(t, m.dstRec, m.now);
  }

  private exchange(
    t: MetaTxn,
    x: { from: InodeRecord; to: InodeRecord; oldName: string; newName: string; src: EntryRecord; dst: EntryRecord; srcRec: InodeRecord; dstRec: InodeRecord; now: Timespec },
  ): void {
    this.putEntry(t, x.from.a.ino, x.oldName, x.dstRec.a.ino, x.src.id);
    this.putEntry(t, x.to.a.ino, x.newName, x.srcRec.a.ino, x.dst.id);
    if (x.from !== x.to) {
      if (isDir(x.srcRec.a)) x.srcRec.p = x.to.a.ino;
      if (isDir(x.dstRec.a)) x.dstRec.p = x.from.a.ino;
      if (isDir(x.srcRec.a) !== isDir(x.dstRec.a)) {
        const delta = isDir(x.srcRec.a) ? 1 : -1;
        x.from.a.nlink -= delta;
        x.to.a.nlink += delta;
      }
    }
    for (const rec of [x.srcRec, x.dstRec]) {
      rec.a.ctime = { ...x.now };
      t.save(rec);
    }
    this.touchDir(t, x.from, x.now);
    if (x.to !== x.from) this.touchDir(t, x.to, x.now);
  }

  // ---- attributes ----

  async setattr(ino: number, req: SetAttrRequest, now: Timespec): Promise<CommitResult> {
    checkNonNegativeInt(ino, 'ino');
    checkSetAttr(req, now);
    return this.mutate('setattr', [ino], async (t) => {
      await t.loadInodes([ino], req.size !== undefined, [], req.size === undefined ? [] : [t.blocksFromRequest(ino, Math.ceil(req.size / limits.blockSizeBytes))]);
      const rec = await t.requireInode(ino);
      const attr = rec.a;
      if (req.size !== undefined) this.requireResizable(attr);
      const orphans = req.size === undefined ? [] : await this.resize(t, attr, req.size, req.mtime === undefined, now);
      if (req.mode !== undefined) attr.mode = (attr.mode & S_IFMT) | (req.mode & PERMISSION_BITS);
      if (req.uid !== undefined) attr.uid = req.uid;
      if (req.gid !== undefined) attr.gid = req.gid;
      if (req.atime !== undefined) attr.atime = req.atime === 'now' ? { ...now } : { ...req.atime };
      if (req.mtime !== undefined) attr.mtime = req.mtime === 'now' ? { ...now } : { ...req.mtime };
      const changed = Object.values(req).some((value) => value !== undefined);
      if (!changed) return { attr, orphans };
      attr.ctime = req.ctime === undefined ? { ...now } : { ...req.ctime };
      return { attr: t.save(rec), orphans };
    });
  }

  private requireResizable(attr: InodeAttr): void {
    if (isDir(attr)) throw qfsError('IS_DIR', `inode ${attr.ino} is a directory`);
    if (!isRegular(attr)) throw qfsError('INVALID', `inode ${attr.ino} is not a regular file`);
  }

  private async resize(t: MetaTxn, attr: InodeAttr, size: number, setMtime: boolean, now: Timespec): Promise<OrphanBlock[]> {
    const orphans = await t.blocksFrom(attr.ino, Math.ceil(size / limits.blockSizeBytes));
    if (size !== attr.size && setMtime) attr.mtime = { ...now };
    attr.size = size;
    return orphans;
  }

  // ---- block maps ----

  async getBlocks(ino: number, fromIndex: number, toIndex: number): Promise<BlockRef[]> {
    checkNonNegativeInt(ino, 'ino');
    checkNonNegativeInt(fromIndex, 'fromIndex');
    checkNonNegativeInt(toIndex, 'toIndex');
    if (toIndex < fromIndex) throw qfsError('INVALID', `block range [${fromIndex}, ${toIndex}) is reversed`);
    return this.view(async (t) => {
      const per = limits.etcdBlocksPerChunk;
      const start = this.keys.chunk(ino, Math.floor(fromIndex / per));
      const end = this.keys.chunk(ino, Math.floor((toIndex - 1) / per) + 1);
      await t.loadInodes([ino], false, [], toIndex === fromIndex ? [] : [t.chunkPageRequest(start, end)]);
      await t.requireInode(ino);
      const out: BlockRef[] = [];
      if (toIndex === fromIndex) return out;
      await t.scanChunks(start, end, (_chunk, refs) => {
        for (const ref of refs) {
          if (ref.index >= fromIndex && ref.index < toIndex && out.length < limits.maxBlocksPerCall) out.push(ref);
        }
        return out.length < limits.maxBlocksPerCall;
      });
      return out;
    });
  }

  /** A commit's blocks must lie in at most limits.etcdMaxChunksPerCommit chunk keys (a write's
   * blocks are contiguous: 1,024 of them take 17 at most); wider scattered ones are INVALID. */
  async commitBlocks(req: CommitBlocksRequest): Promise<CommitResult> {
    checkCommitBlocks(req);
    const chunks = new Set(req.blocks.map((b) => Math.floor(b.index / limits.etcdBlocksPerChunk)));
    if (chunks.size > limits.etcdMaxChunksPerCommit) {
      throw qfsError('INVALID', `commit of inode ${req.ino} spreads over ${chunks.size} chunks of the block map, over ${limits.etcdMaxChunksPerCommit}`);
    }
    return this.mutate('commitBlocks', [req.ino], async (t) => {
      await t.loadInodes([req.ino], true, [], [...chunks, ...(req.expect?.blocks.map((b) => Math.floor(b.index / limits.etcdBlocksPerChunk)) ?? [])].map((c) => ({ key: this.keys.chunk(req.ino, c) })));
      const rec = await t.requireInode(req.ino);
      this.requireResizable(rec.a);
      await t.loadChunks(req.ino, [...req.blocks.map((b) => b.index), ...(req.expect?.blocks.map((b) => b.index) ?? [])]);
      const already = req.blocks.length > 0 && req.blocks.every((b) => t.blockAt(req.ino, b.index)?.version === b.version);
      if (req.expect !== undefined && !already) this.requireExpected(t, rec.a, req.expect);
      const size = Math.max(rec.a.size, req.sizeBytes);
      for (const block of req.blocks) {
        if (block.index * limits.blockSizeBytes + block.lengthBytes > size) {
          throw qfsError('INVALID', `block ${block.index} of inode ${req.ino} ends past the file size ${size}`);
        }
      }
      const orphans = req.blocks.flatMap((block) => this.putBlock(t, req.ino, block));
      rec.a.size = size;
      rec.a.mtime = { ...req.time };
      rec.a.ctime = { ...req.time };
      return { attr: t.save(rec), orphans };
    });
  }

  private requireExpected(t: MetaTxn, attr: InodeAttr, expect: CommitExpectation): void {
    if (attr.size !== expect.sizeBytes) {
      throw qfsError('STALE', `inode ${attr.ino} has size ${attr.size}, not the ${expect.sizeBytes} the write was planned from`);
    }
    for (const { index, version } of expect.blocks) {
      const current = t.blockAt(attr.ino, index)?.version ?? 0;
      if (current !== version) {
        throw qfsError('STALE', `block ${index} of inode ${attr.ino} is at version ${current}, not the ${version} the write was planned from`);
      }
    }
  }

  /** As SqliteMetaStore.putBlock: STALE if the block would go back to an older version. */
  private putBlock(t: MetaTxn, ino: number, block: BlockRef): OrphanBlock[] {
    const previous = t.blockAt(ino, block.index);
    if (previous !== undefined && previous.version > block.version) {
      throw qfsError('STALE', `block ${block.index} of inode ${ino} is at version ${previous.version}, newer than the ${block.version} committed`);
    }
    t.setBlock(ino, { index: block.index, version: block.version, checksum: block.checksum, lengthBytes: block.lengthBytes });
    return previous === undefined || previous.version === block.version ? [] : [{ ino, index: block.index, version: previous.version }];
  }

  async reserveVersions(count: number): Promise<number> {
    checkPositiveInt(count, 'count', limits.versionReserveBatch);
    return this.mutate('reserveVersions', [], async (t) => {
      const value = await t.tx.get(this.keys.versionCounter());
      const first = value === undefined ? 1 : Number(value.toString());
      t.tx.put(this.keys.versionCounter(), Buffer.from(String(first + count)));
      return first;
    });
  }

  /** Pass (0, 0) to start: inode 0 never exists. */
  async listBlocks(afterIno: number, afterIndex: number, limit: number): Promise<Array<BlockRef & { ino: number }>> {
    checkNonNegativeInt(afterIno, 'afterIno');
    checkNonNegativeInt(afterIndex, 'afterIndex');
    const max = pageLimit(limit, limits.maxBlocksPerCall);
    return this.view(async (t) => {
      const out: Array<BlockRef & { ino: number }> = [];
      const start = this.keys.chunk(afterIno, Math.floor(afterIndex / limits.etcdBlocksPerChunk));
      await t.scanChunks(start, prefixEnd(this.keys.allChunksPrefix()), (_chunk, refs, ino) => {
        for (const ref of refs) {
          if (out.length >= max) break;
          if (ino > afterIno || ref.index > afterIndex) out.push({ ino, ...ref });
        }
        return out.length < max;
      });
      return out;
    });
  }

  async committedVersions(blocks: ReadonlyArray<{ ino: number; index: number }>): Promise<number[]> {
    if (blocks.length > limits.maxBlocksPerBatch) throw qfsError('INVALID', `${blocks.length} blocks asked, over ${limits.maxBlocksPerBatch}`);
    for (const b of blocks) {
      checkNonNegativeInt(b.ino, 'ino');
      checkNonNegativeInt(b.index, 'index');
    }
    return this.view(async (t) => {
      const keyOf = (b: { ino: number; index: number }): string => this.keys.chunk(b.ino, Math.floor(b.index / limits.etcdBlocksPerChunk)).toString('hex');
      const unique = [...new Set(blocks.map(keyOf))];
      const res = await t.tx.read(unique.map((hex) => ({ key: Buffer.from(hex, 'hex') })));
      const versions = new Map<string, Map<number, number>>();
      unique.forEach((hex, i) => {
        const value = res[i]!.kvs[0]?.value;
        versions.set(hex, new Map(value === undefined ? [] : decodeJson<ChunkRecord>(value).map(([index, version]) => [index, version])));
      });
      return blocks.map((b) => versions.get(keyOf(b))?.get(b.index) ?? 0);
    });
  }

  // ---- extended attributes ----

  async setxattr(ino: number, name: string, value: Uint8Array, flags: number): Promise<void> {
    checkNonNegativeInt(ino, 'ino');
    checkXattrName(name);
    checkXattrValue(value);
    if (flags !== 0 && flags !== XATTR_CREATE && flags !== XATTR_REPLACE) throw qfsError('INVALID', `setxattr flags ${flags} are not supported`);
    await this.mutate('setxattr', [ino], async (t) => {
      const key = this.keys.xattr(ino, nameToBytes(name));
      await t.loadInodes([ino], false, [], [{ key }]);
      const rec = await t.requireInode(ino);
      const present = (await t.tx.get(key)) !== undefined;
      if (present && flags === XATTR_CREATE) throw qfsError('EXISTS', `xattr ${JSON.stringify(name)} exists on inode ${ino}`);
      if (!present && flags === XATTR_REPLACE) throw qfsError('NO_DATA', `no xattr ${JSON.stringify(name)} on inode ${ino}`);
      t.tx.put(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      rec.a.ctime = this.now();
      t.save(rec);
    });
  }

  async getxattr(ino: number, name: string): Promise<Uint8Array> {
    checkNonNegativeInt(ino, 'ino');
    checkXattrName(name);
    return this.view(async (t) => {
      const key = this.keys.xattr(ino, nameToBytes(name));
      await t.loadInodes([ino], false, [], [{ key }]);
      await t.requireInode(ino);
      const [res] = await t.tx.read([{ key }]);
      const value = res!.kvs[0]?.value;
      if (value === undefined) throw qfsError('NO_DATA', `no xattr ${JSON.stringify(name)} on inode ${ino}`);
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    });
  }

  async listxattr(ino: number): Promise<string[]> {
    checkNonNegativeInt(ino, 'ino');
    return this.view(async (t) => {
      await t.requireInode(ino);
      const prefix = this.keys.xattrsPrefix(ino);
      const names: string[] = [];
      await t.tx.scan(prefix, prefixEnd(prefix), (kvs) => {
        for (const kv of kvs) names.push(nameFromBytes(kv.key.subarray(prefix.length)));
      }, true);
      return names;
    });
  }

  async removexattr(ino: number, name: string): Promise<void> {
    checkNonNegativeInt(ino, 'ino');
    checkXattrName(name);
    await this.mutate('removexattr', [ino], async (t) => {
      const key = this.keys.xattr(ino, nameToBytes(name));
      await t.loadInodes([ino], false, [], [{ key }]);
      const rec = await t.requireInode(ino);
      if ((await t.tx.get(key)) === undefined) throw qfsError('NO_DATA', `no xattr ${JSON.stringify(name)} on inode ${ino}`);
      t.tx.del(key);
      rec.a.ctime = this.now();
      t.save(rec);
    });
  }

  // ---- open files ----

  async hold(session: string, ino: number): Promise<InodeAttr> {
    checkSessionId(session);
    checkNonNegativeInt(ino, 'ino');
    return this.mutate('hold', [ino], async (t) => {
      const rec = await t.requireInode(ino);
      this.addHold(t, session, ino);
      return rec.a;
    });
  }

  async release(session: string, ino: number): Promise<OrphanBlock[]> {
    checkSessionId(session);
    checkNonNegativeInt(ino, 'ino');
    return this.mutate('release', [ino], async (t) => {
      const orphans = await this.dropHolds(t, session, [ino], [this.sessionHoldsRequest(session, 2)]);
      if (t.tx.hasWrites) await this.endSessionIfEmpty(t, session, 1);
      return orphans;
    });
  }

  /** Not one transaction (16,384 holds are more than one etcd transaction takes): the holds to
   * drop go in parts of limits.etcdDropsPerTxn, then the holds to set in parts of
   * limits.etcdHoldsPerTxn, then the session's key if nothing is left; each part is atomic, and
   * a failure part-way leaves a set between the old and the new, which a repeat of the call makes
   * whole. */
  async setHolds(session: string, inos: readonly number[]): Promise<SetHoldsResult> {
    checkSessionId(session);
    if (inos.length > limits.maxHoldsPerSession) throw qfsError('INVALID', `more than ${limits.maxHoldsPerSession} holds for one session`);
    for (const ino of inos) checkNonNegativeInt(ino, 'ino');
    const wanted = new Set(inos);
    const orphans: OrphanBlock[] = [];
    const prefix = this.keys.holdsOfSessionPrefix(session);
    let from = prefix;
    for (;;) {
      const page = await this.kv.range({ key: from, range_end: prefixEnd(prefix), limit: limits.etcdRangePageKeys, keys_only: true });
      const unwanted = page.kvs.map((kv) => this.keys.parseHoldIno(kv.key)).filter((ino) => !wanted.has(ino));
      for (let i = 0; i < unwanted.length; i += limits.etcdDropsPerTxn) {
        const part = unwanted.slice(i, i + limits.etcdDropsPerTxn);
        orphans.push(...(await this.mutate('setHolds', [], (t) => this.dropHolds(t, session, part))));
      }
      if (page.kvs.length < limits.etcdRangePageKeys) break;
      from = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    const missing: number[] = [];
    const list = [...wanted];
    for (let i = 0; i < list.length; i += limits.etcdHoldsPerTxn) {
      const part = list.slice(i, i + limits.etcdHoldsPerTxn);
      missing.push(
        ...(await this.mutate('setHolds', [], async (t) => {
          await t.loadInodes(part);
          const gone: number[] = [];
          for (const ino of part) {
            if ((await t.findInode(ino)) === undefined) gone.push(ino);
            else this.addHold(t, session, ino);
          }
          return gone;
        })),
      );
    }
    if (missing.length === wanted.size) await this.mutate('setHolds', [], (t) => this.endSessionIfEmpty(t, session, 0));
    return { orphans, missing };
  }

  async holdSessions(): Promise<string[]> {
    return this.view(async (t) => {
      const prefix = this.keys.sessionsPrefix();
      const kvs = await t.tx.range(prefix, prefixEnd(prefix), limits.maxHoldSessions, true);
      return kvs.map((kv) => this.keys.parseSession(kv.key));
    });
  }

  /** Holds are durable in etcd from the start: no earlier run leaves unheld unlinked inodes. */
  async takeStartupOrphans(): Promise<OrphanBlock[]> {
    return [];
  }

  // ---- status ----

  async markAccess(ino: number, now: Timespec): Promise<boolean> {
    checkNonNegativeInt(ino, 'ino');
    checkTimespec(now, 'now');
    return this.mutate('markAccess', [ino], async (t) => {
      const rec = await t.requireInode(ino);
      if (!atimeUpdateDue(rec.a, now)) return false;
      rec.a.atime = { ...now };
      t.save(rec);
      return true;
    });
  }

  async statfs(): Promise<StatFs> {
    const { inodes } = await this.counts();
    const all = Math.floor(limits.memoryMetaStoreSpaceBytes / limits.blockSizeBytes);
    return {
      blockSizeBytes: limits.blockSizeBytes,
      totalBlocks: all,
      freeBlocks: all,
      availBlocks: all,
      totalInodes: limits.metaStoreReportedInodes,
      freeInodes: Math.max(0, limits.metaStoreReportedInodes - inodes),
      maxNameBytes: limits.maxNameBytes,
    };
  }

  /** The sum of the counter shards: at most limits.etcdCounterShards keys. */
  async counts(): Promise<{ inodes: number; blocks: number; bytes: number }> {
    return this.view(async (t) => {
      const prefix = this.keys.countersPrefix();
      const kvs = await t.tx.range(prefix, prefixEnd(prefix), limits.etcdCounterShards);
      const total = { inodes: 0, blocks: 0, bytes: 0 };
      for (const kv of kvs) {
        const c = decodeCounter(kv.value);
        total.inodes += c.inodes;
        total.blocks += c.blocks;
        total.bytes += c.bytes;
      }
      return total;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}
