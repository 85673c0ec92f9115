// Unit tests of SqliteMetaStore: every method, every error code it promises, nlink bookkeeping,
// rename cases, truncation and commit orphans, holds, and what survives a close and reopen.
// In-memory stores with a fake clock, plus a few on-disk ones in a temporary directory.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
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
import { SqliteMetaStore } from '../../src/stores/sqlite-meta-store.js';
import { SCHEMA_V1, TOTALS_V2, SCHEMA_VERSION } from '../../src/stores/sqlite-schema.js';

const BLOCK = limits.blockSizeBytes;
const alice: Caller = { uid: 1000, gid: 100 };

/** A store on ':memory:' whose clock advances one second per reading, so every change has its own time. */
function memoryStore(): { store: SqliteMetaStore; lastTime: () => Timespec } {
  let sec = 1_000;
  const clock = (): Timespec => ({ sec: ++sec, nsec: 500 });
  return { store: SqliteMetaStore.open(':memory:', { clock }), lastTime: () => ({ sec, nsec: 500 }) };
}

function expectCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof QfsError, `expected a QfsError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

function file(store: SqliteMetaStore, parent: number, name: string, mode = 0o644) {
  return store.create({ parent, name, mode: S_IFREG | mode, caller: alice, exclusive: true });
}

function block(index: number, version: number, lengthBytes = BLOCK): BlockRef {
  return { index, version, checksum: checksumOf(new Uint8Array([index, version])), lengthBytes };
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qfs-meta-unit-'));
  tempDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('open', () => {
  it('creates the root directory', () => {
    const { store } = memoryStore();
    const root = store.getattr(ROOT_INO);
    assert.equal(root.mode, S_IFDIR | 0o755);
    assert.deepEqual([root.uid, root.gid, root.nlink], [0, 0, 2]);
    assert.deepEqual(
      store.readdir(ROOT_INO, 0, 10).map((e) => [e.name, e.ino, e.cookie]),
      [['.', 1, 1], ['..', 1, 2]],
    );
    assert.equal(store.lookup(ROOT_INO, '..').ino, ROOT_INO);
  });

  it('uses a real clock with nanoseconds by default', () => {
    const store = SqliteMetaStore.open(':memory:');
    const { mtime } = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    assert.ok(Math.abs(mtime.sec - Date.now() / 1000) < 5);
    assert.ok(Number.isInteger(mtime.nsec) && mtime.nsec >= 0 && mtime.nsec < 1e9);
  });

  it('refuses a bad clock reading and bad inode numbers before changing anything', () => {
    const store = SqliteMetaStore.open(':memory:', { clock: () => ({ sec: 1, nsec: 1e9 }) });
    expectCode(() => store.mkdir(ROOT_INO, 'd', 0o755, alice), 'INVALID');
    assert.equal(store.counts().inodes, 1);
    expectCode(() => store.getattr(1.5), 'INVALID');
    expectCode(() => store.getattr(-1), 'INVALID');
  });

  it('keeps its totals by triggers, and counts them once when it opens a version 1 database', () => {
    const dir = tempDir();
    const path = join(dir, 'v1.db');
    // A version 1 database, as the first release wrote it: two files, three blocks.
    const v1 = new Database(path);
    v1.exec(SCHEMA_V1);
    v1.exec(`INSERT INTO inodes VALUES (1, ${0o40755}, 0, 0, 0, 2, 0, 1, 0, 1, 0, 1, 0, 1, NULL),
      (2, ${0o100644}, 0, 0, 300, 1, 0, 1, 0, 1, 0, 1, 0, 1, NULL), (3, ${0o100644}, 0, 0, 50, 1, 0, 1, 0, 1, 0, 1, 0, 1, NULL)`);
    v1.exec(`INSERT INTO entries (parent, name, ino) VALUES (1, 'a', 2), (1, 'b', 3)`);
    v1.exec(`INSERT INTO blocks VALUES (2, 0, 5, '${checksumOf(Buffer.from('x'))}', 100), (2, 1, 6, '${checksumOf(Buffer.from('y'))}', 200),
      (3, 0, 7, '${checksumOf(Buffer.from('z'))}', 50)`);
    v1.pragma('user_version = 1');
    v1.close();
    const store = SqliteMetaStore.open(path);
    assert.deepEqual(store.counts(), { inodes: 3, blocks: 3, bytes: 350 });
    // From here on the triggers keep them: add, resize, remove.
    const c = file(store, ROOT_INO, 'c');
    store.commitBlocks({ ino: c.ino, blocks: [block(0, 8, 10)], sizeBytes: 10, time: { sec: 2, nsec: 0 } });
    store.commitBlocks({ ino: c.ino, blocks: [block(0, 9, 20)], sizeBytes: 20, time: { sec: 3, nsec: 0 } });
    assert.deepEqual(store.counts(), { inodes: 4, blocks: 4, bytes: 370 });
    store.unlink(ROOT_INO, 'a');
    assert.deepEqual(store.counts(), { inodes: 3, blocks: 2, bytes: 70 });
    store.close();
    const raw = new Database(path);
    assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const scan = raw.prepare(`SELECT (SELECT count(*) FROM inodes) AS inodes, (SELECT count(*) FROM blocks) AS blocks, (SELECT sum(length_bytes) FROM blocks) AS bytes`).get();
    raw.close();
    assert.deepEqual(scan, { inodes: 3, blocks: 2, bytes: 70 });
  });

  it('refuses a newer schema and a foreign database', () => {
    const dir = tempDir();
    const path = join(dir, 'meta.db');
    SqliteMetaStore.open(path).close();
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    expectCode(() => SqliteMetaStore.open(path), 'NOT_SUPPORTED');
    const foreign = new Database(join(dir, 'other.db'));
    foreign.exec('CREATE TABLE t (x)');
    foreign.close();
    expectCode(() => SqliteMetaStore.open(join(dir, 'other.db')), 'NOT_SUPPORTED');
  });
});

describe('names', () => {
  it('rejects malformed and over-long names', () => {
    const { store } = memoryStore();
    expectCode(() => file(store, ROOT_INO, ''), 'INVALID');
    expectCode(() => file(store, ROOT_INO, 'a/b'), 'INVALID');
    expectCode(() => file(store, ROOT_INO, 'a\0b'), 'INVALID');
    expectCode(() => file(store, ROOT_INO, 'é'.repeat(128)), 'NAME_TOO_LONG'); // 256 bytes
    assert.equal(file(store, ROOT_INO, 'é'.repeat(127) + 'x').nlink, 1); // 255 bytes
    expectCode(() => store.lookup(ROOT_INO, 'x'.repeat(256)), 'NAME_TOO_LONG');
  });

  it("treats '.' and '..' as existing names", () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    for (const name of ['.', '..']) {
      expectCode(() => file(store, ROOT_INO, name), 'EXISTS');
      expectCode(() => store.mkdir(ROOT_INO, name, 0o755, alice), 'EXISTS');
      expectCode(() => store.symlink(ROOT_INO, name, 't', alice), 'EXISTS');
      expectCode(() => store.link(f.ino, ROOT_INO, name), 'EXISTS');
    }
  });

  it('checks the parent: NOT_FOUND and NOT_DIR', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    expectCode(() => file(store, 999, 'x'), 'NOT_FOUND');
    expectCode(() => file(store, f.ino, 'x'), 'NOT_DIR');
    expectCode(() => store.mkdir(f.ino, 'x', 0o755, alice), 'NOT_DIR');
    expectCode(() => store.lookup(f.ino, 'x'), 'NOT_DIR');
    expectCode(() => store.lookup(ROOT_INO, 'missing'), 'NOT_FOUND');
    expectCode(() => store.getattr(999), 'NOT_FOUND');
  });
});

describe('create, mkdir, symlink', () => {
  it('creates a file owned by the caller and touches the parent', () => {
    const { store, lastTime } = memoryStore();
    const before = store.getattr(ROOT_INO);
    const f = file(store, ROOT_INO, 'f', 0o640);
    const now = lastTime();
    assert.equal(f.mode, S_IFREG | 0o640);
    assert.deepEqual([f.uid, f.gid, f.nlink, f.size], [1000, 100, 1, 0]);
    assert.deepEqual([f.atime, f.mtime, f.ctime], [now, now, now]);
    const root = store.getattr(ROOT_INO);
    assert.deepEqual([root.mtime, root.ctime, root.nlink], [now, now, 2]);
    assert.ok(root.generation > before.generation);
    assert.deepEqual(store.lookup(ROOT_INO, 'f'), f);
  });

  it('allocates inode numbers that only grow', () => {
    const { store } = memoryStore();
    const a = file(store, ROOT_INO, 'a');
    store.unlink(ROOT_INO, 'a');
    const b = file(store, ROOT_INO, 'b');
    assert.ok(b.ino > a.ino);
  });

  it('exclusive create fails on an existing name; otherwise returns the file', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.mkdir(ROOT_INO, 'd', 0o755, alice);
    expectCode(() => file(store, ROOT_INO, 'f'), 'EXISTS');
    const again = store.create({ parent: ROOT_INO, name: 'f', mode: S_IFREG | 0o600, caller: alice, exclusive: false });
    assert.deepEqual(again, f);
    const reopen = (name: string) => () => store.create({ parent: ROOT_INO, name, mode: S_IFREG, caller: alice, exclusive: false });
    expectCode(reopen('d'), 'IS_DIR');
  });

  it('makes special files and refuses directory or symlink types', () => {
    const { store } = memoryStore();
    const fifo = store.create({ parent: ROOT_INO, name: 'p', mode: S_IFIFO | 0o600, caller: alice, exclusive: true });
    assert.equal(fifo.mode & S_IFMT, S_IFIFO);
    const make = (name: string, mode: number, rdev?: number) =>
      store.create({ parent: ROOT_INO, name, mode, rdev, caller: alice, exclusive: true });
    assert.equal(make('c', S_IFCHR | 0o600, 0x0103).rdev, 0x0103);
    assert.equal(make('r', 0o600).mode, S_IFREG | 0o600);
    expectCode(() => make('x', S_IFDIR | 0o755), 'INVALID');
    expectCode(() => make('x', S_IFLNK | 0o777), 'INVALID');
  });

  it('mkdir counts links: 2 for the new directory, +1 for the parent', () => {
    const { store } = memoryStore();
    const d = store.mkdir(ROOT_INO, 'd', 0o4755, alice);
    assert.equal(d.mode, S_IFDIR | 0o755, 'setuid is not kept by mkdir');
    assert.equal(d.nlink, 2);
    assert.equal(store.getattr(ROOT_INO).nlink, 3);
    store.mkdir(d.ino, 'e', 0o700, alice);
    assert.equal(store.getattr(d.ino).nlink, 3);
    assert.equal(store.lookup(d.ino, '..').ino, ROOT_INO);
    assert.equal(store.lookup(d.ino, '.').ino, d.ino);
  });

  it('a setgid directory passes on its gid, and its setgid bit to subdirectories', () => {
    const { store } = memoryStore();
    const d = store.mkdir(ROOT_INO, 'shared', 0o775, alice);
    store.setattr(d.ino, { mode: 0o2775, gid: 50 }, { sec: 5, nsec: 0 });
    const f = file(store, d.ino, 'f');
    assert.equal(f.gid, 50);
    assert.equal(f.mode, S_IFREG | 0o644);
    const sub = store.mkdir(d.ino, 'sub', 0o755, alice);
    assert.equal(sub.gid, 50);
    assert.equal(sub.mode, S_IFDIR | 0o2755);
    const plain = file(store, ROOT_INO, 'g');
    assert.equal(plain.gid, alice.gid);
  });

  it('symlink stores its target; size is its byte length', () => {
    const { store } = memoryStore();
    const target = '../dé/x';
    const l = store.symlink(ROOT_INO, 'l', target, alice);
    assert.equal(l.mode, S_IFLNK | 0o777);
    assert.equal(l.size, Buffer.byteLength(target));
    assert.equal(store.readlink(l.ino), target);
    assert.equal(store.symlink(ROOT_INO, 'long', 'x'.repeat(limits.maxSymlinkBytes), alice).size, limits.maxSymlinkBytes);
    expectCode(() => store.symlink(ROOT_INO, 'l2', 'x'.repeat(limits.maxSymlinkBytes + 1), alice), 'NAME_TOO_LONG');
    expectCode(() => store.symlink(ROOT_INO, 'l3', '', alice), 'NOT_FOUND');
    expectCode(() => store.symlink(ROOT_INO, 'l', 'y', alice), 'EXISTS');
    expectCode(() => store.readlink(file(store, ROOT_INO, 'f').ino), 'INVALID');
    expectCode(() => store.readlink(999), 'NOT_FOUND');
  });
});

describe('link and unlink', () => {
  it('link adds a name: nlink +1, ctime of the inode, mtime of the parent', () => {
    const { store, lastTime } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const linked = store.link(f.ino, d.ino, 'g');
    const now = lastTime();
    assert.equal(linked.nlink, 2);
    assert.deepEqual(linked.ctime, now);
    assert.deepEqual(store.getattr(d.ino).mtime, now);
    assert.equal(store.lookup(d.ino, 'g').ino, f.ino);
  });

  it('link errors: PERMISSION for directories, EXISTS, NOT_FOUND', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    expectCode(() => store.link(d.ino, ROOT_INO, 'd2'), 'PERMISSION');
    expectCode(() => store.link(f.ino, ROOT_INO, 'd'), 'EXISTS');
    expectCode(() => store.link(999, ROOT_INO, 'x'), 'NOT_FOUND');
    expectCode(() => store.link(f.ino, 999, 'x'), 'NOT_FOUND');
    expectCode(() => store.link(f.ino, f.ino, 'x'), 'NOT_DIR');
  });

  it('unlink drops a link; the last one frees the inode and returns its blocks', () => {
    const { store, lastTime } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.link(f.ino, ROOT_INO, 'g');
    const blocks = [block(0, 7), block(1, 8, 10)];
    store.commitBlocks({ ino: f.ino, blocks, sizeBytes: BLOCK + 10, time: { sec: 9, nsec: 0 } });
    const first = store.unlink(ROOT_INO, 'f');
    assert.equal(first.attr.nlink, 1);
    assert.deepEqual(first.attr.ctime, lastTime());
    assert.deepEqual(first.orphans, []);
    assert.deepEqual(store.getattr(ROOT_INO).mtime, lastTime());
    const last = store.unlink(ROOT_INO, 'g');
    assert.equal(last.attr.nlink, 0);
    assert.deepEqual(last.orphans, [
      { ino: f.ino, index: 0, version: 7 },
      { ino: f.ino, index: 1, version: 8 },
    ]);
    expectCode(() => store.getattr(f.ino), 'NOT_FOUND');
    assert.deepEqual(store.counts(), { inodes: 1, blocks: 0, bytes: 0 });
  });

  it('unlink errors: IS_DIR, NOT_FOUND', () => {
    const { store } = memoryStore();
    store.mkdir(ROOT_INO, 'd', 0o755, alice);
    expectCode(() => store.unlink(ROOT_INO, 'd'), 'IS_DIR');
    expectCode(() => store.unlink(ROOT_INO, '.'), 'IS_DIR');
    expectCode(() => store.unlink(ROOT_INO, 'missing'), 'NOT_FOUND');
    expectCode(() => store.unlink(999, 'x'), 'NOT_FOUND');
  });
});

describe('rmdir', () => {
  it('removes an empty directory and fixes the parent link count', () => {
    const { store, lastTime } = memoryStore();
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const removed = store.rmdir(ROOT_INO, 'd');
    assert.equal(removed.attr.nlink, 0);
    assert.deepEqual(removed.orphans, []);
    const root = store.getattr(ROOT_INO);
    assert.equal(root.nlink, 2);
    assert.deepEqual(root.mtime, lastTime());
    expectCode(() => store.getattr(d.ino), 'NOT_FOUND');
  });

  it('rmdir errors: NOT_DIR, NOT_EMPTY, NOT_FOUND, and the dot names', () => {
    const { store } = memoryStore();
    file(store, ROOT_INO, 'f');
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    file(store, d.ino, 'inner');
    expectCode(() => store.rmdir(ROOT_INO, 'f'), 'NOT_DIR');
    expectCode(() => store.rmdir(ROOT_INO, 'd'), 'NOT_EMPTY');
    expectCode(() => store.rmdir(ROOT_INO, 'missing'), 'NOT_FOUND');
    expectCode(() => store.rmdir(d.ino, '.'), 'INVALID');
    expectCode(() => store.rmdir(d.ino, '..'), 'NOT_EMPTY');
  });
});

describe('block versions only grow', () => {
  it('a commit naming a version below the committed one is STALE and changes nothing; the same commit again passes', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 20_001, 5)], sizeBytes: 5, time: { sec: 9, nsec: 0 } });
    // Another writer planned from the map before that commit, from a batch of lower versions
    // (the new block 1 comes first: it must not stay when block 0 is refused).
    expectCode(() => store.commitBlocks({ ino: f.ino, blocks: [block(1, 8, 6), block(0, 7, 6)], sizeBytes: BLOCK + 6, time: { sec: 10, nsec: 0 } }), 'STALE');
    assert.deepEqual(store.getBlocks(f.ino, 0, 2).map((b) => b.version), [20_001]);
    assert.equal(store.getattr(f.ino).size, 5);
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 20_001, 5)], sizeBytes: 5, time: { sec: 9, nsec: 0 } });
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 20_002, 6)], sizeBytes: 6, time: { sec: 11, nsec: 0 } });
    assert.deepEqual(store.getBlocks(f.ino, 0, 1).map((b) => b.version), [20_002]);
  });
});

describe('hold and release', () => {
  const A = 'session-a';
  const B = 'session-b';

  it('a held file outlives its last name until its last holder releases it', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 3, 5)], sizeBytes: 5, time: { sec: 9, nsec: 0 } });
    assert.equal(store.hold(A, f.ino).ino, f.ino);
    store.hold(A, f.ino); // a set: holding twice is holding once
    store.hold(B, f.ino);
    const removed = store.unlink(ROOT_INO, 'f');
    assert.deepEqual(removed.orphans, []);
    assert.equal(store.getattr(f.ino).nlink, 0);
    expectCode(() => store.lookup(ROOT_INO, 'f'), 'NOT_FOUND');
    expectCode(() => store.link(f.ino, ROOT_INO, 'back'), 'NOT_FOUND');
    // Still writable while open.
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 4, 6)], sizeBytes: 6, time: { sec: 10, nsec: 0 } });
    assert.deepEqual(store.release(A, f.ino), []);
    assert.deepEqual(store.release(A, f.ino), []); // not held by A any more: nothing happens
    assert.equal(store.getattr(f.ino).size, 6);
    assert.deepEqual(store.release(B, f.ino), [{ ino: f.ino, index: 0, version: 4 }]);
    expectCode(() => store.getattr(f.ino), 'NOT_FOUND');
    assert.deepEqual(store.holdSessions(), []);
  });

  it('release of a linked file frees nothing; errors for missing inodes and bad sessions', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.hold(A, f.ino);
    assert.deepEqual(store.release(A, f.ino), []);
    assert.equal(store.getattr(f.ino).nlink, 1);
    expectCode(() => store.hold(A, 999), 'NOT_FOUND');
    expectCode(() => store.hold('', f.ino), 'INVALID');
    expectCode(() => store.hold('x'.repeat(limits.maxSessionIdBytes + 1), f.ino), 'INVALID');
  });

  it('create with a session holds the new (or existing) file in the same transaction', () => {
    const { store } = memoryStore();
    const f = store.create({ parent: ROOT_INO, name: 'f', mode: S_IFREG | 0o644, caller: alice, exclusive: true, session: A });
    const again = store.create({ parent: ROOT_INO, name: 'f', mode: S_IFREG | 0o644, caller: alice, exclusive: false, session: B });
    assert.equal(again.ino, f.ino);
    assert.deepEqual(store.holdSessions(), [A, B]);
    store.unlink(ROOT_INO, 'f');
    assert.deepEqual(store.setHolds(A, []), { orphans: [], missing: [] });
    assert.equal(store.getattr(f.ino).nlink, 0);
    store.setHolds(B, []);
    expectCode(() => store.getattr(f.ino), 'NOT_FOUND');
  });

  it('setHolds makes a set the whole of a session\'s holds', () => {
    const { store } = memoryStore();
    const kept = file(store, ROOT_INO, 'kept');
    const dropped = file(store, ROOT_INO, 'dropped');
    const added = file(store, ROOT_INO, 'added');
    store.commitBlocks({ ino: dropped.ino, blocks: [block(0, 7, 1)], sizeBytes: 1, time: { sec: 9, nsec: 0 } });
    store.hold(A, kept.ino);
    store.hold(A, dropped.ino);
    store.unlink(ROOT_INO, 'kept');
    store.unlink(ROOT_INO, 'dropped');
    const result = store.setHolds(A, [kept.ino, added.ino, 12345]);
    assert.deepEqual(result, { orphans: [{ ino: dropped.ino, index: 0, version: 7 }], missing: [12345] });
    assert.equal(store.getattr(kept.ino).nlink, 0);
    expectCode(() => store.getattr(dropped.ino), 'NOT_FOUND');
    store.unlink(ROOT_INO, 'added');
    assert.equal(store.getattr(added.ino).nlink, 0); // held since the setHolds
    assert.equal(store.setHolds(A, []).orphans.length, 0);
    expectCode(() => store.getattr(added.ino), 'NOT_FOUND');
    expectCode(() => store.setHolds(A, Array.from({ length: limits.maxHoldsPerSession + 1 }, (_, i) => i + 1)), 'INVALID');
  });

  it('a held directory that was removed is gone for lookups, readdir and creation', () => {
    const { store } = memoryStore();
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    store.hold(A, d.ino);
    store.rmdir(ROOT_INO, 'd');
    assert.equal(store.getattr(d.ino).nlink, 0);
    expectCode(() => store.readdir(d.ino, 0, 10), 'NOT_FOUND');
    expectCode(() => file(store, d.ino, 'x'), 'NOT_FOUND');
    store.release(A, d.ino);
    expectCode(() => store.getattr(d.ino), 'NOT_FOUND');
  });

  it('a file replaced by rename stays while held', () => {
    const { store } = memoryStore();
    const victim = file(store, ROOT_INO, 'victim');
    store.commitBlocks({ ino: victim.ino, blocks: [block(0, 2, 1)], sizeBytes: 1, time: { sec: 9, nsec: 0 } });
    file(store, ROOT_INO, 'new');
    store.hold(A, victim.ino);
    const replaced = store.rename(ROOT_INO, 'new', ROOT_INO, 'victim', 0);
    assert.deepEqual(replaced?.orphans, []);
    assert.equal(store.getattr(victim.ino).nlink, 0);
    assert.deepEqual(store.release(A, victim.ino), [{ ino: victim.ino, index: 0, version: 2 }]);
  });
});

describe('rename', () => {
  it('renames within a directory, keeping the inode', () => {
    const { store, lastTime } = memoryStore();
    const f = file(store, ROOT_INO, 'a');
    assert.equal(store.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0), null);
    const moved = store.lookup(ROOT_INO, 'b');
    assert.equal(moved.ino, f.ino);
    assert.deepEqual(moved.ctime, lastTime());
    expectCode(() => store.lookup(ROOT_INO, 'a'), 'NOT_FOUND');
  });

  it('moves a file across directories and touches both parents', () => {
    const { store, lastTime } = memoryStore();
    const src = store.mkdir(ROOT_INO, 'src', 0o755, alice);
    const dst = store.mkdir(ROOT_INO, 'dst', 0o755, alice);
    const f = file(store, src.ino, 'f');
    store.rename(src.ino, 'f', dst.ino, 'g', 0);
    const now = lastTime();
    assert.equal(store.lookup(dst.ino, 'g').ino, f.ino);
    for (const ino of [src.ino, dst.ino]) {
      const dir = store.getattr(ino);
      assert.deepEqual([dir.mtime, dir.ctime, dir.nlink], [now, now, 2]);
    }
  });

  it('moves a directory across parents: both link counts and its .. change', () => {
    const { store } = memoryStore();
    const a = store.mkdir(ROOT_INO, 'a', 0o755, alice);
    const b = store.mkdir(ROOT_INO, 'b', 0o755, alice);
    const d = store.mkdir(a.ino, 'd', 0o755, alice);
    assert.equal(store.getattr(a.ino).nlink, 3);
    store.rename(a.ino, 'd', b.ino, 'd', 0);
    assert.equal(store.getattr(a.ino).nlink, 2);
    assert.equal(store.getattr(b.ino).nlink, 3);
    assert.equal(store.lookup(d.ino, '..').ino, b.ino);
    assert.equal(store.readdir(d.ino, 0, 10)[1]?.ino, b.ino);
  });

  it('replaces a file: the old target is returned with its blocks', () => {
    const { store } = memoryStore();
    const a = file(store, ROOT_INO, 'a');
    const b = file(store, ROOT_INO, 'b');
    store.commitBlocks({ ino: b.ino, blocks: [block(0, 11, 3)], sizeBytes: 3, time: { sec: 9, nsec: 0 } });
    const replaced = store.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0);
    assert.ok(replaced);
    assert.equal(replaced.attr.ino, b.ino);
    assert.equal(replaced.attr.nlink, 0);
    assert.deepEqual(replaced.orphans, [{ ino: b.ino, index: 0, version: 11 }]);
    assert.equal(store.lookup(ROOT_INO, 'b').ino, a.ino);
    expectCode(() => store.getattr(b.ino), 'NOT_FOUND');
  });

  it('replaces a file that has another name: only its nlink drops', () => {
    const { store } = memoryStore();
    file(store, ROOT_INO, 'a');
    const b = file(store, ROOT_INO, 'b');
    store.link(b.ino, ROOT_INO, 'b2');
    const replaced = store.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0);
    assert.equal(replaced?.attr.nlink, 1);
    assert.deepEqual(replaced?.orphans, []);
    assert.equal(store.getattr(b.ino).nlink, 1);
  });

  it('replaces an empty directory; refuses a non-empty one', () => {
    const { store } = memoryStore();
    const p = store.mkdir(ROOT_INO, 'p', 0o755, alice);
    const q = store.mkdir(ROOT_INO, 'q', 0o755, alice);
    const d = store.mkdir(p.ino, 'd', 0o755, alice);
    const empty = store.mkdir(q.ino, 'empty', 0o755, alice);
    const full = store.mkdir(q.ino, 'full', 0o755, alice);
    file(store, full.ino, 'x');
    expectCode(() => store.rename(p.ino, 'd', q.ino, 'full', 0), 'NOT_EMPTY');
    const replaced = store.rename(p.ino, 'd', q.ino, 'empty', 0);
    assert.equal(replaced?.attr.ino, empty.ino);
    assert.equal(replaced?.attr.nlink, 0);
    expectCode(() => store.getattr(empty.ino), 'NOT_FOUND');
    assert.equal(store.getattr(p.ino).nlink, 2);
    assert.equal(store.getattr(q.ino).nlink, 4); // '.', its entry, 'full', the moved 'd'
    assert.equal(store.lookup(q.ino, 'empty').ino, d.ino);
    assert.equal(store.getattr(ROOT_INO).nlink, 4);
  });

  it('refuses kind mismatches: NOT_DIR and IS_DIR', () => {
    const { store } = memoryStore();
    store.mkdir(ROOT_INO, 'd', 0o755, alice);
    file(store, ROOT_INO, 'f');
    expectCode(() => store.rename(ROOT_INO, 'd', ROOT_INO, 'f', 0), 'NOT_DIR');
    expectCode(() => store.rename(ROOT_INO, 'f', ROOT_INO, 'd', 0), 'IS_DIR');
  });

  it('refuses to move a directory into its own subtree', () => {
    const { store } = memoryStore();
    const a = store.mkdir(ROOT_INO, 'a', 0o755, alice);
    const b = store.mkdir(a.ino, 'b', 0o755, alice);
    const c = store.mkdir(b.ino, 'c', 0o755, alice);
    expectCode(() => store.rename(ROOT_INO, 'a', c.ino, 'x', 0), 'INVALID');
    expectCode(() => store.rename(ROOT_INO, 'a', a.ino, 'x', 0), 'INVALID');
    // A target that is an ancestor of the source is never empty.
    expectCode(() => store.rename(b.ino, 'c', ROOT_INO, 'a', 0), 'NOT_EMPTY');
    expectCode(() => store.rename(b.ino, 'c', ROOT_INO, 'a', RENAME_EXCHANGE), 'INVALID');
    assert.equal(store.lookup(b.ino, 'c').ino, c.ino);
  });

  it('is a no-op for two names of the same inode', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.link(f.ino, ROOT_INO, 'g');
    const before = store.getattr(f.ino);
    assert.equal(store.rename(ROOT_INO, 'f', ROOT_INO, 'g', 0), null);
    assert.equal(store.rename(ROOT_INO, 'f', ROOT_INO, 'f', 0), null);
    assert.deepEqual(store.getattr(f.ino), before);
    assert.equal(store.lookup(ROOT_INO, 'f').ino, f.ino);
    assert.equal(store.lookup(ROOT_INO, 'g').ino, f.ino);
  });

  it('RENAME_NOREPLACE fails on an existing target and works on a free one', () => {
    const { store } = memoryStore();
    file(store, ROOT_INO, 'a');
    file(store, ROOT_INO, 'b');
    expectCode(() => store.rename(ROOT_INO, 'a', ROOT_INO, 'b', RENAME_NOREPLACE), 'EXISTS');
    assert.equal(store.rename(ROOT_INO, 'a', ROOT_INO, 'c', RENAME_NOREPLACE), null);
  });

  it('RENAME_EXCHANGE swaps a file and a directory across parents', () => {
    const { store, lastTime } = memoryStore();
    const p = store.mkdir(ROOT_INO, 'p', 0o755, alice);
    const q = store.mkdir(ROOT_INO, 'q', 0o755, alice);
    const d = store.mkdir(p.ino, 'd', 0o755, alice);
    const f = file(store, q.ino, 'f');
    assert.equal(store.rename(p.ino, 'd', q.ino, 'f', RENAME_EXCHANGE), null);
    assert.equal(store.lookup(p.ino, 'd').ino, f.ino);
    assert.equal(store.lookup(q.ino, 'f').ino, d.ino);
    assert.equal(store.getattr(p.ino).nlink, 2);
    assert.equal(store.getattr(q.ino).nlink, 3);
    assert.equal(store.lookup(d.ino, '..').ino, q.ino);
    assert.deepEqual(store.getattr(f.ino).ctime, lastTime());
    assert.deepEqual(store.getattr(d.ino).ctime, lastTime());
    expectCode(() => store.rename(p.ino, 'd', q.ino, 'missing', RENAME_EXCHANGE), 'NOT_FOUND');
  });

  it('RENAME_EXCHANGE of two directories keeps link counts', () => {
    const { store } = memoryStore();
    const p = store.mkdir(ROOT_INO, 'p', 0o755, alice);
    const q = store.mkdir(ROOT_INO, 'q', 0o755, alice);
    const a = store.mkdir(p.ino, 'a', 0o755, alice);
    const b = store.mkdir(q.ino, 'b', 0o755, alice);
    store.rename(p.ino, 'a', q.ino, 'b', RENAME_EXCHANGE);
    assert.deepEqual([store.getattr(p.ino).nlink, store.getattr(q.ino).nlink], [3, 3]);
    assert.equal(store.lookup(a.ino, '..').ino, q.ino);
    assert.equal(store.lookup(b.ino, '..').ino, p.ino);
  });

  it('rename errors: NOT_FOUND source, dot names, bad flags', () => {
    const { store } = memoryStore();
    file(store, ROOT_INO, 'a');
    expectCode(() => store.rename(ROOT_INO, 'missing', ROOT_INO, 'b', 0), 'NOT_FOUND');
    expectCode(() => store.rename(ROOT_INO, '.', ROOT_INO, 'b', 0), 'INVALID');
    expectCode(() => store.rename(ROOT_INO, 'a', ROOT_INO, '..', 0), 'INVALID');
    expectCode(() => store.rename(ROOT_INO, 'a', ROOT_INO, 'b', 3), 'INVALID');
    expectCode(() => store.rename(ROOT_INO, 'a', 999, 'b', 0), 'NOT_FOUND');
  });
});

describe('setattr', () => {
  const at = (sec: number): Timespec => ({ sec, nsec: 7 });

  it('changes mode bits, owner and times; ctime is now', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const req = { mode: S_IFDIR | 0o4711, uid: 5, gid: 6, atime: at(10), mtime: 'now' as const };
    const { attr, orphans } = store.setattr(f.ino, req, at(50));
    assert.deepEqual(orphans, []);
    assert.equal(attr.mode, S_IFREG | 0o4711, 'type bits are kept');
    assert.deepEqual([attr.uid, attr.gid], [5, 6]);
    assert.deepEqual([attr.atime, attr.mtime, attr.ctime], [at(10), at(50), at(50)]);
    assert.equal(attr.generation, f.generation + 1);
    assert.deepEqual(store.getattr(f.ino), attr);
  });

  it('takes an explicit ctime; an empty request changes nothing', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    assert.deepEqual(store.setattr(f.ino, { ctime: at(3) }, at(50)).attr.ctime, at(3));
    const unchanged = store.getattr(f.ino);
    assert.deepEqual(store.setattr(f.ino, {}, at(60)).attr, unchanged);
  });

  it('truncation drops whole blocks past the end and keeps the straddling one as is', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 1), block(1, 2), block(2, 3)], sizeBytes: 3 * BLOCK, time: at(5) });
    const { attr, orphans } = store.setattr(f.ino, { size: BLOCK + BLOCK / 2 }, at(50));
    assert.deepEqual(orphans, [{ ino: f.ino, index: 2, version: 3 }]);
    assert.equal(attr.size, BLOCK + BLOCK / 2);
    assert.deepEqual([attr.mtime, attr.ctime], [at(50), at(50)]);
    assert.deepEqual(store.getBlocks(f.ino, 0, 10).map((b) => [b.index, b.lengthBytes]), [[0, BLOCK], [1, BLOCK]]);
    // A boundary keeps exactly the blocks below it.
    assert.deepEqual(store.setattr(f.ino, { size: BLOCK }, at(51)).orphans, [{ ino: f.ino, index: 1, version: 2 }]);
    assert.deepEqual(store.setattr(f.ino, { size: 0 }, at(52)).orphans, [{ ino: f.ino, index: 0, version: 1 }]);
    assert.deepEqual(store.counts().blocks, 0);
  });

  it('growing only changes size; an explicit mtime wins over the truncate mtime', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const grown = store.setattr(f.ino, { size: 10 * BLOCK, mtime: at(2) }, at(50));
    assert.deepEqual(grown.orphans, []);
    assert.equal(grown.attr.size, 10 * BLOCK);
    assert.deepEqual(grown.attr.mtime, at(2));
  });

  it('only regular files change size', () => {
    const { store } = memoryStore();
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const l = store.symlink(ROOT_INO, 'l', 't', alice);
    expectCode(() => store.setattr(d.ino, { size: 0 }, at(1)), 'IS_DIR');
    expectCode(() => store.setattr(l.ino, { size: 0 }, at(1)), 'INVALID');
    expectCode(() => store.setattr(999, { mode: 0o600 }, at(1)), 'NOT_FOUND');
    expectCode(() => store.setattr(d.ino, { size: -1 }, at(1)), 'INVALID');
    expectCode(() => store.setattr(d.ino, { atime: { sec: 1, nsec: 1e9 } }, at(1)), 'INVALID');
  });
});

describe('readdir', () => {
  it('pages with cookies that survive other entries coming and going', () => {
    const { store } = memoryStore();
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    for (const name of ['a', 'b', 'c', 'e']) file(store, d.ino, name);
    const first = store.readdir(d.ino, 0, 3);
    assert.deepEqual(first.map((e) => e.name), ['.', '..', 'a']);
    store.unlink(d.ino, 'a');
    store.unlink(d.ino, 'c');
    file(store, d.ino, 'z');
    const rest = store.readdir(d.ino, first[2]?.cookie ?? -1, 10);
    assert.deepEqual(rest.map((e) => e.name), ['b', 'e', 'z']);
    assert.deepEqual(store.readdir(d.ino, rest[2]?.cookie ?? -1, 10), []);
    assert.deepEqual(store.readdir(d.ino, 1, 1).map((e) => e.name), ['..']);
    assert.equal(rest[0]?.mode, S_IFREG | 0o644);
  });

  it('reads a large directory in full pages', () => {
    const { store } = memoryStore();
    for (let i = 0; i < 50; i++) file(store, ROOT_INO, `f${i}`);
    const names: string[] = [];
    let cookie = 0;
    for (;;) {
      const page = store.readdir(ROOT_INO, cookie, 7);
      if (page.length === 0) break;
      names.push(...page.map((e) => e.name));
      cookie = page[page.length - 1]?.cookie ?? -1;
    }
    assert.equal(names.length, 52);
    assert.equal(new Set(names).size, 52);
  });

  it('errors: NOT_DIR, NOT_FOUND, bad limit', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    expectCode(() => store.readdir(f.ino, 0, 10), 'NOT_DIR');
    expectCode(() => store.readdir(999, 0, 10), 'NOT_FOUND');
    expectCode(() => store.readdir(ROOT_INO, 0, 0), 'INVALID');
  });
});

describe('block maps', () => {
  const t = (sec: number): Timespec => ({ sec, nsec: 0 });

  it('commitBlocks upserts, returns replaced versions, grows size, sets times', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const blocks = [block(0, 1), block(1, 2, 100)];
    const first = store.commitBlocks({ ino: f.ino, blocks, sizeBytes: BLOCK + 100, time: t(20) });
    assert.deepEqual(first.orphans, []);
    assert.equal(first.attr.size, BLOCK + 100);
    assert.deepEqual([first.attr.mtime, first.attr.ctime], [t(20), t(20)]);
    const second = store.commitBlocks({ ino: f.ino, blocks: [block(0, 5), block(1, 2, 100)], sizeBytes: 10, time: t(21) });
    assert.deepEqual(second.orphans, [{ ino: f.ino, index: 0, version: 1 }], 'same version is not an orphan');
    assert.equal(second.attr.size, BLOCK + 100, 'size only grows here');
    assert.deepEqual(store.getBlocks(f.ino, 0, 2), [block(0, 5), block(1, 2, 100)]);
    assert.deepEqual(store.getBlocks(f.ino, 1, 2), [block(1, 2, 100)]);
    assert.deepEqual(store.counts(), { inodes: 2, blocks: 2, bytes: BLOCK + 100 });
  });

  it('commitBlocks on a removed inode is NOT_FOUND and changes nothing', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.unlink(ROOT_INO, 'f');
    const before = store.counts();
    expectCode(() => store.commitBlocks({ ino: f.ino, blocks: [block(0, 1)], sizeBytes: BLOCK, time: t(1) }), 'NOT_FOUND');
    assert.deepEqual(store.counts(), before);
  });

  it('commitBlocks with an expectation commits only on the size and versions expected', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const made = store.commitBlocks({ ino: f.ino, blocks: [block(0, 1, 100)], sizeBytes: 100, time: t(1) });
    // As expected: committed, and the replaced version is an orphan.
    const ok = store.commitBlocks({
      ino: f.ino,
      blocks: [block(0, 2, 200)],
      sizeBytes: 200,
      time: t(2),
      expect: { sizeBytes: 100, blocks: [{ index: 0, version: 1 }, { index: 1, version: 0 }] },
    });
    assert.deepEqual(ok.orphans, [{ ino: f.ino, index: 0, version: 1 }]);
    assert.equal(ok.attr.size, 200);
    // Planned from a state that is no longer the inode's: STALE, and nothing changes.
    const before = store.getattr(f.ino);
    const stale = (expect: { sizeBytes: number; blocks: Array<{ index: number; version: number }> }) => () =>
      store.commitBlocks({ ino: f.ino, blocks: [block(0, 3, 300), block(1, 4, 10)], sizeBytes: BLOCK + 10, time: t(3), expect });
    expectCode(stale({ sizeBytes: 100, blocks: [] }), 'STALE'); // the size it knew
    expectCode(stale({ sizeBytes: 200, blocks: [{ index: 0, version: 1 }] }), 'STALE'); // a replaced version
    expectCode(stale({ sizeBytes: 200, blocks: [{ index: 0, version: 0 }] }), 'STALE'); // a block it thought a hole
    expectCode(stale({ sizeBytes: 200, blocks: [{ index: 0, version: 2 }, { index: 5, version: 9 }] }), 'STALE'); // one of several
    assert.deepEqual(store.getattr(f.ino), before, 'size, times and generation unchanged');
    assert.deepEqual(store.getBlocks(f.ino, 0, 10), [block(0, 2, 200)]);
    assert.deepEqual(store.counts(), { inodes: 2, blocks: 1, bytes: 200 });
    assert.ok(made.attr.generation < before.generation);
  });

  it('commitBlocks with an expectation lets a repeat of a commit already made through', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const req = { ino: f.ino, blocks: [block(0, 7, 50)], sizeBytes: 50, time: t(1), expect: { sizeBytes: 0, blocks: [] } };
    store.commitBlocks(req);
    // A duplicated request arriving again: its blocks are the map's, so nothing is orphaned.
    const again = store.commitBlocks(req);
    assert.deepEqual(again.orphans, []);
    assert.deepEqual(store.getBlocks(f.ino, 0, 1), [block(0, 7, 50)]);
    // Once a later commit replaced its block, the repeat is stale, not a rollback.
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 8, 60)], sizeBytes: 60, time: t(2) });
    expectCode(() => store.commitBlocks(req), 'STALE');
    assert.deepEqual(store.getBlocks(f.ino, 0, 1), [block(0, 8, 60)]);
  });

  it('commitBlocks validates its expectation', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const commit = (expect: { sizeBytes: number; blocks: Array<{ index: number; version: number }> }) => () =>
      store.commitBlocks({ ino: f.ino, blocks: [block(0, 1, 1)], sizeBytes: 1, time: t(1), expect });
    expectCode(commit({ sizeBytes: -1, blocks: [] }), 'INVALID');
    expectCode(commit({ sizeBytes: 0, blocks: [{ index: 0, version: 0 }, { index: 0, version: 0 }] }), 'INVALID');
    expectCode(commit({ sizeBytes: 0, blocks: [{ index: 0.5, version: 0 }] }), 'INVALID');
    assert.equal(store.counts().blocks, 0);
  });

  it('commitBlocks validates its request', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const many = Array.from({ length: limits.maxBlocksPerCall + 1 }, (_, i) => block(i, 1));
    const commit = (ino: number, blocks: BlockRef[], sizeBytes: number) => () =>
      store.commitBlocks({ ino, blocks, sizeBytes, time: t(1) });
    expectCode(commit(f.ino, many, many.length * BLOCK), 'INVALID');
    expectCode(commit(f.ino, [block(0, 1), block(0, 2)], BLOCK), 'INVALID');
    expectCode(commit(f.ino, [block(1, 1)], BLOCK), 'INVALID'); // ends past the size
    expectCode(commit(f.ino, [{ ...block(0, 1), checksum: 'nope' }], BLOCK), 'INVALID');
    expectCode(commit(f.ino, [block(0, 0)], BLOCK), 'INVALID');
    expectCode(commit(f.ino, [block(0, 1, BLOCK + 1)], 2 * BLOCK), 'INVALID');
    expectCode(commit(d.ino, [block(0, 1)], BLOCK), 'IS_DIR');
    assert.equal(store.counts().blocks, 0);
  });

  it('getBlocks checks its range and pages a wide one', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    expectCode(() => store.getBlocks(f.ino, 5, 4), 'INVALID');
    expectCode(() => store.getBlocks(999, 0, 1), 'NOT_FOUND');
    assert.deepEqual(store.getBlocks(f.ino, 0, 10 * limits.maxBlocksPerCall), []);
    // A sparse file: every third block of 2.5 pages' worth; pages skip the holes.
    const count = Math.floor(2.5 * limits.maxBlocksPerCall);
    for (let first = 0; first < count; first += limits.maxBlocksPerCall) {
      const blocks = Array.from({ length: Math.min(limits.maxBlocksPerCall, count - first) }, (_, i) => block(3 * (first + i), 1));
      store.commitBlocks({ ino: f.ino, blocks, sizeBytes: 3 * count * BLOCK, time: t(1) });
    }
    const seen: number[] = [];
    for (let from = 0; ; ) {
      const page = store.getBlocks(f.ino, from, Number.MAX_SAFE_INTEGER);
      assert.ok(page.length <= limits.maxBlocksPerCall);
      seen.push(...page.map((b) => b.index));
      if (page.length < limits.maxBlocksPerCall) break;
      from = page[page.length - 1]!.index + 1;
    }
    assert.deepEqual(seen, Array.from({ length: count }, (_, i) => 3 * i));
    assert.deepEqual(store.committedVersions([{ ino: f.ino, index: 3 }, { ino: f.ino, index: 4 }, { ino: 999, index: 0 }]), [1, 0, 0]);
  });

  it('listBlocks walks every block in (ino, index) order', () => {
    const { store } = memoryStore();
    const a = file(store, ROOT_INO, 'a');
    const b = file(store, ROOT_INO, 'b');
    store.commitBlocks({ ino: b.ino, blocks: [block(1, 3), block(0, 4)], sizeBytes: 2 * BLOCK, time: t(1) });
    store.commitBlocks({ ino: a.ino, blocks: [block(0, 5), block(2, 6)], sizeBytes: 3 * BLOCK, time: t(1) });
    const seen: Array<[number, number]> = [];
    let after: [number, number] = [0, 0];
    for (;;) {
      const page = store.listBlocks(after[0], after[1], 3);
      if (page.length === 0) break;
      for (const ref of page) seen.push([ref.ino, ref.index]);
      const last = page[page.length - 1];
      after = last === undefined ? after : [last.ino, last.index];
    }
    assert.deepEqual(seen, [[a.ino, 0], [a.ino, 2], [b.ino, 0], [b.ino, 1]]);
    expectCode(() => store.listBlocks(0, 0, 0), 'INVALID');
  });

  it('reserveVersions hands out consecutive, disjoint ranges', () => {
    const { store } = memoryStore();
    assert.equal(store.reserveVersions(10), 1);
    assert.equal(store.reserveVersions(1), 11);
    assert.equal(store.reserveVersions(limits.versionReserveBatch), 12);
    expectCode(() => store.reserveVersions(0), 'INVALID');
    expectCode(() => store.reserveVersions(limits.versionReserveBatch + 1), 'INVALID');
  });
});

describe('xattrs', () => {
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

  it('set, get, list, remove; ctime changes', () => {
    const { store, lastTime } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.setxattr(f.ino, 'user.b', bytes('two'), 0);
    store.setxattr(f.ino, 'user.a', bytes('one'), 0);
    assert.deepEqual(store.getattr(f.ino).ctime, lastTime());
    assert.deepEqual(store.getxattr(f.ino, 'user.a'), bytes('one'));
    assert.deepEqual(store.listxattr(f.ino), ['user.a', 'user.b']);
    store.setxattr(f.ino, 'user.a', bytes('uno'), 2);
    assert.deepEqual(store.getxattr(f.ino, 'user.a'), bytes('uno'));
    store.setxattr(f.ino, 'user.empty', new Uint8Array(0), 1);
    assert.deepEqual(store.getxattr(f.ino, 'user.empty'), new Uint8Array(0));
    store.removexattr(f.ino, 'user.b');
    assert.deepEqual(store.getattr(f.ino).ctime, lastTime());
    assert.deepEqual(store.listxattr(f.ino), ['user.a', 'user.empty']);
  });

  it('errors: EXISTS, NO_DATA, limits, NOT_FOUND', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.setxattr(f.ino, 'user.a', bytes('1'), 0);
    expectCode(() => store.setxattr(f.ino, 'user.a', bytes('2'), 1), 'EXISTS');
    expectCode(() => store.setxattr(f.ino, 'user.new', bytes('2'), 2), 'NO_DATA');
    expectCode(() => store.getxattr(f.ino, 'user.none'), 'NO_DATA');
    expectCode(() => store.removexattr(f.ino, 'user.none'), 'NO_DATA');
    expectCode(() => store.setxattr(f.ino, 'user.big', new Uint8Array(limits.maxXattrValueBytes + 1), 0), 'INVALID');
    expectCode(() => store.setxattr(f.ino, 'u'.repeat(limits.maxXattrNameBytes + 1), bytes('x'), 0), 'INVALID');
    expectCode(() => store.setxattr(f.ino, 'user.a', bytes('x'), 3), 'INVALID');
    expectCode(() => store.getxattr(999, 'user.a'), 'NOT_FOUND');
    store.setxattr(f.ino, 'user.max', new Uint8Array(limits.maxXattrValueBytes), 0);
  });

  it('go away with their inode', () => {
    const { store } = memoryStore();
    const f = file(store, ROOT_INO, 'f');
    store.setxattr(f.ino, 'user.a', bytes('1'), 0);
    store.unlink(ROOT_INO, 'f');
    const g = file(store, ROOT_INO, 'g');
    assert.deepEqual(store.listxattr(g.ino), []);
  });
});

describe('statfs and counts', () => {
  it('reports sizes in blocks and inode counts', () => {
    const { store } = memoryStore();
    file(store, ROOT_INO, 'f');
    const fs = store.statfs();
    assert.equal(fs.blockSizeBytes, BLOCK);
    assert.equal(fs.maxNameBytes, 255);
    assert.ok(fs.totalBlocks > 0 && fs.availBlocks <= fs.freeBlocks && fs.freeBlocks <= fs.totalBlocks);
    assert.equal(fs.totalInodes - fs.freeInodes, 2);
    assert.deepEqual(store.counts(), { inodes: 2, blocks: 0, bytes: 0 });
  });

  it('reads the disk of an on-disk store', () => {
    const store = SqliteMetaStore.open(join(tempDir(), 'meta.db'));
    const fs = store.statfs();
    assert.ok(fs.totalBlocks > 0 && fs.availBlocks <= fs.totalBlocks);
    store.close();
  });
});

describe('on disk', () => {
  it('keeps everything across close and reopen; inode numbers and versions never repeat', () => {
    const path = join(tempDir(), 'meta.db');
    const store = SqliteMetaStore.open(path);
    const d = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    const f = file(store, d.ino, 'f');
    store.symlink(d.ino, 'l', 'f', alice);
    store.setxattr(f.ino, 'user.k', new Uint8Array([1, 2]), 0);
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 9, 4)], sizeBytes: 4, time: { sec: 3, nsec: 4 } });
    const last = file(store, ROOT_INO, 'last');
    store.unlink(ROOT_INO, 'last');
    const firstVersions = store.reserveVersions(100);
    const attr = store.getattr(f.ino);
    store.close();

    const again = SqliteMetaStore.open(path);
    assert.deepEqual(again.getattr(f.ino), attr);
    assert.equal(again.lookup(d.ino, 'f').ino, f.ino);
    assert.equal(again.readlink(again.lookup(d.ino, 'l').ino), 'f');
    assert.deepEqual(again.getxattr(f.ino, 'user.k'), new Uint8Array([1, 2]));
    assert.deepEqual(again.getBlocks(f.ino, 0, 1), [block(0, 9, 4)]);
    assert.equal(again.getattr(ROOT_INO).nlink, 3);
    assert.ok(file(again, ROOT_INO, 'new').ino > last.ino);
    assert.ok(again.reserveVersions(1) >= firstVersions + 100);
    assert.deepEqual(again.takeStartupOrphans(), []);
    again.close();
  });

  it('marks a read access as relatime does: only when atime is not after mtime or ctime, or a day old; ctime kept', () => {
    const store = SqliteMetaStore.open(join(tempDir(), 'meta.db'));
    const f = file(store, ROOT_INO, 'f'); // atime = mtime = ctime: due
    assert.equal(store.markAccess(f.ino, { sec: f.ctime.sec + 5, nsec: 0 }), true);
    const marked = store.getattr(f.ino);
    assert.deepEqual(marked.atime, { sec: f.ctime.sec + 5, nsec: 0 });
    assert.deepEqual(marked.ctime, f.ctime, 'ctime kept');
    assert.equal(store.markAccess(f.ino, { sec: f.ctime.sec + 60, nsec: 0 }), false, 'atime after mtime and ctime, less than a day old');
    assert.equal(store.markAccess(f.ino, { sec: f.ctime.sec + 5 + 86_400, nsec: 0 }), true, 'a day later');
    expectCode(() => store.markAccess(999_999, { sec: 1, nsec: 0 }), 'NOT_FOUND');
    store.close();
  });

  it("commits a read's access mark without a sync of its own, and syncs every other change", () => {
    const path = join(tempDir(), 'meta.db');
    const store = SqliteMetaStore.open(path);
    const synchronous = (): unknown => (store as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true });
    const f = file(store, ROOT_INO, 'f');
    const seen: unknown[] = [];
    const db = (store as unknown as { db: Database.Database }).db;
    const pragma = db.pragma.bind(db);
    db.pragma = ((source: string, options?: Database.PragmaOptions) => {
      if (/^synchronous\s*=/.test(source)) seen.push(source);
      return pragma(source, options);
    }) as typeof db.pragma;
    store.setattr(f.ino, { atime: { sec: 7, nsec: 0 }, ctime: f.ctime }, { sec: 8, nsec: 0 });
    assert.deepEqual(seen, ['synchronous = NORMAL', 'synchronous = FULL'], 'the mark alone, then back to FULL');
    store.setattr(f.ino, { atime: { sec: 9, nsec: 0 } }, { sec: 9, nsec: 0 }); // touch -a: ctime changes, synced
    store.setattr(f.ino, { atime: { sec: 10, nsec: 0 }, ctime: f.ctime, mode: 0o600 }, { sec: 10, nsec: 0 });
    assert.equal(seen.length, 2, 'no other change is unsynced');
    assert.equal(synchronous(), 2, 'FULL');
    store.setattr(f.ino, { atime: { sec: 11, nsec: 0 }, ctime: f.ctime }, { sec: 11, nsec: 0 });
    store.close();
    const again = SqliteMetaStore.open(path);
    assert.deepEqual(again.getattr(f.ino).atime, { sec: 11, nsec: 0 });
    again.close();
  });

  it('keeps holds, and the unlinked files they keep, across close and reopen', () => {
    const path = join(tempDir(), 'meta.db');
    const store = SqliteMetaStore.open(path);
    const f = file(store, ROOT_INO, 'f');
    store.commitBlocks({ ino: f.ino, blocks: [block(0, 21, 4)], sizeBytes: 4, time: { sec: 3, nsec: 4 } });
    store.hold('mount-1', f.ino);
    store.unlink(ROOT_INO, 'f');
    store.close(); // as if the metadata server died with the file open on a mount

    const again = SqliteMetaStore.open(path);
    assert.equal(again.getattr(f.ino).nlink, 0);
    assert.deepEqual(again.getBlocks(f.ino, 0, 1), [block(0, 21, 4)]);
    assert.deepEqual(again.takeStartupOrphans(), []);
    assert.deepEqual(again.holdSessions(), ['mount-1']);
    assert.deepEqual(again.setHolds('mount-1', []).orphans, [{ ino: f.ino, index: 0, version: 21 }]);
    assert.deepEqual(again.counts(), { inodes: 1, blocks: 0, bytes: 0 });
    again.close();
  });

  it('migrates a version 2 database: unlinked inodes its temporary holds kept are deleted once, holds then work', () => {
    const path = join(tempDir(), 'v2.db');
    // A version 2 database whose server died with inode 3 unlinked but open (held in TEMP).
    const v2 = new Database(path);
    v2.exec(SCHEMA_V1);
    v2.exec(TOTALS_V2);
    v2.exec(`INSERT INTO inodes VALUES (1, ${0o40755}, 0, 0, 0, 2, 0, 1, 0, 1, 0, 1, 0, 1, NULL),
      (2, ${0o100644}, 0, 0, 10, 1, 0, 1, 0, 1, 0, 1, 0, 1, NULL), (3, ${0o100644}, 0, 0, 5, 0, 0, 1, 0, 1, 0, 1, 0, 1, NULL)`);
    v2.exec(`INSERT INTO entries (parent, name, ino) VALUES (1, 'a', 2)`);
    v2.exec(`INSERT INTO blocks VALUES (2, 0, 5, '${checksumOf(Buffer.from('x'))}', 10), (3, 0, 6, '${checksumOf(Buffer.from('y'))}', 5)`);
    v2.pragma('user_version = 2');
    v2.close();

    const store = SqliteMetaStore.open(path);
    assert.deepEqual(store.takeStartupOrphans(), [{ ino: 3, index: 0, version: 6 }]);
    assert.deepEqual(store.counts(), { inodes: 2, blocks: 1, bytes: 10 });
    assert.deepEqual(store.holdSessions(), []);
    store.hold('m', 2);
    store.unlink(ROOT_INO, 'a');
    store.close();
    const raw = new Database(path);
    assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.deepEqual(raw.prepare(`SELECT session, ino FROM holds`).all(), [{ session: 'm', ino: 2 }]);
    raw.close();
    const again = SqliteMetaStore.open(path);
    assert.equal(again.getattr(2).nlink, 0);
    assert.deepEqual(again.release('m', 2), [{ ino: 2, index: 0, version: 5 }]);
    again.close();
  });
});
