// Property test: random sequences of namespace operations (create, mkdir, unlink, rmdir, link,
// rename with its flags) run against SqliteMetaStore and against a model of paths → (kind, file
// identity). After every step the error codes agree, the trees agree, link counts are right and
// no inode leaks. Seeded (QFS_SEED overrides 42), so a failure replays exactly.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { codeOf, type ErrorCode } from '../../src/common/errors.js';
import { ROOT_INO, S_IFDIR, S_IFMT, S_IFREG, type Caller } from '../../src/common/types.js';
import { SqliteMetaStore } from '../../src/stores/sqlite-meta-store.js';

const seed = process.env.QFS_SEED === undefined ? 42 : Number(process.env.QFS_SEED);
const caller: Caller = { uid: 1, gid: 1 };
const NAMES = ['a', 'b', 'c'] as const;

type Kind = 'file' | 'dir';
interface Node {
  kind: Kind;
  /** Identity of the inode: hard links share it. */
  id: number;
}
type Tree = Map<string, Node>;

/** Where an op points: an existing path (most of the time) or a name in an existing directory. */
interface Where {
  existing: boolean;
  pick: number;
  dir: number;
  name: string;
}
type Op =
  | { op: 'create' | 'mkdir' | 'unlink' | 'rmdir'; at: Where }
  | { op: 'link'; src: number; at: Where }
  | { op: 'rename'; from: Where; to: Where; flags: 0 | 1 | 2 };

/** An op with its paths resolved against the model before it runs. */
type Resolved =
  | { op: 'create' | 'mkdir' | 'unlink' | 'rmdir'; dir: string; name: string }
  | { op: 'link'; src: string; dir: string; name: string }
  | { op: 'rename'; dir: string; name: string; dir2: string; name2: string; flags: 0 | 1 | 2 };

const pick = fc.nat({ max: 50 });
const where = (existingWeight: number): fc.Arbitrary<Where> =>
  fc.record({
    existing: fc.nat({ max: 3 }).map((n) => n < existingWeight),
    pick,
    dir: pick,
    name: fc.constantFrom(...NAMES),
  });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom('create' as const, 'mkdir' as const), at: where(1) }),
  fc.record({ op: fc.constantFrom('unlink' as const, 'rmdir' as const), at: where(3) }),
  fc.record({ op: fc.constant('link' as const), src: pick, at: where(1) }),
  fc.record({
    op: fc.constant('rename' as const),
    from: where(3),
    to: where(2),
    flags: fc.constantFrom(0 as const, 0 as const, 1 as const, 2 as const),
  }),
);

function join(dir: string, child: string): string {
  return dir === '/' ? `/${child}` : `${dir}/${child}`;
}

