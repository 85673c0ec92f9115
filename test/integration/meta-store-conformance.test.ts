// Conformance of the metadata engines: one suite, every method and error code of the MetaStore
// contract (SqliteMetaStore's semantics are the spec), run against SQLite (in memory, behind
// asyncMetaStore) and against EtcdMetaStore on a real etcd member (one for the file, a fresh key
// prefix per test). Then what only a store on a network must show: writers racing from two store
// instances, fencing by an election key, and sizes past etcd's per-request limits.

import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { checksumOf } from '../../src/common/checksum.js';
import { QfsError, type ErrorCode } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import {
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  ROOT_INO,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type BlockRef,
  type Caller,
  type Timespec,
} from '../../src/common/types.js';
import { EtcdMetaStore } from '../../src/stores/etcd-meta-store.js';
import { asyncMetaStore, type AsyncMetaStore } from '../../src/stores/meta-store.js';
import { SqliteMetaStore } from '../../src/stores/sqlite-meta-store.js';
import { freePorts } from '../helpers/cluster.js';
import { EtcdMember } from '../helpers/etcd.js';

const BLOCK = limits.blockSizeBytes;
const alice: Caller = { uid: 1000, gid: 100 };

interface OpenOptions {
  clock?: () => Timespec;
  requireFence?: boolean;
  /** etcd: the prefix of another store, to open a second instance on the same keys. */
  prefix?: string;
}

interface Engine {
  name: string;
  open(options: OpenOptions): Promise<AsyncMetaStore>;
}

let etcd: EtcdMember | undefined;
let prefixes = 0;
const opened: AsyncMetaStore[] = [];

/** The etcd member's data in memory (/dev/shm when there is one): these tests make tens of
 * thousands of commits, and each is an fsync. The helper removes the directory when it stops. */
before(async () => {
  const [clientPort, peerPort] = await freePorts(2);
  const spec = { name: 'conformance', host: '127.0.0.1', clientPort: clientPort!, peerPort: peerPort! };
  const dir = await mkdtemp('/dev/shm/qfs-etcd-conformance-').catch(() => undefined);
  etcd = await EtcdMember.start(spec, [spec], dir);
});
after(async () => {
  await etcd?.stop();
});
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

const ENGINES: Engine[] = [
  {
    name: 'sqlite',
    open: async (o) => {
      const store = asyncMetaStore(SqliteMetaStore.open(':memory:', o.clock === undefined ? {} : { clock: o.clock }));
      opened.push(store);
      return store;
    },
  },
  {
    name: 'etcd',
    open: async (o) => {
      const store = await EtcdMetaStore.connect({
        endpoints: [etcd!.clientUrl],
        prefix: o.prefix ?? `/conformance/${process.pid}/${++prefixes}/`,
        ...(o.clock === undefined ? {} : { clock: o.clock }),
        requireFence: o.requireFence === true,
      });
      opened.push(store);
      return store;
    },
  },
];

