// Model-based random test of the quorumfs mount. A seeded PRNG draws ~2,000 file-system
// operations over a small tree (a handful of directories, ~30 names, so operations collide) and
// applies each to the mount and to a plain local directory, the model. After every step the
// outcomes (success, or the same errno, and what was read) must agree, and so must the contents
// and metadata of the paths the step touched (with their parent directories and other hard
// links); every 100 steps the whole trees are compared, including which names share an inode. A failure names the seed, the step and the operation: QFS_SEED=<seed> replays it
// exactly (QFS_STEPS=<n> changes the length). Symlink targets never contain '..' and are never
// absolute, so nothing an operation follows can leave its tree.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startCluster, type Cluster } from '../helpers/cluster.js';
import { startMount, type Mount } from '../helpers/mount.js';

const DEFAULT_SEED = 20_240_611;
const SEED = integerFromEnv('QFS_SEED', DEFAULT_SEED);
const STEPS = integerFromEnv('QFS_STEPS', 2_000);
const FULL_CHECK_EVERY_STEPS = 100;

const MiB = 1024 * 1024;
const BLOCK_BYTES = MiB;
const MAX_WRITE_BYTES = 3 * MiB;
/** Writes and truncates end below this, so files stay a few blocks long (every step reads the
 * files it touched through the mount: their size is most of the test's run time). */
const MAX_END_BYTES = 4 * MiB;
/** Random bytes that writes take their data from (any slice of it). */
const DATA_POOL_BYTES = 8 * MiB;
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
/** Above this many entries in the tree, removals are drawn more often. */
const CROWDED_ENTRIES = 34;
const LONG_NAME = 'n'.repeat(256);

function integerFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name}=${text} is not a non-negative integer`);
  return value;
}

// ---------------------------------------------------------------- seeded randomness

/** sfc32: a small, fast PRNG whose whole sequence follows from the seed. */
class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = seed >>> 0;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  /** Picks a key with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    let r = this.below(entries.reduce((sum, [, w]) => sum + w, 0));
    for (const [key, w] of entries) {
      if (r < w) return key;
      r -= w;
    }
    return entries[entries.length - 1]![0];
  }
}

function dataPool(seed: number): Buffer {
  const prng = new Prng(seed ^ 0x5eed);
  const words = new Uint32Array(DATA_POOL_BYTES / 4);
  for (let i = 0; i < words.length; i++) words[i] = prng.next();
  return Buffer.from(words.buffer);
}

// ---------------------------------------------------------------- operations

type Op =
  | { kind: 'create'; path: string; flags: 'w' | 'wx' | 'a'; mode: number }
  | { kind: 'write'; path: string; offset: number; size: number; dataAt: number }
  | { kind: 'append'; path: string; size: number; dataAt: number }
  | { kind: 'read'; path: string; offset: number; size: number }
  | { kind: 'truncate'; path: string; size: number }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'link'; from: string; to: string }
  | { kind: 'unlink'; path: string }
  | { kind: 'mkdir'; path: string; mode: number }
  | { kind: 'rmdir'; path: string }
  | { kind: 'chmod'; path: string; mode: number }
  | { kind: 'symlink'; target: string; path: string }
  | { kind: 'readlink'; path: string }
  | { kind: 'writeUnlinked'; path: string; offset: number; size: number; dataAt: number }
  | { kind: 'session'; path: string; flags: 'r+' | 'a' | 'w+'; actions: SessionAction[] };

/** One call on one of two handles kept open for several calls (exercises the mount's write
 * buffering): handle 0 has the session's flags, handle 1 is opened 'r+' after it. */
type SessionAction = { handle: 0 | 1 } & (
  | { kind: 'write'; offset: number; size: number; dataAt: number }
  | { kind: 'read'; offset: number; size: number }
  | { kind: 'ftruncate'; size: number }
  | { kind: 'fstat' }
  | { kind: 'fsync' }
  | { kind: 'futimes'; atimeMs: number; mtimeMs: number }
);

type Kind = 'file' | 'dir' | 'symlink' | 'other';

interface TreeEntry {
  path: string;
  kind: Kind;
  ino: number;
}

function kindOf(mode: number): Kind {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    default:
      return 'other';
  }
}

/** Every entry below `root` (lstat, not following symlinks), in sorted order. */
async function walk(root: string, rel = ''): Promise<TreeEntry[]> {
  const names = (await fs.readdir(path.join(root, rel))).sort();
  const out: TreeEntry[] = [];
  for (const name of names) {
    const p = rel === '' ? name : `${rel}/${name}`;
    const st = await fs.lstat(path.join(root, p));
    const kind = kindOf(st.mode);
    out.push({ path: p, kind, ino: st.ino });
    if (kind === 'dir') out.push(...(await walk(root, p)));
  }
  return out;
}

/** Draws the next operation; paths come from the model tree as it is now, so the draw is a
 * function of the seed and the steps before. */
class OpGenerator {
  constructor(private readonly prng: Prng) {}

  next(tree: TreeEntry[]): Op {
    const r = this.prng;
    const crowded = tree.length > CROWDED_ENTRIES;
    const kind = r.weighted({
      create: crowded ? 4 : 12,
      write: 14,
      append: 5,
      read: 5,
      truncate: 8,
      rename: 12,
      link: 5,
      unlink: crowded ? 16 : 6,
      mkdir: crowded ? 2 : 7,
      rmdir: crowded ? 10 : 4,
      chmod: 4,
      symlink: 3,
      readlink: 2,
      writeUnlinked: 1,
      session: 6,
    });
    switch (kind) {
      case 'create':
        return { kind, path: r.chance(0.7) ? this.newPath(tree) : this.existing(tree), flags: r.pick(['w', 'wx', 'a'] as const), mode: this.mode() };
      case 'write':
        return { kind, path: this.fileLike(tree), ...this.range(), dataAt: r.below(DATA_POOL_BYTES) };
      case 'append':
        return { kind, path: this.fileLike(tree), size: this.range().size, dataAt: r.below(DATA_POOL_BYTES) };
      case 'read':
        return { kind, path: this.fileLike(tree), offset: this.offset(), size: r.between(0, 2 * MiB) };
      case 'truncate':
        return { kind, path: this.fileLike(tree), size: this.offset() };
      case 'rename':
        return this.rename(tree);
      case 'link':
        return { kind, from: r.chance(0.8) ? this.existing(tree, 'file') : this.existing(tree), to: r.chance(0.8) ? this.newPath(tree) : this.existing(tree) };
      case 'unlink':
        return { kind, path: r.chance(0.85) ? this.existingNonDir(tree) : this.anyPath(tree) };
      case 'mkdir':
        return { kind, path: r.chance(0.8) ? this.newPath(tree) : this.existing(tree), mode: r.pick([0o755, 0o700, 0o777, 0o1777, 0o2755, 0o555]) };
      case 'rmdir':
        return { kind, path: r.chance(0.85) ? this.existing(tree, 'dir') : this.anyPath(tree) };
      case 'chmod':
        return { kind, path: this.existing(tree), mode: this.mode() };
      case 'symlink':
        return { kind, target: this.symlinkTarget(), path: r.chance(0.85) ? this.newPath(tree) : this.existing(tree) };
      case 'readlink':
        return { kind, path: r.chance(0.7) ? this.existing(tree, 'symlink') : this.existing(tree) };
      case 'writeUnlinked':
        return { kind, path: this.existing(tree, 'file'), ...this.range(), dataAt: r.below(DATA_POOL_BYTES) };
      case 'session':
        return { kind, path: this.fileLike(tree), flags: r.pick(['r+', 'r+', 'r+', 'a', 'w+'] as const), actions: this.sessionActions() };
    }
  }

  /** Writes that continue, overlap or jump back, mixed with reads, truncates, stats, syncs and
   * explicit times, on two handles. */
  private sessionActions(): SessionAction[] {
    const r = this.prng;
    const actions: SessionAction[] = [];
    let position = this.offset();
    for (let i = r.between(2, 8); i > 0; i--) {
      const handle = r.chance(0.75) ? 0 : 1;
      const what = r.below(21);
      if (what < 12) {
        const { offset, size } = this.range();
        const next = r.below(3);
        // Sequential (continuing the last write), overlapping it, or anywhere.
        const at = next === 0 ? position : next === 1 ? Math.max(0, position - r.between(1, 64 * 1024)) : offset;
        const small = Math.min(size, 512 * 1024);
        actions.push({ handle, kind: 'write', offset: at, size: small, dataAt: r.below(DATA_POOL_BYTES) });
        position = at + small;
      } else if (what < 15) {
        const offset = r.chance(0.5) ? Math.max(0, position - 4096) : this.offset();
        actions.push({ handle, kind: 'read', offset, size: r.between(0, 256 * 1024) });
      } else if (what < 17) actions.push({ handle, kind: 'ftruncate', size: this.offset() });
      else if (what < 18) actions.push({ handle, kind: 'fstat' });
      else if (what < 19) actions.push({ handle, kind: 'fsync' });
      else actions.push({ handle, kind: 'futimes', atimeMs: r.between(-1e12, 2e12), mtimeMs: r.between(-1e12, 2e12) });
    }
    return actions;
  }

  private rename(tree: TreeEntry[]): Op {
    const r = this.prng;
    const from = r.chance(0.9) ? this.existing(tree) : this.anyPath(tree);
    const fromKind = tree.find((e) => e.path === from)?.kind;
    let to: string;
    const choice = r.below(100);
    if (fromKind === 'dir' && choice < 15) {
      // Into its own subtree: EINVAL (or the same directory: a no-op).
      const below = tree.filter((e) => e.kind === 'dir' && (e.path === from || e.path.startsWith(`${from}/`)));
      to = `${r.pick(below).path}/${r.pick(NAMES)}`;
    } else if (choice < 50) {
      to = this.newPath(tree);
    } else if (choice < 85 && fromKind !== undefined) {
      to = this.existing(tree, fromKind);
    } else {
      to = this.existing(tree);
    }
    return { kind: 'rename', from, to };
  }

  private mode(): number {
    return this.prng.chance(0.1) ? this.prng.pick([0o4755, 0o2644, 0o1755, 0o000]) : this.prng.pick([0o644, 0o600, 0o755, 0o444, 0o640, 0o777]);
  }

  /** An offset or size below MAX_END_BYTES, often at or near a block boundary. */
  private offset(): number {
    const r = this.prng;
    switch (r.below(4)) {
      case 0:
        return r.between(0, 64 * 1024);
      case 1:
        return r.between(1, 3) * BLOCK_BYTES + r.between(-4096, 4096);
      case 2:
        return r.between(1, 3) * BLOCK_BYTES;
      default:
        return r.between(0, MAX_END_BYTES - 1);
    }
  }

  /** A write: sizes from 0 to MAX_WRITE_BYTES, some crossing a block boundary, some past EOF
   * (the offset is drawn independently of the file's size). */
  private range(): { offset: number; size: number } {
    const r = this.prng;
    const sizeClass = r.below(20);
    let size: number;
    if (sizeClass < 2) size = 0;
    else if (sizeClass < 10) size = r.between(1, 8192);
    else if (sizeClass < 14) size = r.between(8192, 256 * 1024);
    else if (sizeClass < 18) {
      // Straddles the boundary between two blocks.
      const boundary = r.between(1, 3) * BLOCK_BYTES;
      const before = r.between(1, 128 * 1024);
      return { offset: boundary - before, size: before + r.between(1, 128 * 1024) };
    } else size = r.between(BLOCK_BYTES / 2, MAX_WRITE_BYTES);
    return { offset: Math.min(this.offset(), MAX_END_BYTES - size), size };
  }

  private symlinkTarget(): string {
    const r = this.prng;
    const parts = Array.from({ length: r.between(1, 2) }, () => r.pick(NAMES));
    if (r.chance(0.05)) return '.';
    if (r.chance(0.05)) return 'x'.repeat(r.between(200, 1000));
    return parts.join('/');
  }

  private existing(tree: TreeEntry[], kind?: Kind): string {
    const candidates = kind === undefined ? tree : tree.filter((e) => e.kind === kind);
    return candidates.length > 0 && this.prng.chance(0.9) ? this.prng.pick(candidates).path : this.anyPath(tree);
  }

  private existingNonDir(tree: TreeEntry[]): string {
    const candidates = tree.filter((e) => e.kind !== 'dir');
    return candidates.length > 0 ? this.prng.pick(candidates).path : this.anyPath(tree);
  }

  /** A regular file mostly; sometimes a symlink (followed) or anything. */
  private fileLike(tree: TreeEntry[]): string {
    const r = this.prng.below(10);
    if (r < 8) return this.existing(tree, 'file');
    if (r < 9) return this.existing(tree, 'symlink');
    return this.anyPath(tree);
  }

  private anyPath(tree: TreeEntry[]): string {
    return this.prng.chance(0.5) && tree.length > 0 ? this.prng.pick(tree).path : this.newPath(tree);
  }

  /** A name in an existing directory (usually free); now and then under a file (ENOTDIR), under
   * a missing directory (ENOENT) or too long (ENAMETOOLONG). */
  private newPath(tree: TreeEntry[]): string {
    const r = this.prng;
    const dirs = ['', ...tree.filter((e) => e.kind === 'dir').map((e) => e.path)];
    let parent = r.pick(dirs);
    const odd = r.below(100);
    const files = tree.filter((e) => e.kind === 'file');
    if (odd < 3 && files.length > 0) parent = r.pick(files).path;
    else if (odd < 6) parent = parent === '' ? 'missing' : `${parent}/missing`;
    const name = odd >= 6 && odd < 8 ? LONG_NAME : r.pick(NAMES);
    return parent === '' ? name : `${parent}/${name}`;
  }
}

// ---------------------------------------------------------------- applying and comparing

/** What one operation did: 'ok', 'ok <value>' or the errno code. */
type Outcome = string;

async function outcomeOf(run: () => Promise<string | void>): Promise<Outcome> {
  try {
    const value = await run();
    return value === undefined ? 'ok' : `ok ${value}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw err;
    return code;
  }
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Opens, runs `body`, closes; an error of close (a failed write-back) counts as the outcome. */
async function withHandle(file: string, flags: string, body: (fh: fs.FileHandle) => Promise<string | void>): Promise<string | void> {
  const fh = await fs.open(file, flags);
  let result: string | void;
  try {
    result = await body(fh);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
  await fh.close();
  return result;
}

async function apply(root: string, op: Op, pool: Buffer): Promise<Outcome> {
  const at = (p: string): string => path.join(root, p);
  const data = (dataAt: number, size: number): Buffer => {
    const start = Math.min(dataAt, DATA_POOL_BYTES - size);
    return pool.subarray(start, start + size);
  };
  switch (op.kind) {
    case 'create':
      return outcomeOf(() => withHandle(at(op.path), op.flags, async () => undefined));
    case 'write':
      return outcomeOf(() =>
        withHandle(at(op.path), 'r+', async (fh) => String((await fh.write(data(op.dataAt, op.size), 0, op.size, op.offset)).bytesWritten)),
      );
    case 'append':
      return outcomeOf(() => withHandle(at(op.path), 'a', async (fh) => String((await fh.write(data(op.dataAt, op.size))).bytesWritten)));
    case 'read':
      return outcomeOf(() =>
        withHandle(at(op.path), 'r', async (fh) => {
          const buffer = Buffer.alloc(op.size);
          const { bytesRead } = await fh.read(buffer, 0, op.size, op.offset);
          return `${bytesRead} ${sha256(buffer.subarray(0, bytesRead))}`;
        }),
      );
    case 'truncate':
      return outcomeOf(() => fs.truncate(at(op.path), op.size));
    case 'rename':
      return outcomeOf(() => fs.rename(at(op.from), at(op.to)));
    case 'link':
      return outcomeOf(() => fs.link(at(op.from), at(op.to)));
    case 'unlink':
      return outcomeOf(() => fs.unlink(at(op.path)));
    case 'mkdir':
      return outcomeOf(() => fs.mkdir(at(op.path), { mode: op.mode }));
    case 'rmdir':
      return outcomeOf(() => fs.rmdir(at(op.path)));
    case 'chmod':
      return outcomeOf(() => fs.chmod(at(op.path), op.mode));
    case 'symlink':
      return outcomeOf(() => fs.symlink(op.target, at(op.path)));
    case 'readlink':
      return outcomeOf(() => fs.readlink(at(op.path)));
    case 'writeUnlinked':
      // The last name goes while the file is open: the handle must still read and write it.
      return outcomeOf(() =>
        withHandle(at(op.path), 'r+', async (fh) => {
          await fs.unlink(at(op.path));
          const { bytesWritten } = await fh.write(data(op.dataAt, op.size), 0, op.size, op.offset);
          const st = await fh.stat();
          const contents = await readAll(fh, st.size);
          return `${bytesWritten} size=${st.size} nlink=${st.nlink} ${sha256(contents)}`;
        }),
      );
    case 'session':
      return outcomeOf(async () => {
        const results: string[] = [];
        let timesSetLast = false;
        await withHandle(at(op.path), op.flags, (first) =>
          withHandle(at(op.path), 'r+', async (second) => {
            for (const action of op.actions) {
              results.push(await sessionAction(action.handle === 0 ? first : second, action, data));
              if (action.kind === 'futimes') timesSetLast = true;
              if (action.kind === 'write' || action.kind === 'ftruncate') timesSetLast = false;
            }
          }),
        );
        // Times set after the last write must survive the close that commits the writes.
        if (timesSetLast) results.push(`mtime after close=${(await fs.stat(at(op.path), { bigint: true })).mtimeNs}`);
        return results.join(' | ');
      });
  }
}

async function sessionAction(fh: fs.FileHandle, action: SessionAction, data: (dataAt: number, size: number) => Buffer): Promise<string> {
  switch (action.kind) {
    case 'write':
      return `wrote ${(await fh.write(data(action.dataAt, action.size), 0, action.size, action.offset)).bytesWritten}`;
    case 'read': {
      const buffer = Buffer.alloc(action.size);
      const { bytesRead } = await fh.read(buffer, 0, action.size, action.offset);
      return `read ${bytesRead} ${sha256(buffer.subarray(0, bytesRead)).slice(0, 16)}`;
    }
    case 'ftruncate':
      await fh.truncate(action.size);
      return 'truncated';
    case 'fstat': {
      const st = await fh.stat();
      return `size=${st.size} nlink=${st.nlink}`;
    }
    case 'fsync':
      await fh.sync();
      return 'synced';
    case 'futimes': {
      // Dates, since Node reads a negative number of seconds as "now".
      await fh.utimes(new Date(action.atimeMs), new Date(action.mtimeMs));
      const st = await fh.stat({ bigint: true });
      return `times=${st.atimeNs},${st.mtimeNs}`;
    }
  }
}

async function readAll(fh: fs.FileHandle, size: number): Promise<Buffer> {
  const out = Buffer.alloc(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await fh.read(out, done, size - done, done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return out.subarray(0, done);
}

/** Type, permissions, owner, size (not of directories: their size is the file system's own),
 * link count, symlink target and content hash of one path, or the errno of lstat. `hashes`
 * keeps the content hash by inode for one comparison, so hard links are read once. */
async function describePath(root: string, rel: string, hashes: Map<number, string>): Promise<string> {
  const full = path.join(root, rel);
  let st;
  try {
    st = await fs.lstat(full);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
  const kind = kindOf(st.mode);
  const parts = [kind, `mode=${(st.mode & 0o7777).toString(8)}`, `nlink=${st.nlink}`, `uid=${st.uid}`, `gid=${st.gid}`];
  if (kind !== 'dir') parts.push(`size=${st.size}`);
  if (kind === 'symlink') parts.push(`target=${await fs.readlink(full)}`);
  if (kind === 'file') {
    const hash = hashes.get(st.ino) ?? sha256(await fs.readFile(full));
    hashes.set(st.ino, hash);
    parts.push(`sha256=${hash}`);
  }
  return parts.join(' ');
}

/** The paths an operation names, their parent directories (link counts, permissions) and
 * every other name of the same inodes (hard links). */
function touchedPaths(op: Op, tree: TreeEntry[]): string[] {
  const named = op.kind === 'rename' || op.kind === 'link' ? [op.from, op.to] : [op.path];
  const parents = named.map((p) => path.posix.dirname(p)).filter((p) => p !== '.');
  const inos = new Set(tree.filter((e) => named.includes(e.path) && e.kind === 'file').map((e) => e.ino));
  const linked = tree.filter((e) => inos.has(e.ino)).map((e) => e.path);
  return [...new Set([...named, ...parents, ...linked])].sort();
}

/** The whole tree: every path's description, and which paths share an inode. */
async function describeTree(root: string): Promise<string> {
  const tree = await walk(root);
  const hashes = new Map<number, string>();
  const lines: string[] = [];
  const firstNameOfIno = new Map<number, string>();
  for (const e of tree) {
    const first = firstNameOfIno.get(e.ino);
    if (first === undefined) firstNameOfIno.set(e.ino, e.path);
    lines.push(`${e.path}: ${await describePath(root, e.path, hashes)}${first === undefined ? '' : ` (same inode as ${first})`}`);
  }
  return lines.join('\n');
}

function describeOp(op: Op): string {
  return JSON.stringify(op, (key, value: unknown) => (typeof value === 'string' && value.length > 40 && key !== '' ? `${value.slice(0, 12)}…(${value.length})` : value));
}

// ---------------------------------------------------------------- the test

describe('the mount behaves as a local file system under random operations', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let mount: Mount;
  let modelRoot = '';

  before(async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3 });
    mount = await startMount(cluster.mediatorPort);
    modelRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'qfs-model-'));
  });

  after(async () => {
    await mount?.stop();
    await cluster?.stop();
    if (modelRoot !== '') await fs.rm(modelRoot, { recursive: true, force: true });
  });

  it(`${STEPS} seeded operations (QFS_SEED=${SEED}) agree with the model`, async () => {
    const prng = new Prng(SEED);
    const pool = dataPool(SEED);
    const generator = new OpGenerator(prng);
    const started = Date.now();
    const tally = new Map<string, number>();
    for (let step = 1; step <= STEPS; step++) {
      const treeBefore = await walk(modelRoot);
      const op = generator.next(treeBefore);
      const where = `QFS_SEED=${SEED} step ${step} op ${describeOp(op)}`;
      const expected = await apply(modelRoot, op, pool);
      const actual = await apply(mount.dir, op, pool);
      assert.equal(actual, expected, `${where}: outcome differs (mount vs model)`);
      const key = `${op.kind} ${expected.startsWith('ok') ? 'ok' : expected}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
      const treeAfter = await walk(modelRoot);
      const [modelHashes, mountHashes] = [new Map<number, string>(), new Map<number, string>()];
      for (const rel of touchedPaths(op, [...treeBefore, ...treeAfter])) {
        const want = await describePath(modelRoot, rel, modelHashes);
        const got = await describePath(mount.dir, rel, mountHashes);
        assert.equal(got, want, `${where}: ${rel} differs (mount vs model)`);
      }
      if (step % FULL_CHECK_EVERY_STEPS === 0 || step === STEPS) {
        assert.equal(await describeTree(mount.dir), await describeTree(modelRoot), `${where}: whole tree differs after step ${step}`);
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const summary = [...tally].sort().map(([key, n]) => `${key}: ${n}`).join(', ');
    process.stderr.write(`mount-model: QFS_SEED=${SEED}, ${STEPS} steps in ${seconds.toFixed(1)} s; outcomes: ${summary}\n`);
  });
});