function parentPath(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

function within(path: string, top: string): boolean {
  return path === top || path.startsWith(`${top}/`);
}

function hasChildren(tree: Tree, dir: string): boolean {
  return [...tree.keys()].some((p) => p !== dir && within(p, dir));
}

/** Moves every path under `from` to under `to` (in a copy, so a swap can move two subtrees). */
function moveSubtree(source: Tree, target: Tree, from: string, to: string): void {
  for (const [path, node] of source) if (within(path, from)) target.set(to + path.slice(from.length), node);
}

function removeSubtree(tree: Tree, top: string): void {
  for (const path of [...tree.keys()]) if (within(path, top)) tree.delete(path);
}

/** The model of rename: the same error order as Linux renameat2. */
function modelRename(tree: Tree, d1: string, n1: string, d2: string, n2: string, flags: number): ErrorCode | null {
  const s = join(d1, n1);
  const t = join(d2, n2);
  const src = tree.get(s);
  const dst = tree.get(t);
  if (src === undefined) return 'NOT_FOUND';
  if (dst !== undefined && flags === 1) return 'EXISTS';
  if (dst === undefined && flags === 2) return 'NOT_FOUND';
  if (src.kind === 'dir' && within(d2, s)) return 'INVALID';
  if (dst?.kind === 'dir' && within(d1, t)) return flags === 2 ? 'INVALID' : 'NOT_EMPTY';
  if (dst !== undefined && dst.id === src.id) return null;
  const before = new Map(tree);
  if (flags === 2) {
    removeSubtree(tree, s);
    removeSubtree(tree, t);
    moveSubtree(before, tree, s, t);
    moveSubtree(before, tree, t, s);
    return null;
  }
  if (dst !== undefined) {
    if (src.kind === 'dir' && dst.kind !== 'dir') return 'NOT_DIR';
    if (src.kind !== 'dir' && dst.kind === 'dir') return 'IS_DIR';
    if (dst.kind === 'dir' && hasChildren(tree, t)) return 'NOT_EMPTY';
    tree.delete(t);
  }
  removeSubtree(tree, s);
  moveSubtree(before, tree, s, t);
  return null;
}

function place(at: Where, dirs: string[], all: string[]): { dir: string; name: string } {
  const path = all[at.pick % Math.max(all.length, 1)];
  if (at.existing && path !== undefined) return { dir: parentPath(path), name: path.slice(path.lastIndexOf('/') + 1) };
  return { dir: dirs[at.dir % dirs.length] ?? '/', name: at.name };
}

function resolveOp(op: Op, tree: Tree): Resolved | undefined {
  const dirs = [...tree].filter(([, n]) => n.kind === 'dir').map(([p]) => p).sort();
  const all = [...tree.keys()].filter((p) => p !== '/').sort();
  switch (op.op) {
    case 'link': {
      const src = all[op.src % Math.max(all.length, 1)];
      return src === undefined ? undefined : { op: 'link', src, ...place(op.at, dirs, all) };
    }
    case 'rename': {
      const to = place(op.to, dirs, all);
      return { op: 'rename', ...place(op.from, dirs, all), dir2: to.dir, name2: to.name, flags: op.flags };
    }
    default:
      return { op: op.op, ...place(op.at, dirs, all) };
  }
}

/** Applies one op to the model; returns the error code the store must give, or null. */
function modelApply(tree: Tree, op: Resolved, newId: () => number): ErrorCode | null {
  const path = join(op.dir, op.name);
  const node = tree.get(path);
  switch (op.op) {
    case 'create':
    case 'mkdir':
      if (node !== undefined) return 'EXISTS';
      tree.set(path, { kind: op.op === 'create' ? 'file' : 'dir', id: newId() });
      return null;
    case 'unlink':
      if (node === undefined) return 'NOT_FOUND';
      if (node.kind === 'dir') return 'IS_DIR';
      tree.delete(path);
      return null;
    case 'rmdir':
      if (node === undefined) return 'NOT_FOUND';
      if (node.kind !== 'dir') return 'NOT_DIR';
      if (hasChildren(tree, path)) return 'NOT_EMPTY';
      tree.delete(path);
      return null;
    case 'link': {
      const src = tree.get(op.src);
      if (src === undefined) throw new Error('model: link source vanished');
      if (node !== undefined) return 'EXISTS';
      if (src.kind === 'dir') return 'PERMISSION';
      tree.set(path, src);
      return null;
    }
    case 'rename':
      return modelRename(tree, op.dir, op.name, op.dir2, op.name2, op.flags);
  }
}

function storeApply(store: SqliteMetaStore, op: Resolved, inoOf: Map<string, number>): ErrorCode | null {
  const ino = (path: string): number => inoOf.get(path) ?? -1;
  const dir = ino(op.dir);
  try {
    switch (op.op) {
      case 'create':
        store.create({ parent: dir, name: op.name, mode: S_IFREG | 0o644, caller, exclusive: true });
        break;
      case 'mkdir':
        store.mkdir(dir, op.name, 0o755, caller);
        break;
      case 'unlink':
        store.unlink(dir, op.name);
        break;
      case 'rmdir':
        store.rmdir(dir, op.name);
        break;
      case 'link':
        store.link(ino(op.src), dir, op.name);
        break;
      case 'rename':
        store.rename(dir, op.name, ino(op.dir2), op.name2, op.flags);
        break;
    }
    return null;
  } catch (err) {
    return codeOf(err);
  }
}

interface Seen {
  kind: Kind;
  ino: number;
  nlink: number;
}

/** The store's whole tree by path, checking '..' on the way down. */
function walk(store: SqliteMetaStore): Map<string, Seen> {
  const seen = new Map<string, Seen>([['/', { kind: 'dir', ino: ROOT_INO, nlink: store.getattr(ROOT_INO).nlink }]]);
  const visit = (path: string, ino: number, parentIno: number): void => {
    const entries = store.readdir(ino, 0, 1000);
    assert.equal(entries[1]?.ino, parentIno, `'..' of ${path}`);
    for (const entry of entries.slice(2)) {
      const attr = store.getattr(entry.ino);
      const kind: Kind = (attr.mode & S_IFMT) === S_IFDIR ? 'dir' : 'file';
      const child = join(path, entry.name);
      seen.set(child, { kind, ino: attr.ino, nlink: attr.nlink });
      if (kind === 'dir') visit(child, attr.ino, ino);
    }
  };
  visit('/', ROOT_INO, ROOT_INO);
  return seen;
}

function expectedNlink(tree: Tree, path: string, node: Node): number {
  if (node.kind === 'file') return [...tree.values()].filter((n) => n.id === node.id).length;
  return 2 + [...tree.entries()].filter(([p, n]) => n.kind === 'dir' && p !== '/' && parentPath(p) === path).length;
}

function compare(store: SqliteMetaStore, tree: Tree): Map<string, number> {
  const seen = walk(store);
  assert.deepEqual([...seen.keys()].sort(), [...tree.keys()].sort(), 'same paths');
  const inoOfId = new Map<number, number>();
  for (const [path, node] of tree) {
    const got = seen.get(path);
    assert.ok(got);
    assert.equal(got.kind, node.kind, `kind of ${path}`);
    assert.equal(got.nlink, expectedNlink(tree, path, node), `nlink of ${path}`);
    const known = inoOfId.get(node.id);
    if (known !== undefined) assert.equal(got.ino, known, `${path} is a link of the same inode`);
    inoOfId.set(node.id, got.ino);
  }
  assert.equal(new Set(inoOfId.values()).size, inoOfId.size, 'distinct files have distinct inodes');
  assert.equal(store.counts().inodes, inoOfId.size, 'no inode leaks');
  return new Map([...seen].map(([path, s]) => [path, s.ino]));
}

it('namespace operations agree with a path model', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' }), (ops) => {
      const store = SqliteMetaStore.open(':memory:');
      try {
        const tree: Tree = new Map([['/', { kind: 'dir', id: 0 }]]);
        let nextId = 1;
        let inoOf = compare(store, tree);
        for (const op of ops) {
          const resolved = resolveOp(op, tree);
          if (resolved === undefined) continue;
          const got = storeApply(store, resolved, inoOf);
          const want = modelApply(tree, resolved, () => nextId++);
          assert.equal(got, want, JSON.stringify(resolved));
          inoOf = compare(store, tree);
        }
      } finally {
        store.close();
      }
    }),
    { seed, numRuns: 150 },
  );
});