async function expectCode(fn: () => Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(
    async () => fn(),
    (err: unknown) => {
      assert.ok(err instanceof QfsError, `expected a QfsError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      return true;
    },
  );
}

function block(index: number, version: number, lengthBytes = BLOCK): BlockRef {
  return { index, version, checksum: checksumOf(new Uint8Array([index & 0xff, (index >> 8) & 0xff, version & 0xff, (version >> 8) & 0xff])), lengthBytes };
}

function file(store: AsyncMetaStore, parent: number, name: string, mode = 0o644) {
  return store.create({ parent, name, mode: S_IFREG | mode, caller: alice, exclusive: true });
}

for (const engine of ENGINES) {
  describe(engine.name, () => conformance(engine));
}

function conformance(engine: Engine): void {
/** A store whose clock advances one second per reading, so every change has its own time. */
async function memoryStore(): Promise<{ store: AsyncMetaStore; lastTime: () => Timespec }> {
  let sec = 1_000;
  const clock = (): Timespec => ({ sec: ++sec, nsec: 500 });
  return { store: await engine.open({ clock }), lastTime: () => ({ sec, nsec: 500 }) };
}

describe('open', () => {
  it('creates the root directory', async () => {
    const { store } = await memoryStore();
    const root = await store.getattr(ROOT_INO);
    assert.equal(root.mode, S_IFDIR | 0o755);
    assert.deepEqual([root.uid, root.gid, root.nlink], [0, 0, 2]);
    assert.deepEqual(
      (await store.readdir(ROOT_INO, 0, 10)).map((e) => [e.name, e.ino, e.cookie]),
      [['.', 1, 1], ['..', 1, 2]],
    );
    assert.equal((await store.lookup(ROOT_INO, '..')).ino, ROOT_INO);
    assert.deepEqual(await store.takeStartupOrphans(), []);
  });

  it('refuses a bad clock reading and bad inode numbers before changing anything', async () => {
    let bad = false;
    const store = await engine.open({ clock: () => (bad ? { sec: 1, nsec: 1e9 } : { sec: 1, nsec: 0 }) });
    bad = true;
    await expectCode(() => store.mkdir(ROOT_INO, 'd', 0o755, alice), 'INVALID');
    assert.equal((await store.counts()).inodes, 1);
    await expectCode(() => store.getattr(1.5), 'INVALID');
    await expectCode(() => store.getattr(-1), 'INVALID');
  });

  it('marks a read access as relatime does: only when atime is not after mtime or ctime, or a day old; ctime kept', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f'); // atime = mtime = ctime: due
    assert.equal(await store.markAccess(f.ino, { sec: f.ctime.sec + 5, nsec: 0 }), true);
    const marked = await store.getattr(f.ino);
    assert.deepEqual(marked.atime, { sec: f.ctime.sec + 5, nsec: 0 });
    assert.deepEqual(marked.ctime, f.ctime, 'ctime kept');
    assert.equal(await store.markAccess(f.ino, { sec: f.ctime.sec + 60, nsec: 0 }), false, 'atime after mtime and ctime, less than a day old');
    assert.equal(await store.markAccess(f.ino, { sec: f.ctime.sec + 5 + 86_400, nsec: 0 }), true, 'a day later');
    await expectCode(() => store.markAccess(999_999, { sec: 1, nsec: 0 }), 'NOT_FOUND');
  });
});

describe('names', () => {
  it('rejects malformed and over-long names', async () => {
    const { store } = await memoryStore();
    await expectCode(() => file(store, ROOT_INO, ''), 'INVALID');
    await expectCode(() => file(store, ROOT_INO, 'a/b'), 'INVALID');
    await expectCode(() => file(store, ROOT_INO, 'a\0b'), 'INVALID');
    await expectCode(() => file(store, ROOT_INO, 'é'.repeat(128)), 'NAME_TOO_LONG'); // 256 bytes
    assert.equal((await file(store, ROOT_INO, 'é'.repeat(127) + 'x')).nlink, 1); // 255 bytes
    await expectCode(() => store.lookup(ROOT_INO, 'x'.repeat(256)), 'NAME_TOO_LONG');
  });

  it("treats '.' and '..' as existing names", async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    for (const name of ['.', '..']) {
      await expectCode(() => file(store, ROOT_INO, name), 'EXISTS');
      await expectCode(() => store.mkdir(ROOT_INO, name, 0o755, alice), 'EXISTS');
      await expectCode(() => store.symlink(ROOT_INO, name, 't', alice), 'EXISTS');
      await expectCode(() => store.link(f.ino, ROOT_INO, name), 'EXISTS');
    }
  });

  it('checks the parent: NOT_FOUND and NOT_DIR', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await expectCode(() => file(store, 999, 'x'), 'NOT_FOUND');
    await expectCode(() => file(store, f.ino, 'x'), 'NOT_DIR');
    await expectCode(() => store.mkdir(f.ino, 'x', 0o755, alice), 'NOT_DIR');
    await expectCode(() => store.lookup(f.ino, 'x'), 'NOT_DIR');
    await expectCode(() => store.lookup(ROOT_INO, 'missing'), 'NOT_FOUND');
    await expectCode(() => store.getattr(999), 'NOT_FOUND');
  });
});

describe('create, mkdir, symlink', () => {
  it('creates a file owned by the caller and touches the parent', async () => {
    const { store, lastTime } = await memoryStore();
    const before = await store.getattr(ROOT_INO);
    const f = await file(store, ROOT_INO, 'f', 0o640);
    const now = lastTime();
    assert.equal(f.mode, S_IFREG | 0o640);
    assert.deepEqual([f.uid, f.gid, f.nlink, f.size], [1000, 100, 1, 0]);
    assert.deepEqual([f.atime, f.mtime, f.ctime], [now, now, now]);
    const root = await store.getattr(ROOT_INO);
    assert.deepEqual([root.mtime, root.ctime, root.nlink], [now, now, 2]);
    assert.ok(root.generation > before.generation);
    assert.deepEqual(await store.lookup(ROOT_INO, 'f'), f);
  });

  it('allocates inode numbers that only grow', async () => {
    const { store } = await memoryStore();
    const a = await file(store, ROOT_INO, 'a');
    await store.unlink(ROOT_INO, 'a');
    const b = await file(store, ROOT_INO, 'b');
    assert.ok(b.ino > a.ino);
  });

  it('exclusive create fails on an existing name; otherwise returns the file', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    await expectCode(() => file(store, ROOT_INO, 'f'), 'EXISTS');
    const again = await store.create({ parent: ROOT_INO, name: 'f', mode: S_IFREG | 0o600, caller: alice, exclusive: false });
    assert.deepEqual(again, f);
    const reopen = (name: string) => () => store.create({ parent: ROOT_INO, name, mode: S_IFREG, caller: alice, exclusive: false });
    await expectCode(reopen('d'), 'IS_DIR');
  });

  it('makes special files and refuses directory or symlink types', async () => {
    const { store } = await memoryStore();
    const fifo = await store.create({ parent: ROOT_INO, name: 'p', mode: S_IFIFO | 0o600, caller: alice, exclusive: true });
    assert.equal(fifo.mode & S_IFMT, S_IFIFO);
    const make = (name: string, mode: number, rdev?: number) =>
      store.create({ parent: ROOT_INO, name, mode, rdev, caller: alice, exclusive: true });
    assert.equal((await make('c', S_IFCHR | 0o600, 0x0103)).rdev, 0x0103);
    assert.equal((await make('r', 0o600)).mode, S_IFREG | 0o600);
    await expectCode(() => make('x', S_IFDIR | 0o755), 'INVALID');
    await expectCode(() => make('x', S_IFLNK | 0o777), 'INVALID');
  });

  it('mkdir counts links: 2 for the new directory, +1 for the parent', async () => {
    const { store } = await memoryStore();
    const d = await store.mkdir(ROOT_INO, 'd', 0o4755, alice);
    assert.equal(d.mode, S_IFDIR | 0o755, 'setuid is not kept by mkdir');
    assert.equal(d.nlink, 2);
    assert.equal((await store.getattr(ROOT_INO)).nlink, 3);
    await store.mkdir(d.ino, 'e', 0o700, alice);
    assert.equal((await store.getattr(d.ino)).nlink, 3);
    assert.equal((await store.lookup(d.ino, '..')).ino, ROOT_INO);
    assert.equal((await store.lookup(d.ino, '.')).ino, d.ino);
  });

  it('a setgid directory passes on its gid, and its setgid bit to subdirectories', async () => {
    const { store } = await memoryStore();
    const d = await store.mkdir(ROOT_INO, 'shared', 0o775, alice);
    await store.setattr(d.ino, { mode: 0o2775, gid: 50 }, { sec: 5, nsec: 0 });
    const f = await file(store, d.ino, 'f');
    assert.equal(f.gid, 50);
    assert.equal(f.mode, S_IFREG | 0o644);
    const sub = await store.mkdir(d.ino, 'sub', 0o755, alice);
    assert.equal(sub.gid, 50);
    assert.equal(sub.mode, S_IFDIR | 0o2755);
    const plain = await file(store, ROOT_INO, 'g');
    assert.equal(plain.gid, alice.gid);
  });

  it('symlink stores its target; size is its byte length', async () => {
    const { store } = await memoryStore();
    const target = '../dé/x';
    const l = await store.symlink(ROOT_INO, 'l', target, alice);
    assert.equal(l.mode, S_IFLNK | 0o777);
    assert.equal(l.size, Buffer.byteLength(target));
    assert.equal(await store.readlink(l.ino), target);
    assert.equal((await store.symlink(ROOT_INO, 'long', 'x'.repeat(limits.maxSymlinkBytes), alice)).size, limits.maxSymlinkBytes);
    await expectCode(() => store.symlink(ROOT_INO, 'l2', 'x'.repeat(limits.maxSymlinkBytes + 1), alice), 'NAME_TOO_LONG');
    await expectCode(() => store.symlink(ROOT_INO, 'l3', '', alice), 'NOT_FOUND');
    await expectCode(() => store.symlink(ROOT_INO, 'l', 'y', alice), 'EXISTS');
    const plain = await file(store, ROOT_INO, 'f');
    await expectCode(() => store.readlink(plain.ino), 'INVALID');
    await expectCode(() => store.readlink(999), 'NOT_FOUND');
  });
});

describe('link and unlink', () => {
  it('link adds a name: nlink +1, ctime of the inode, mtime of the parent', async () => {
    const { store, lastTime } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const linked = await store.link(f.ino, d.ino, 'g');
    const now = lastTime();
    assert.equal(linked.nlink, 2);
    assert.deepEqual(linked.ctime, now);
    assert.deepEqual((await store.getattr(d.ino)).mtime, now);
    assert.equal((await store.lookup(d.ino, 'g')).ino, f.ino);
  });

  it('link errors: PERMISSION for directories, EXISTS, NOT_FOUND', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    await expectCode(() => store.link(d.ino, ROOT_INO, 'd2'), 'PERMISSION');
    await expectCode(() => store.link(f.ino, ROOT_INO, 'd'), 'EXISTS');
    await expectCode(() => store.link(999, ROOT_INO, 'x'), 'NOT_FOUND');
    await expectCode(() => store.link(f.ino, 999, 'x'), 'NOT_FOUND');
    await expectCode(() => store.link(f.ino, f.ino, 'x'), 'NOT_DIR');
  });

  it('unlink drops a link; the last one frees the inode and returns its blocks', async () => {
    const { store, lastTime } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.link(f.ino, ROOT_INO, 'g');
    const blocks = [block(0, 7), block(1, 8, 10)];
    await store.commitBlocks({ ino: f.ino, blocks, sizeBytes: BLOCK + 10, time: { sec: 9, nsec: 0 } });
    const first = await store.unlink(ROOT_INO, 'f');
    assert.equal(first.attr.nlink, 1);
    assert.deepEqual(first.attr.ctime, lastTime());
    assert.deepEqual(first.orphans, []);
    assert.deepEqual((await store.getattr(ROOT_INO)).mtime, lastTime());
    const last = await store.unlink(ROOT_INO, 'g');
    assert.equal(last.attr.nlink, 0);
    assert.deepEqual(last.orphans, [
      { ino: f.ino, index: 0, version: 7 },
      { ino: f.ino, index: 1, version: 8 },
    ]);
    await expectCode(() => store.getattr(f.ino), 'NOT_FOUND');
    assert.deepEqual(await store.counts(), { inodes: 1, blocks: 0, bytes: 0 });
  });

  it('unlink errors: IS_DIR, NOT_FOUND', async () => {
    const { store } = await memoryStore();
    await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    await expectCode(() => store.unlink(ROOT_INO, 'd'), 'IS_DIR');
    await expectCode(() => store.unlink(ROOT_INO, '.'), 'IS_DIR');
    await expectCode(() => store.unlink(ROOT_INO, 'missing'), 'NOT_FOUND');
    await expectCode(() => store.unlink(999, 'x'), 'NOT_FOUND');
  });
});

describe('rmdir', () => {
  it('removes an empty directory and fixes the parent link count', async () => {
    const { store, lastTime } = await memoryStore();
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const removed = await store.rmdir(ROOT_INO, 'd');
    assert.equal(removed.attr.nlink, 0);
    assert.deepEqual(removed.orphans, []);
    const root = await store.getattr(ROOT_INO);
    assert.equal(root.nlink, 2);
    assert.deepEqual(root.mtime, lastTime());
    await expectCode(() => store.getattr(d.ino), 'NOT_FOUND');
  });

  it('rmdir errors: NOT_DIR, NOT_EMPTY, NOT_FOUND, and the dot names', async () => {
    const { store } = await memoryStore();
    await file(store, ROOT_INO, 'f');
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    await file(store, d.ino, 'inner');
    await expectCode(() => store.rmdir(ROOT_INO, 'f'), 'NOT_DIR');
    await expectCode(() => store.rmdir(ROOT_INO, 'd'), 'NOT_EMPTY');
    await expectCode(() => store.rmdir(ROOT_INO, 'missing'), 'NOT_FOUND');
    await expectCode(() => store.rmdir(d.ino, '.'), 'INVALID');
    await expectCode(() => store.rmdir(d.ino, '..'), 'NOT_EMPTY');
  });
});

describe('block versions only grow', () => {
  it('a commit naming a version below the committed one is STALE and changes nothing; the same commit again passes', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.commitBlocks({ ino: f.ino, blocks: [block(0, 20_001, 5)], sizeBytes: 5, time: { sec: 9, nsec: 0 } });
    // Another writer planned from the map before that commit, from a batch of lower versions
    // (the new block 1 comes first: it must not stay when block 0 is refused).
    await expectCode(() => store.commitBlocks({ ino: f.ino, blocks: [block(1, 8, 6), block(0, 7, 6)], sizeBytes: BLOCK + 6, time: { sec: 10, nsec: 0 } }), 'STALE');
    assert.deepEqual((await store.getBlocks(f.ino, 0, 2)).map((b) => b.version), [20_001]);
    assert.equal((await store.getattr(f.ino)).size, 5);
    await store.commitBlocks({ ino: f.ino, blocks: [block(0, 20_001, 5)], sizeBytes: 5, time: { sec: 9, nsec: 0 } });
    await store.commitBlocks({ ino: f.ino, blocks: [block(0, 20_002, 6)], sizeBytes: 6, time: { sec: 11, nsec: 0 } });
    assert.deepEqual((await store.getBlocks(f.ino, 0, 1)).map((b) => b.version), [20_002]);
  });
});

describe('hold and release', () => {
  const A = 'session-a';
  const B = 'session-b';

  it('a held file outlives its last name until its last holder releases it', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.commitBlocks({ ino: f.ino, blocks: [block(0, 3, 5)], sizeBytes: 5, time: { sec: 9, nsec: 0 } });
    assert.equal((await store.hold(A, f.ino)).ino, f.ino);
    await store.hold(A, f.ino); // a set: holding twice is holding once
    await store.hold(B, f.ino);
    const removed = await store.unlink(ROOT_INO, 'f');
    assert.deepEqual(removed.orphans, []);
    assert.equal((await store.getattr(f.ino)).nlink, 0);
    await expectCode(() => store.lookup(ROOT_INO, 'f'), 'NOT_FOUND');
    await expectCode(() => store.link(f.ino, ROOT_INO, 'back'), 'NOT_FOUND');
    // Still writable while open.
    await store.commitBlocks({ ino: f.ino, blocks: [block(0, 4, 6)], sizeBytes: 6, time: { sec: 10, nsec: 0 } });
    assert.deepEqual(await store.release(A, f.ino), []);
    assert.deepEqual(await store.release(A, f.ino), []); // not held by A any more: nothing happens
    assert.equal((await store.getattr(f.ino)).size, 6);
    assert.deepEqual(await store.release(B, f.ino), [{ ino: f.ino, index: 0, version: 4 }]);
    await expectCode(() => store.getattr(f.ino), 'NOT_FOUND');
    assert.deepEqual(await store.holdSessions(), []);
  });

  it('release of a linked file frees nothing; errors for missing inodes and bad sessions', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.hold(A, f.ino);
    assert.deepEqual(await store.release(A, f.ino), []);
    assert.equal((await store.getattr(f.ino)).nlink, 1);
    await expectCode(() => store.hold(A, 999), 'NOT_FOUND');
    await expectCode(() => store.hold('', f.ino), 'INVALID');
    await expectCode(() => store.hold('x'.repeat(limits.maxSessionIdBytes + 1), f.ino), 'INVALID');
  });

  it('create with a session holds the new (or existing) file in the same transaction', async () => {
    const { store } = await memoryStore();
    const f = await store.create({ parent: ROOT_INO, name: 'f', mode: S_IFREG | 0o644, caller: alice, exclusive: true, session: A });
    const again = await store.create({ parent: ROOT_INO, name: 'f', mode: S_IFREG | 0o644, caller: alice, exclusive: false, session: B });
    assert.equal(again.ino, f.ino);
    assert.deepEqual(await store.holdSessions(), [A, B]);
    await store.unlink(ROOT_INO, 'f');
    assert.deepEqual(await store.setHolds(A, []), { orphans: [], missing: [] });
    assert.equal((await store.getattr(f.ino)).nlink, 0);
    await store.setHolds(B, []);
    await expectCode(() => store.getattr(f.ino), 'NOT_FOUND');
  });

  it('setHolds makes a set the whole of a session\'s holds', async () => {
    const { store } = await memoryStore();
    const kept = await file(store, ROOT_INO, 'kept');
    const dropped = await file(store, ROOT_INO, 'dropped');
    const added = await file(store, ROOT_INO, 'added');
    await store.commitBlocks({ ino: dropped.ino, blocks: [block(0, 7, 1)], sizeBytes: 1, time: { sec: 9, nsec: 0 } });
    await store.hold(A, kept.ino);
    await store.hold(A, dropped.ino);
    await store.unlink(ROOT_INO, 'kept');
    await store.unlink(ROOT_INO, 'dropped');
    const result = await store.setHolds(A, [kept.ino, added.ino, 12345]);
    assert.deepEqual(result, { orphans: [{ ino: dropped.ino, index: 0, version: 7 }], missing: [12345] });
    assert.equal((await store.getattr(kept.ino)).nlink, 0);
    await expectCode(() => store.getattr(dropped.ino), 'NOT_FOUND');
    await store.unlink(ROOT_INO, 'added');
    assert.equal((await store.getattr(added.ino)).nlink, 0); // held since the setHolds
    assert.equal((await store.setHolds(A, [])).orphans.length, 0);
    await expectCode(() => store.getattr(added.ino), 'NOT_FOUND');
    await expectCode(() => store.setHolds(A, Array.from({ length: limits.maxHoldsPerSession + 1 }, (_, i) => i + 1)), 'INVALID');
  });

  it('a held directory that was removed is gone for lookups, readdir and creation', async () => {
    const { store } = await memoryStore();
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    await store.hold(A, d.ino);
    await store.rmdir(ROOT_INO, 'd');
    assert.equal((await store.getattr(d.ino)).nlink, 0);
    await expectCode(() => store.readdir(d.ino, 0, 10), 'NOT_FOUND');
    await expectCode(() => file(store, d.ino, 'x'), 'NOT_FOUND');
    await store.release(A, d.ino);
    await expectCode(() => store.getattr(d.ino), 'NOT_FOUND');
  });

  it('a file replaced by rename stays while held', async () => {
    const { store } = await memoryStore();
    const victim = await file(store, ROOT_INO, 'victim');
    await store.commitBlocks({ ino: victim.ino, blocks: [block(0, 2, 1)], sizeBytes: 1, time: { sec: 9, nsec: 0 } });
    await file(store, ROOT_INO, 'new');
    await store.hold(A, victim.ino);
    const replaced = await store.rename(ROOT_INO, 'new', ROOT_INO, 'victim', 0);
    assert.deepEqual(replaced?.orphans, []);
    assert.equal((await store.getattr(victim.ino)).nlink, 0);
    assert.deepEqual(await store.release(A, victim.ino), [{ ino: victim.ino, index: 0, version: 2 }]);
  });
});

describe('rename', () => {
  it('renames within a directory, keeping the inode', async () => {
    const { store, lastTime } = await memoryStore();
    const f = await file(store, ROOT_INO, 'a');
    assert.equal(await store.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0), null);
    const moved = await store.lookup(ROOT_INO, 'b');
    assert.equal(moved.ino, f.ino);
    assert.deepEqual(moved.ctime, lastTime());
    await expectCode(() => store.lookup(ROOT_INO, 'a'), 'NOT_FOUND');
  });

  it('moves a file across directories and touches both parents', async () => {
    const { store, lastTime } = await memoryStore();
    const src = await store.mkdir(ROOT_INO, 'src', 0o755, alice);
    const dst = await store.mkdir(ROOT_INO, 'dst', 0o755, alice);
    const f = await file(store, src.ino, 'f');
    await store.rename(src.ino, 'f', dst.ino, 'g', 0);
    const now = lastTime();
    assert.equal((await store.lookup(dst.ino, 'g')).ino, f.ino);
    for (const ino of [src.ino, dst.ino]) {
      const dir = await store.getattr(ino);
      assert.deepEqual([dir.mtime, dir.ctime, dir.nlink], [now, now, 2]);
    }
  });

  it('moves a directory across parents: both link counts and its .. change', async () => {
    const { store } = await memoryStore();
    const a = await store.mkdir(ROOT_INO, 'a', 0o755, alice);
    const b = await store.mkdir(ROOT_INO, 'b', 0o755, alice);
    const d = await store.mkdir(a.ino, 'd', 0o755, alice);
    assert.equal((await store.getattr(a.ino)).nlink, 3);
    await store.rename(a.ino, 'd', b.ino, 'd', 0);
    assert.equal((await store.getattr(a.ino)).nlink, 2);
    assert.equal((await store.getattr(b.ino)).nlink, 3);
    assert.equal((await store.lookup(d.ino, '..')).ino, b.ino);
    assert.equal((await store.readdir(d.ino, 0, 10))[1]?.ino, b.ino);
  });

  it('replaces a file: the old target is returned with its blocks', async () => {
    const { store } = await memoryStore();
    const a = await file(store, ROOT_INO, 'a');
    const b = await file(store, ROOT_INO, 'b');
    await store.commitBlocks({ ino: b.ino, blocks: [block(0, 11, 3)], sizeBytes: 3, time: { sec: 9, nsec: 0 } });
    const replaced = await store.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0);
    assert.ok(replaced);
    assert.equal(replaced.attr.ino, b.ino);
    assert.equal(replaced.attr.nlink, 0);
    assert.deepEqual(replaced.orphans, [{ ino: b.ino, index: 0, version: 11 }]);
    assert.equal((await store.lookup(ROOT_INO, 'b')).ino, a.ino);
    await expectCode(() => store.getattr(b.ino), 'NOT_FOUND');
  });

  it('replaces a file that has another name: only its nlink drops', async () => {
    const { store } = await memoryStore();
    await file(store, ROOT_INO, 'a');
    const b = await file(store, ROOT_INO, 'b');
    await store.link(b.ino, ROOT_INO, 'b2');
    const replaced = await store.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0);
    assert.equal(replaced?.attr.nlink, 1);
    assert.deepEqual(replaced?.orphans, []);
    assert.equal((await store.getattr(b.ino)).nlink, 1);
  });

  it('replaces an empty directory; refuses a non-empty one', async () => {
    const { store } = await memoryStore();
    const p = await store.mkdir(ROOT_INO, 'p', 0o755, alice);
    const q = await store.mkdir(ROOT_INO, 'q', 0o755, alice);
    const d = await store.mkdir(p.ino, 'd', 0o755, alice);
    const empty = await store.mkdir(q.ino, 'empty', 0o755, alice);
    const full = await store.mkdir(q.ino, 'full', 0o755, alice);
    await file(store, full.ino, 'x');
    await expectCode(() => store.rename(p.ino, 'd', q.ino, 'full', 0), 'NOT_EMPTY');
    const replaced = await store.rename(p.ino, 'd', q.ino, 'empty', 0);
    assert.equal(replaced?.attr.ino, empty.ino);
    assert.equal(replaced?.attr.nlink, 0);
    await expectCode(() => store.getattr(empty.ino), 'NOT_FOUND');
    assert.equal((await store.getattr(p.ino)).nlink, 2);
    assert.equal((await store.getattr(q.ino)).nlink, 4); // '.', its entry, 'full', the moved 'd'
    assert.equal((await store.lookup(q.ino, 'empty')).ino, d.ino);
    assert.equal((await store.getattr(ROOT_INO)).nlink, 4);
  });

  it('refuses kind mismatches: NOT_DIR and IS_DIR', async () => {
    const { store } = await memoryStore();
    await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    await file(store, ROOT_INO, 'f');
    await expectCode(() => store.rename(ROOT_INO, 'd', ROOT_INO, 'f', 0), 'NOT_DIR');
    await expectCode(() => store.rename(ROOT_INO, 'f', ROOT_INO, 'd', 0), 'IS_DIR');
  });

  it('refuses to move a directory into its own subtree', async () => {
    const { store } = await memoryStore();
    const a = await store.mkdir(ROOT_INO, 'a', 0o755, alice);
    const b = await store.mkdir(a.ino, 'b', 0o755, alice);
    const c = await store.mkdir(b.ino, 'c', 0o755, alice);
    await expectCode(() => store.rename(ROOT_INO, 'a', c.ino, 'x', 0), 'INVALID');
    await expectCode(() => store.rename(ROOT_INO, 'a', a.ino, 'x', 0), 'INVALID');
    // A target that is an ancestor of the source is never empty.
    await expectCode(() => store.rename(b.ino, 'c', ROOT_INO, 'a', 0), 'NOT_EMPTY');
    await expectCode(() => store.rename(b.ino, 'c', ROOT_INO, 'a', RENAME_EXCHANGE), 'INVALID');
    assert.equal((await store.lookup(b.ino, 'c')).ino, c.ino);
  });

  it('is a no-op for two names of the same inode', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.link(f.ino, ROOT_INO, 'g');
    const before = await store.getattr(f.ino);
    assert.equal(await store.rename(ROOT_INO, 'f', ROOT_INO, 'g', 0), null);
    assert.equal(await store.rename(ROOT_INO, 'f', ROOT_INO, 'f', 0), null);
    assert.deepEqual(await store.getattr(f.ino), before);
    assert.equal((await store.lookup(ROOT_INO, 'f')).ino, f.ino);
    assert.equal((await store.lookup(ROOT_INO, 'g')).ino, f.ino);
  });

  it('RENAME_NOREPLACE fails on an existing target and works on a free one', async () => {
    const { store } = await memoryStore();
    await file(store, ROOT_INO, 'a');
    await file(store, ROOT_INO, 'b');
    await expectCode(() => store.rename(ROOT_INO, 'a', ROOT_INO, 'b', RENAME_NOREPLACE), 'EXISTS');
    assert.equal(await store.rename(ROOT_INO, 'a', ROOT_INO, 'c', RENAME_NOREPLACE), null);
  });

  it('RENAME_EXCHANGE swaps a file and a directory across parents', async () => {
    const { store, lastTime } = await memoryStore();
    const p = await store.mkdir(ROOT_INO, 'p', 0o755, alice);
    const q = await store.mkdir(ROOT_INO, 'q', 0o755, alice);
    const d = await store.mkdir(p.ino, 'd', 0o755, alice);
    const f = await file(store, q.ino, 'f');
    assert.equal(await store.rename(p.ino, 'd', q.ino, 'f', RENAME_EXCHANGE), null);
    assert.equal((await store.lookup(p.ino, 'd')).ino, f.ino);
    assert.equal((await store.lookup(q.ino, 'f')).ino, d.ino);
    assert.equal((await store.getattr(p.ino)).nlink, 2);
    assert.equal((await store.getattr(q.ino)).nlink, 3);
    assert.equal((await store.lookup(d.ino, '..')).ino, q.ino);
    assert.deepEqual((await store.getattr(f.ino)).ctime, lastTime());
    assert.deepEqual((await store.getattr(d.ino)).ctime, lastTime());
    await expectCode(() => store.rename(p.ino, 'd', q.ino, 'missing', RENAME_EXCHANGE), 'NOT_FOUND');
  });

  it('RENAME_EXCHANGE of two directories keeps link counts', async () => {
    const { store } = await memoryStore();
    const p = await store.mkdir(ROOT_INO, 'p', 0o755, alice);
    const q = await store.mkdir(ROOT_INO, 'q', 0o755, alice);
    const a = await store.mkdir(p.ino, 'a', 0o755, alice);
    const b = await store.mkdir(q.ino, 'b', 0o755, alice);
    await store.rename(p.ino, 'a', q.ino, 'b', RENAME_EXCHANGE);
    assert.deepEqual([(await store.getattr(p.ino)).nlink, (await store.getattr(q.ino)).nlink], [3, 3]);
    assert.equal((await store.lookup(a.ino, '..')).ino, q.ino);
    assert.equal((await store.lookup(b.ino, '..')).ino, p.ino);
  });

  it('rename errors: NOT_FOUND source, dot names, bad flags', async () => {
    const { store } = await memoryStore();
    await file(store, ROOT_INO, 'a');
    await expectCode(() => store.rename(ROOT_INO, 'missing', ROOT_INO, 'b', 0), 'NOT_FOUND');
    await expectCode(() => store.rename(ROOT_INO, '.', ROOT_INO, 'b', 0), 'INVALID');
    await expectCode(() => store.rename(ROOT_INO, 'a', ROOT_INO, '..', 0), 'INVALID');
    await expectCode(() => store.rename(ROOT_INO, 'a', ROOT_INO, 'b', 3), 'INVALID');
    await expectCode(() => store.rename(ROOT_INO, 'a', 999, 'b', 0), 'NOT_FOUND');
  });
});

describe('setattr', () => {
  const at = (sec: number): Timespec => ({ sec, nsec: 7 });

  it('changes mode bits, owner and times; ctime is now', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const req = { mode: S_IFDIR | 0o4711, uid: 5, gid: 6, atime: at(10), mtime: 'now' as const };
    const { attr, orphans } = await store.setattr(f.ino, req, at(50));
    assert.deepEqual(orphans, []);
    assert.equal(attr.mode, S_IFREG | 0o4711, 'type bits are kept');
    assert.deepEqual([attr.uid, attr.gid], [5, 6]);
    assert.deepEqual([attr.atime, attr.mtime, attr.ctime], [at(10), at(50), at(50)]);
    assert.equal(attr.generation, f.generation + 1);
    assert.deepEqual(await store.getattr(f.ino), attr);
  });

  it('takes an explicit ctime; an empty request changes nothing', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    assert.deepEqual((await store.setattr(f.ino, { ctime: at(3) }, at(50))).attr.ctime, at(3));
    const unchanged = await store.getattr(f.ino);
    assert.deepEqual((await store.setattr(f.ino, {}, at(60))).attr, unchanged);
  });

  it('truncation drops whole blocks past the end and keeps the straddling one as is', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.commitBlocks({ ino: f.ino, blocks: [block(0, 1), block(1, 2), block(2, 3)], sizeBytes: 3 * BLOCK, time: at(5) });
    const { attr, orphans } = await store.setattr(f.ino, { size: BLOCK + BLOCK / 2 }, at(50));
    assert.deepEqual(orphans, [{ ino: f.ino, index: 2, version: 3 }]);
    assert.equal(attr.size, BLOCK + BLOCK / 2);
    assert.deepEqual([attr.mtime, attr.ctime], [at(50), at(50)]);
    assert.deepEqual((await store.getBlocks(f.ino, 0, 10)).map((b) => [b.index, b.lengthBytes]), [[0, BLOCK], [1, BLOCK]]);
    // A boundary keeps exactly the blocks below it.
    assert.deepEqual((await store.setattr(f.ino, { size: BLOCK }, at(51))).orphans, [{ ino: f.ino, index: 1, version: 2 }]);
    assert.deepEqual((await store.setattr(f.ino, { size: 0 }, at(52))).orphans, [{ ino: f.ino, index: 0, version: 1 }]);
    assert.deepEqual((await store.counts()).blocks, 0);
  });

  it('growing only changes size; an explicit mtime wins over the truncate mtime', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const grown = await store.setattr(f.ino, { size: 10 * BLOCK, mtime: at(2) }, at(50));
    assert.deepEqual(grown.orphans, []);
    assert.equal(grown.attr.size, 10 * BLOCK);
    assert.deepEqual(grown.attr.mtime, at(2));
  });

  it('only regular files change size', async () => {
    const { store } = await memoryStore();
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const l = await store.symlink(ROOT_INO, 'l', 't', alice);
    await expectCode(() => store.setattr(d.ino, { size: 0 }, at(1)), 'IS_DIR');
    await expectCode(() => store.setattr(l.ino, { size: 0 }, at(1)), 'INVALID');
    await expectCode(() => store.setattr(999, { mode: 0o600 }, at(1)), 'NOT_FOUND');
    await expectCode(() => store.setattr(d.ino, { size: -1 }, at(1)), 'INVALID');
    await expectCode(() => store.setattr(d.ino, { atime: { sec: 1, nsec: 1e9 } }, at(1)), 'INVALID');
  });
});

describe('readdir', () => {
  it('pages with cookies that survive other entries coming and going', async () => {
    const { store } = await memoryStore();
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    for (const name of ['a', 'b', 'c', 'e']) await file(store, d.ino, name);
    const first = await store.readdir(d.ino, 0, 3);
    assert.deepEqual(first.map((e) => e.name), ['.', '..', 'a']);
    await store.unlink(d.ino, 'a');
    await store.unlink(d.ino, 'c');
    await file(store, d.ino, 'z');
    const rest = await store.readdir(d.ino, first[2]?.cookie ?? -1, 10);
    assert.deepEqual(rest.map((e) => e.name), ['b', 'e', 'z']);
    assert.deepEqual(await store.readdir(d.ino, rest[2]?.cookie ?? -1, 10), []);
    assert.deepEqual((await store.readdir(d.ino, 1, 1)).map((e) => e.name), ['..']);
    assert.equal(rest[0]?.mode, S_IFREG | 0o644);
  });

  it('reads a large directory in full pages', async () => {
    const { store } = await memoryStore();
    for (let i = 0; i < 50; i++) await file(store, ROOT_INO, `f${i}`);
    const names: string[] = [];
    let cookie = 0;
    for (;;) {
      const page = await store.readdir(ROOT_INO, cookie, 7);
      if (page.length === 0) break;
      names.push(...page.map((e) => e.name));
      cookie = page[page.length - 1]?.cookie ?? -1;
    }
    assert.equal(names.length, 52);
    assert.equal(new Set(names).size, 52);
  });

  it('errors: NOT_DIR, NOT_FOUND, bad limit', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await expectCode(() => store.readdir(f.ino, 0, 10), 'NOT_DIR');
    await expectCode(() => store.readdir(999, 0, 10), 'NOT_FOUND');
    await expectCode(() => store.readdir(ROOT_INO, 0, 0), 'INVALID');
  });

  it('readdirplus: the pages readdir gives, each entry with the attributes getattr gives', async () => {
    const { store } = await memoryStore();
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const a = await file(store, d.ino, 'a');
    await store.commitBlocks({ ino: a.ino, blocks: [block(0, 1, 10)], sizeBytes: 10, time: { sec: 7, nsec: 0 } });
    await store.mkdir(d.ino, 's', 0o700, alice);
    await store.symlink(d.ino, 'l', 'a', alice);
    await store.link(a.ino, d.ino, 'b');
    for (const [cookie, limit] of [[0, 10], [0, 1], [0, 2], [1, 2], [2, 2], [3, 10], [6, 10]] as const) {
      const plus = await store.readdirplus(d.ino, cookie, limit);
      assert.deepEqual(plus.map((e) => e.entry), await store.readdir(d.ino, cookie, limit), `cookie ${cookie}, limit ${limit}`);
      for (const { entry, attr } of plus) assert.deepEqual(attr, await store.getattr(entry.ino));
    }
    const all = await store.readdirplus(d.ino, 0, 10);
    assert.deepEqual(all.map((e) => [e.entry.name, e.attr.ino]), [['.', d.ino], ['..', ROOT_INO], ['a', a.ino], ['s', all[3]!.entry.ino], ['l', all[4]!.entry.ino], ['b', a.ino]]);
    assert.equal(all[2]!.attr.size, 10);
    assert.equal(all[2]!.attr.nlink, 2);
    assert.equal(all[3]!.attr.mode, S_IFDIR | 0o700);
    await expectCode(() => store.readdirplus(a.ino, 0, 10), 'NOT_DIR');
    await expectCode(() => store.readdirplus(999, 0, 10), 'NOT_FOUND');
    await expectCode(() => store.readdirplus(ROOT_INO, 0, 0), 'INVALID');
  });
});

describe('block maps', () => {
  const t = (sec: number): Timespec => ({ sec, nsec: 0 });

  it('commitBlocks upserts, returns replaced versions, grows size, sets times', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const blocks = [block(0, 1), block(1, 2, 100)];
    const first = await store.commitBlocks({ ino: f.ino, blocks, sizeBytes: BLOCK + 100, time: t(20) });
    assert.deepEqual(first.orphans, []);
    assert.equal(first.attr.size, BLOCK + 100);
    assert.deepEqual([first.attr.mtime, first.attr.ctime], [t(20), t(20)]);
    const second = await store.commitBlocks({ ino: f.ino, blocks: [block(0, 5), block(1, 2, 100)], sizeBytes: 10, time: t(21) });
    assert.deepEqual(second.orphans, [{ ino: f.ino, index: 0, version: 1 }], 'same version is not an orphan');
    assert.equal(second.attr.size, BLOCK + 100, 'size only grows here');
    assert.deepEqual(await store.getBlocks(f.ino, 0, 2), [block(0, 5), block(1, 2, 100)]);
    assert.deepEqual(await store.getBlocks(f.ino, 1, 2), [block(1, 2, 100)]);
    assert.deepEqual(await store.counts(), { inodes: 2, blocks: 2, bytes: BLOCK + 100 });
  });

  it('commitBlocks on a removed inode is NOT_FOUND and changes nothing', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.unlink(ROOT_INO, 'f');
    const before = await store.counts();
    await expectCode(() => store.commitBlocks({ ino: f.ino, blocks: [block(0, 1)], sizeBytes: BLOCK, time: t(1) }), 'NOT_FOUND');
    assert.deepEqual(await store.counts(), before);
  });

  it('commitBlocks with an expectation commits only on the size and versions expected', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const made = await store.commitBlocks({ ino: f.ino, blocks: [block(0, 1, 100)], sizeBytes: 100, time: t(1) });
    // As expected: committed, and the replaced version is an orphan.
    const ok = await store.commitBlocks({
      ino: f.ino,
      blocks: [block(0, 2, 200)],
      sizeBytes: 200,
      time: t(2),
      expect: { sizeBytes: 100, blocks: [{ index: 0, version: 1 }, { index: 1, version: 0 }] },
    });
    assert.deepEqual(ok.orphans, [{ ino: f.ino, index: 0, version: 1 }]);
    assert.equal(ok.attr.size, 200);
    // Planned from a state that is no longer the inode's: STALE, and nothing changes.
    const before = await store.getattr(f.ino);
    const stale = (expect: { sizeBytes: number; blocks: Array<{ index: number; version: number }> }) => () =>
      store.commitBlocks({ ino: f.ino, blocks: [block(0, 3, 300), block(1, 4, 10)], sizeBytes: BLOCK + 10, time: t(3), expect });
    await expectCode(stale({ sizeBytes: 100, blocks: [] }), 'STALE'); // the size it knew
    await expectCode(stale({ sizeBytes: 200, blocks: [{ index: 0, version: 1 }] }), 'STALE'); // a replaced version
    await expectCode(stale({ sizeBytes: 200, blocks: [{ index: 0, version: 0 }] }), 'STALE'); // a block it thought a hole
    await expectCode(stale({ sizeBytes: 200, blocks: [{ index: 0, version: 2 }, { index: 5, version: 9 }] }), 'STALE'); // one of several
    assert.deepEqual(await store.getattr(f.ino), before, 'size, times and generation unchanged');
    assert.deepEqual(await store.getBlocks(f.ino, 0, 10), [block(0, 2, 200)]);
    assert.deepEqual(await store.counts(), { inodes: 2, blocks: 1, bytes: 200 });
    assert.ok(made.attr.generation < before.generation);
  });

  it('commitBlocks with an expectation lets a repeat of a commit already made through', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const req = { ino: f.ino, blocks: [block(0, 7, 50)], sizeBytes: 50, time: t(1), expect: { sizeBytes: 0, blocks: [] } };
    await store.commitBlocks(req);
    // A duplicated request arriving again: its blocks are the map's, so nothing is orphaned.
    const again = await store.commitBlocks(req);
    assert.deepEqual(again.orphans, []);
    assert.deepEqual(await store.getBlocks(f.ino, 0, 1), [block(0, 7, 50)]);
    // Once a later commit replaced its block, the repeat is stale, not a rollback.
    await store.commitBlocks({ ino: f.ino, blocks: [block(0, 8, 60)], sizeBytes: 60, time: t(2) });
    await expectCode(() => store.commitBlocks(req), 'STALE');
    assert.deepEqual(await store.getBlocks(f.ino, 0, 1), [block(0, 8, 60)]);
  });

  it('commitBlocks validates its expectation', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const commit = (expect: { sizeBytes: number; blocks: Array<{ index: number; version: number }> }) => () =>
      store.commitBlocks({ ino: f.ino, blocks: [block(0, 1, 1)], sizeBytes: 1, time: t(1), expect });
    await expectCode(commit({ sizeBytes: -1, blocks: [] }), 'INVALID');
    await expectCode(commit({ sizeBytes: 0, blocks: [{ index: 0, version: 0 }, { index: 0, version: 0 }] }), 'INVALID');
    await expectCode(commit({ sizeBytes: 0, blocks: [{ index: 0.5, version: 0 }] }), 'INVALID');
    assert.equal((await store.counts()).blocks, 0);
  });

  it('commitBlocks validates its request', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const many = Array.from({ length: limits.maxBlocksPerCall + 1 }, (_, i) => block(i, 1));
    const commit = (ino: number, blocks: BlockRef[], sizeBytes: number) => () =>
      store.commitBlocks({ ino, blocks, sizeBytes, time: t(1) });
    await expectCode(commit(f.ino, many, many.length * BLOCK), 'INVALID');
    await expectCode(commit(f.ino, [block(0, 1), block(0, 2)], BLOCK), 'INVALID');
    await expectCode(commit(f.ino, [block(1, 1)], BLOCK), 'INVALID'); // ends past the size
    await expectCode(commit(f.ino, [{ ...block(0, 1), checksum: 'nope' }], BLOCK), 'INVALID');
    await expectCode(commit(f.ino, [block(0, 0)], BLOCK), 'INVALID');
    await expectCode(commit(f.ino, [block(0, 1, BLOCK + 1)], 2 * BLOCK), 'INVALID');
    await expectCode(commit(d.ino, [block(0, 1)], BLOCK), 'IS_DIR');
    assert.equal((await store.counts()).blocks, 0);
  });

  it('getBlocks checks its range and pages a wide one', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await expectCode(() => store.getBlocks(f.ino, 5, 4), 'INVALID');
    await expectCode(() => store.getBlocks(999, 0, 1), 'NOT_FOUND');
    assert.deepEqual(await store.getBlocks(f.ino, 0, 10 * limits.maxBlocksPerCall), []);
    // A sparse file: every third block of 2.5 pages' worth; pages skip the holes.
    const count = Math.floor(2.5 * limits.maxBlocksPerCall);
    for (let first = 0; first < count; first += limits.maxBlocksPerCall) {
      const blocks = Array.from({ length: Math.min(limits.maxBlocksPerCall, count - first) }, (_, i) => block(3 * (first + i), 1));
      await store.commitBlocks({ ino: f.ino, blocks, sizeBytes: 3 * count * BLOCK, time: t(1) });
    }
    const seen: number[] = [];
    for (let from = 0; ; ) {
      const page = await store.getBlocks(f.ino, from, Number.MAX_SAFE_INTEGER);
      assert.ok(page.length <= limits.maxBlocksPerCall);
      seen.push(...page.map((b) => b.index));
      if (page.length < limits.maxBlocksPerCall) break;
      from = page[page.length - 1]!.index + 1;
    }
    assert.deepEqual(seen, Array.from({ length: count }, (_, i) => 3 * i));
    assert.deepEqual(await store.committedVersions([{ ino: f.ino, index: 3 }, { ino: f.ino, index: 4 }, { ino: 999, index: 0 }]), [1, 0, 0]);
  });

  it('listBlocks walks every block in (ino, index) order', async () => {
    const { store } = await memoryStore();
    const a = await file(store, ROOT_INO, 'a');
    const b = await file(store, ROOT_INO, 'b');
    await store.commitBlocks({ ino: b.ino, blocks: [block(1, 3), block(0, 4)], sizeBytes: 2 * BLOCK, time: t(1) });
    await store.commitBlocks({ ino: a.ino, blocks: [block(0, 5), block(2, 6)], sizeBytes: 3 * BLOCK, time: t(1) });
    const seen: Array<[number, number]> = [];
    let after: [number, number] = [0, 0];
    for (;;) {
      const page = await store.listBlocks(after[0], after[1], 3);
      if (page.length === 0) break;
      for (const ref of page) seen.push([ref.ino, ref.index]);
      const last = page[page.length - 1];
      after = last === undefined ? after : [last.ino, last.index];
    }
    assert.deepEqual(seen, [[a.ino, 0], [a.ino, 2], [b.ino, 0], [b.ino, 1]]);
    await expectCode(() => store.listBlocks(0, 0, 0), 'INVALID');
  });

  it('reserveVersions hands out consecutive, disjoint ranges', async () => {
    const { store } = await memoryStore();
    assert.equal(await store.reserveVersions(10), 1);
    assert.equal(await store.reserveVersions(1), 11);
    assert.equal(await store.reserveVersions(limits.versionReserveBatch), 12);
    await expectCode(() => store.reserveVersions(0), 'INVALID');
    await expectCode(() => store.reserveVersions(limits.versionReserveBatch + 1), 'INVALID');
  });
});

describe('xattrs', () => {
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

  it('set, get, list, remove; ctime changes', async () => {
    const { store, lastTime } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.setxattr(f.ino, 'user.b', bytes('two'), 0);
    await store.setxattr(f.ino, 'user.a', bytes('one'), 0);
    assert.deepEqual((await store.getattr(f.ino)).ctime, lastTime());
    assert.deepEqual(await store.getxattr(f.ino, 'user.a'), bytes('one'));
    assert.deepEqual(await store.listxattr(f.ino), ['user.a', 'user.b']);
    await store.setxattr(f.ino, 'user.a', bytes('uno'), 2);
    assert.deepEqual(await store.getxattr(f.ino, 'user.a'), bytes('uno'));
    await store.setxattr(f.ino, 'user.empty', new Uint8Array(0), 1);
    assert.deepEqual(await store.getxattr(f.ino, 'user.empty'), new Uint8Array(0));
    await store.removexattr(f.ino, 'user.b');
    assert.deepEqual((await store.getattr(f.ino)).ctime, lastTime());
    assert.deepEqual(await store.listxattr(f.ino), ['user.a', 'user.empty']);
  });

  it('errors: EXISTS, NO_DATA, limits, NOT_FOUND', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.setxattr(f.ino, 'user.a', bytes('1'), 0);
    await expectCode(() => store.setxattr(f.ino, 'user.a', bytes('2'), 1), 'EXISTS');
    await expectCode(() => store.setxattr(f.ino, 'user.new', bytes('2'), 2), 'NO_DATA');
    await expectCode(() => store.getxattr(f.ino, 'user.none'), 'NO_DATA');
    await expectCode(() => store.removexattr(f.ino, 'user.none'), 'NO_DATA');
    await expectCode(() => store.setxattr(f.ino, 'user.big', new Uint8Array(limits.maxXattrValueBytes + 1), 0), 'INVALID');
    await expectCode(() => store.setxattr(f.ino, 'u'.repeat(limits.maxXattrNameBytes + 1), bytes('x'), 0), 'INVALID');
    await expectCode(() => store.setxattr(f.ino, 'user.a', bytes('x'), 3), 'INVALID');
    await expectCode(() => store.getxattr(999, 'user.a'), 'NOT_FOUND');
    await store.setxattr(f.ino, 'user.max', new Uint8Array(limits.maxXattrValueBytes), 0);
  });

  it('go away with their inode', async () => {
    const { store } = await memoryStore();
    const f = await file(store, ROOT_INO, 'f');
    await store.setxattr(f.ino, 'user.a', bytes('1'), 0);
    await store.unlink(ROOT_INO, 'f');
    const g = await file(store, ROOT_INO, 'g');
    assert.deepEqual(await store.listxattr(g.ino), []);
  });
});

describe('statfs and counts', () => {
  it('reports sizes in blocks and inode counts', async () => {
    const { store } = await memoryStore();
    await file(store, ROOT_INO, 'f');
    const fs = await store.statfs();
    assert.equal(fs.blockSizeBytes, BLOCK);
    assert.equal(fs.maxNameBytes, 255);
    assert.ok(fs.totalBlocks > 0 && fs.availBlocks <= fs.freeBlocks && fs.freeBlocks <= fs.totalBlocks);
    assert.equal(fs.totalInodes - fs.freeInodes, 2);
    assert.deepEqual(await store.counts(), { inodes: 2, blocks: 0, bytes: 0 });
  });
});
}

// ---- at size: past what one etcd request or transaction holds ----

/** Runs `op(i)` for i in [0, count), `inFlight` at a time. */
async function inParallel(count: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await op(next++);
    }),
  );
}

for (const engine of ENGINES) {
  describe(`${engine.name} at size`, () => {
    it('reads a directory of 30,000 entries in full pages, each entry once, in creation order', async () => {
      const store = await engine.open({});
      const d = await store.mkdir(ROOT_INO, 'big', 0o755, alice);
      const count = 30_000;
      for (let i = 0; i < count; i++) await file(store, d.ino, `entry-${i}`);
      assert.equal((await store.getattr(d.ino)).nlink, 2);
      const names: string[] = [];
      const pageSizes: number[] = [];
      for (let cookie = 0; ; ) {
        const page = await store.readdir(d.ino, cookie, limits.maxReaddirEntries);
        if (page.length === 0) break;
        pageSizes.push(page.length);
        names.push(...page.map((e) => e.name));
        cookie = page[page.length - 1]!.cookie;
      }
      assert.equal(names.length, count + 2);
      // Every page but the last is full: as many entries as fit the frame budget (names of at
      // most 11 bytes, each with its allowance, against half of maxHeaderBytes).
      const full = Math.floor(limits.maxHeaderBytes / 2 / (11 + limits.readdirEntryAllowanceBytes));
      for (const size of pageSizes.slice(0, -1)) assert.ok(size >= full && size <= limits.maxReaddirEntries, `a page of ${size}`);
      const pages = pageSizes.length;
      assert.ok(pages <= Math.ceil((count + 2) / full));
      assert.deepEqual(names.slice(0, 3), ['.', '..', 'entry-0']);
      assert.equal(names[names.length - 1], `entry-${count - 1}`);
      assert.equal(new Set(names).size, count + 2);
      // readdirplus: the same full pages (over etcd's 128 reads a call), each with its attributes.
      const plus = await store.readdirplus(d.ino, 0, limits.maxReaddirEntries);
      assert.deepEqual(plus.map((e) => e.entry.name), names.slice(0, pageSizes[0]));
      assert.ok(plus.every((e) => e.attr.ino === e.entry.ino && e.attr.mode === e.entry.mode && e.attr.nlink >= 1));
      await expectCode(() => store.rmdir(ROOT_INO, 'big'), 'NOT_EMPTY');
    });

    it('walks 30,000 blocks by listBlocks and getBlocks, and unlinking a file of 20,480 blocks returns every one', async () => {
      const store = await engine.open({});
      const big = await file(store, ROOT_INO, 'big');
      const small = await file(store, ROOT_INO, 'small');
      const per = limits.maxBlocksPerCall;
      const commitRange = async (ino: number, first: number, n: number, version: (i: number) => number): Promise<void> => {
        const blocks = Array.from({ length: n }, (_, k) => block(first + k, version(first + k), 100));
        await store.commitBlocks({ ino, blocks, sizeBytes: (first + n - 1) * BLOCK + 100, time: { sec: 5, nsec: 0 } });
      };
      for (let first = 0; first < 20 * per; first += per) await commitRange(big.ino, first, per, (i) => 1_000_000 + i);
      for (let first = 0; first < 9_600; first += 960) await commitRange(small.ino, first, 960, (i) => 2_000_000 + i);
      assert.deepEqual(await store.counts(), { inodes: 3, blocks: 30_080, bytes: 30_080 * 100 });

      let seen = 0;
      let after: [number, number] = [0, 0];
      let last: [number, number] = [0, -1];
      for (;;) {
        const page = await store.listBlocks(after[0], after[1], per);
        if (page.length === 0) break;
        for (const ref of page) {
          assert.ok(ref.ino > last[0] || (ref.ino === last[0] && ref.index > last[1]), 'in (ino, index) order');
          assert.equal(ref.version, (ref.ino === big.ino ? 1_000_000 : 2_000_000) + ref.index);
          last = [ref.ino, ref.index];
          seen += 1;
        }
        after = last;
      }
      assert.equal(seen, 30_080);

      let walked = 0;
      for (let from = 0; ; ) {
        const page = await store.getBlocks(big.ino, from, Number.MAX_SAFE_INTEGER);
        if (page.length === 0) break;
        assert.ok(page.length <= per);
        page.forEach((ref, k) => assert.equal(ref.index, from + k));
        walked += page.length;
        from = page[page.length - 1]!.index + 1;
      }
      assert.equal(walked, 20 * per);
      assert.deepEqual(
        (await store.getBlocks(small.ino, 9_500, 9_700)).map((b) => b.index),
        Array.from({ length: 100 }, (_, k) => 9_500 + k),
      );

      const { orphans } = await store.unlink(ROOT_INO, 'big');
      assert.equal(orphans.length, 20 * per);
      orphans.sort((a, b) => a.index - b.index);
      orphans.forEach((o, i) => assert.deepEqual(o, { ino: big.ino, index: i, version: 1_000_000 + i }));
      await expectCode(() => store.getattr(big.ino), 'NOT_FOUND');
      assert.deepEqual(await store.counts(), { inodes: 2, blocks: 9_600, bytes: 9_600 * 100 });

      const cut = await store.setattr(small.ino, { size: 100 * BLOCK + 1 }, { sec: 6, nsec: 0 });
      assert.equal(cut.orphans.length, 9_600 - 101);
      assert.deepEqual((await store.getBlocks(small.ino, 0, 10_000)).map((b) => b.index), Array.from({ length: 101 }, (_, k) => k));
      assert.deepEqual(await store.counts(), { inodes: 2, blocks: 101, bytes: 101 * 100 });
    });

    it(`setHolds of ${limits.maxHoldsPerSession} inodes holds them all, then drops them, deleting the unlinked`, async () => {
      const store = await engine.open({});
      const dirs = await Promise.all(Array.from({ length: 32 }, (_, i) => store.mkdir(ROOT_INO, `d${i}`, 0o755, alice)));
      const inos: number[] = new Array<number>(limits.maxHoldsPerSession);
      await inParallel(limits.maxHoldsPerSession, 16, async (i) => {
        inos[i] = (await file(store, dirs[i % dirs.length]!.ino, `f${i}`)).ino;
      });
      assert.deepEqual(await store.setHolds('mount-big', inos), { orphans: [], missing: [] });
      assert.deepEqual(await store.holdSessions(), ['mount-big']);
      // Unlinked while held: kept, with its blocks.
      const victim = inos[inos.length - 1]!;
      await store.commitBlocks({ ino: victim, blocks: [block(0, 77, 10)], sizeBytes: 10, time: { sec: 7, nsec: 0 } });
      const victimDir = dirs[(inos.length - 1) % dirs.length]!.ino;
      assert.deepEqual((await store.unlink(victimDir, `f${inos.length - 1}`)).orphans, []);
      assert.equal((await store.getattr(victim)).nlink, 0);
      // Keep half: the other half (with the victim) dropped in parts.
      const half = inos.slice(0, inos.length / 2);
      assert.deepEqual(await store.setHolds('mount-big', half), { orphans: [{ ino: victim, index: 0, version: 77 }], missing: [] });
      await expectCode(() => store.getattr(victim), 'NOT_FOUND');
      assert.deepEqual(await store.setHolds('mount-big', []), { orphans: [], missing: [] });
      assert.deepEqual(await store.holdSessions(), []);
      assert.equal((await store.counts()).inodes, 1 + dirs.length + limits.maxHoldsPerSession - 1);
    });
  });
}

// ---- etcd only: two store instances on the same keys, and the leader's fence ----

/** Exactly one of the settled results is fulfilled; every other failed with `code`. */
function oneWinner<T>(results: Array<PromiseSettledResult<T>>, code: ErrorCode): T {
  const won = results.filter((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled');
  assert.equal(won.length, 1, `winners: ${won.length}`);
  for (const r of results) {
    if (r.status === 'rejected') {
      assert.ok(r.reason instanceof QfsError, String(r.reason));
      assert.equal(r.reason.code, code, r.reason.message);
    }
  }
  return won[0]!.value;
}

describe('etcd: racing store instances', () => {
  const etcdEngine = ENGINES.find((e) => e.name === 'etcd')!;
  const pair = async (): Promise<[AsyncMetaStore, AsyncMetaStore]> => {
    const prefix = `/conformance/${process.pid}/race-${++prefixes}/`;
    return [await etcdEngine.open({ prefix }), await etcdEngine.open({ prefix })];
  };

  it('the same name created from both: exactly one wins, every time', async () => {
    const [a, b] = await pair();
    for (let i = 0; i < 25; i++) {
      const name = `n${i}`;
      const mk = (s: AsyncMetaStore) => (i % 2 === 0 ? file(s, ROOT_INO, name) : s.mkdir(ROOT_INO, name, 0o755, alice));
      const winner = oneWinner(await Promise.allSettled([mk(a), mk(b)]), 'EXISTS');
      assert.equal((await b.lookup(ROOT_INO, name)).ino, winner.ino);
    }
    const names = (await a.readdir(ROOT_INO, 0, 100)).map((e) => e.name).slice(2);
    assert.equal(names.length, 25);
    const root = await a.getattr(ROOT_INO);
    assert.equal(root.nlink, 2 + 12, 'one link for each directory made (odd i)');
    assert.equal((await a.counts()).inodes, 26);
  });

  it('two renames of one source: one moves it, the other finds it gone', async () => {
    const [a, b] = await pair();
    for (let i = 0; i < 15; i++) {
      const f = await file(a, ROOT_INO, `s${i}`);
      oneWinner(await Promise.allSettled([a.rename(ROOT_INO, `s${i}`, ROOT_INO, `a${i}`, 0), b.rename(ROOT_INO, `s${i}`, ROOT_INO, `b${i}`, 0)]), 'NOT_FOUND');
      const names = (await a.readdir(ROOT_INO, 0, 100)).map((e) => e.name).filter((n) => n.endsWith(`${i}`) && n.length === String(i).length + 1);
      assert.equal(names.length, 1, names.join());
      assert.equal((await a.lookup(ROOT_INO, names[0]!)).ino, f.ino);
      assert.equal((await a.getattr(f.ino)).nlink, 1);
    }
  });

  it('two directory moves that together would make a cycle: only one is made', async () => {
    const [a, b] = await pair();
    for (let i = 0; i < 10; i++) {
      const x = await a.mkdir(ROOT_INO, `x${i}`, 0o755, alice);
      const y = await a.mkdir(ROOT_INO, `y${i}`, 0o755, alice);
      const results = await Promise.allSettled([a.rename(ROOT_INO, `x${i}`, y.ino, 'x', 0), b.rename(ROOT_INO, `y${i}`, x.ino, 'y', 0)]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(['INVALID', 'NOT_FOUND'].includes((r.reason as QfsError).code));
      // The tree is still a tree: both reach the root.
      const up = async (ino: number): Promise<number> => {
        let cur = ino;
        for (let depth = 0; depth < 10 && cur !== ROOT_INO; depth++) cur = (await a.lookup(cur, '..')).ino;
        return cur;
      };
      assert.equal(await up(x.ino), ROOT_INO);
      assert.equal(await up(y.ino), ROOT_INO);
    }
  });

  it('commits with the same expectation racing: one commits, the other is STALE', async () => {
    const [a, b] = await pair();
    const f = await file(a, ROOT_INO, 'f');
    for (let round = 0; round < 15; round++) {
      const current = await a.getBlocks(f.ino, 0, 1);
      const size = (await a.getattr(f.ino)).size;
      const expect = { sizeBytes: size, blocks: [{ index: 0, version: current[0]?.version ?? 0 }] };
      const commit = (s: AsyncMetaStore, version: number) =>
        s.commitBlocks({ ino: f.ino, blocks: [block(0, version, 10)], sizeBytes: 10, time: { sec: 9, nsec: 0 }, expect });
      const won = oneWinner(await Promise.allSettled([commit(a, 100 + 2 * round), commit(b, 101 + 2 * round)]), 'STALE');
      const [now] = await b.getBlocks(f.ino, 0, 1);
      assert.ok(now!.version === 100 + 2 * round || now!.version === 101 + 2 * round);
      assert.equal(won.attr.generation, (await a.getattr(f.ino)).generation);
    }
    assert.deepEqual(await a.counts(), { inodes: 2, blocks: 1, bytes: 10 });
  });

  it('a hold racing an unlink, and a release racing an unlink: no file is lost while held, none is left unheld and unnamed', async () => {
    const [a, b] = await pair();
    for (let i = 0; i < 20; i++) {
      const f = await file(a, ROOT_INO, `h${i}`);
      const [held] = await Promise.allSettled([a.hold('s', f.ino), b.unlink(ROOT_INO, `h${i}`)]);
      if (held.status === 'fulfilled') {
        assert.equal((await b.getattr(f.ino)).nlink, 0, 'held: kept');
        await a.release('s', f.ino);
      }
      await expectCode(() => b.getattr(f.ino), 'NOT_FOUND');

      const g = await file(a, ROOT_INO, `r${i}`);
      await a.hold('s', g.ino);
      await Promise.all([a.release('s', g.ino), b.unlink(ROOT_INO, `r${i}`)]);
      await expectCode(() => b.getattr(g.ino), 'NOT_FOUND');
    }
    assert.deepEqual(await a.holdSessions(), []);
    assert.equal((await a.counts()).inodes, 1);
  });

  it('inode numbers and versions from two instances never repeat', async () => {
    const [a, b] = await pair();
    const inos = new Set<number>();
    const made = await Promise.all(Array.from({ length: 40 }, (_, i) => file(i % 2 === 0 ? a : b, ROOT_INO, `f${i}`)));
    for (const attr of made) inos.add(attr.ino);
    assert.equal(inos.size, 40);
    const firsts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).reserveVersions(10)));
    const sorted = [...firsts].sort((x, y) => x - y);
    sorted.forEach((first, i) => i > 0 && assert.ok(first >= sorted[i - 1]! + 10, 'disjoint ranges'));
  });
});

describe('etcd: fencing', () => {
  const etcdEngine = ENGINES.find((e) => e.name === 'etcd')!;

  it('without a fence a store that requires one refuses every change; reads work', async () => {
    const store = (await etcdEngine.open({ requireFence: true })) as EtcdMetaStore;
    await expectCode(() => store.mkdir(ROOT_INO, 'd', 0o755, alice), 'NOT_LEADER');
    await expectCode(() => store.reserveVersions(1), 'NOT_LEADER');
    await expectCode(() => store.markAccess(ROOT_INO, { sec: 1, nsec: 0 }), 'NOT_LEADER');
    assert.equal((await store.getattr(ROOT_INO)).nlink, 2);
    assert.deepEqual(await store.counts(), { inodes: 1, blocks: 0, bytes: 0 });
  });

  it('commits under a live election key; once its lease is revoked every change is NOT_LEADER and nothing changes', async () => {
    const prefix = `/conformance/${process.pid}/fence-${++prefixes}/`;
    const store = (await etcdEngine.open({ prefix, requireFence: true })) as EtcdMetaStore;
    const client = new Etcd3({ hosts: [etcd!.clientUrl] });
    try {
      const lease = client.lease(30, { autoKeepAlive: true });
      const key = `/conformance/${process.pid}/election-${prefixes}`;
      await lease.put(key).value('leader');
      const createRevision = (await client.get(key).exec()).kvs[0]!.create_revision;
      store.setFence({ key, createRevision });

      const d = await store.mkdir(ROOT_INO, 'd', 0o755, alice);
      const f = await file(store, d.ino, 'f');
      await file(store, d.ino, 'g');
      await store.mkdir(ROOT_INO, 'e', 0o755, alice);
      await store.commitBlocks({ ino: f.ino, blocks: [block(0, 5, 10)], sizeBytes: 10, time: { sec: 2, nsec: 0 } });
      await store.setxattr(f.ino, 'user.k', new Uint8Array([1]), 0);
      await store.hold('m', f.ino);
      const snapshot = async () => ({
        root: await store.readdir(ROOT_INO, 0, 100),
        d: await store.readdir(d.ino, 0, 100),
        f: await store.getattr(f.ino),
        dir: await store.getattr(d.ino),
        blocks: await store.getBlocks(f.ino, 0, 10),
        xattrs: await store.listxattr(f.ino),
        counts: await store.counts(),
        sessions: await store.holdSessions(),
      });
      const before = await snapshot();

      await lease.revoke();
      const refused: Array<[string, () => Promise<unknown>]> = [
        ['create', () => file(store, d.ino, 'new')],
        ['mkdir', () => store.mkdir(d.ino, 'new', 0o755, alice)],
        ['symlink', () => store.symlink(d.ino, 'new', 't', alice)],
        ['link', () => store.link(f.ino, d.ino, 'new')],
        ['unlink', () => store.unlink(d.ino, 'g')],
        ['rmdir', () => store.rmdir(ROOT_INO, 'e')],
        ['rmdir of a non-empty directory', () => store.rmdir(ROOT_INO, 'd')],
        ['rename', () => store.rename(d.ino, 'g', ROOT_INO, 'g2', 0)],
        ['setattr', () => store.setattr(f.ino, { mode: 0o600 }, { sec: 3, nsec: 0 })],
        ['commitBlocks', () => store.commitBlocks({ ino: f.ino, blocks: [block(1, 6, 10)], sizeBytes: BLOCK + 10, time: { sec: 3, nsec: 0 } })],
        ['reserveVersions', () => store.reserveVersions(5)],
        ['setxattr', () => store.setxattr(f.ino, 'user.j', new Uint8Array([2]), 0)],
        ['removexattr', () => store.removexattr(f.ino, 'user.k')],
        ['markAccess', () => store.markAccess(f.ino, { sec: 99_999, nsec: 0 })],
        ['hold', () => store.hold('m2', f.ino)],
        ['release', () => store.release('m', f.ino)],
        ['setHolds', () => store.setHolds('m', [])],
      ];
      for (const [what, call] of refused) {
        await assert.rejects(call, (err: unknown) => err instanceof QfsError && err.code === 'NOT_LEADER', what);
      }
      assert.deepEqual(await snapshot(), before, 'nothing changed');

      // The same key made again by another campaign is another leader's: still refused.
      await client.put(key).value('someone else');
      await expectCode(() => store.mkdir(d.ino, 'new', 0o755, alice), 'NOT_LEADER');
      const again = (await client.get(key).exec()).kvs[0]!.create_revision;
      store.setFence({ key, createRevision: again });
      assert.equal((await store.mkdir(d.ino, 'new', 0o755, alice)).nlink, 2);
      store.setFence(undefined);
      await expectCode(() => store.mkdir(d.ino, 'newer', 0o755, alice), 'NOT_LEADER');
    } finally {
      client.close();
    }
  });

  it('a deleted fence key refuses changes of a store that does not require a fence but was given one', async () => {
    const store = (await etcdEngine.open({})) as EtcdMetaStore;
    const client = new Etcd3({ hosts: [etcd!.clientUrl] });
    try {
      const key = `/conformance/${process.pid}/plain-key-${++prefixes}`;
      await client.put(key).value('x');
      store.setFence({ key, createRevision: (await client.get(key).exec()).kvs[0]!.create_revision });
      await store.mkdir(ROOT_INO, 'a', 0o755, alice);
      await client.delete().key(key);
      await expectCode(() => store.mkdir(ROOT_INO, 'b', 0o755, alice), 'NOT_LEADER');
      await expectCode(() => store.lookup(ROOT_INO, 'b'), 'NOT_FOUND');
      assert.equal((await store.lookup(ROOT_INO, 'a')).nlink, 2);
    } finally {
      client.close();
    }
  });
});
