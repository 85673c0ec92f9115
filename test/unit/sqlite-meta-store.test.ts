// Unit tests of what only SqliteMetaStore has: its schema versions and migrations, its on-disk
// sync and reopen, its totals kept by triggers. Everything the MetaStore contract promises of
// every engine is in test/integration/meta-store-conformance.test.ts, run against this one too.

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
  ROOT_INO,
  S_IFREG,
  type BlockRef,
  type Caller,
} from '../../src/common/types.js';
import { SqliteMetaStore } from '../../src/stores/sqlite-meta-store.js';
import { SCHEMA_V1, TOTALS_V2, SCHEMA_VERSION } from '../../src/stores/sqlite-schema.js';

const BLOCK = limits.blockSizeBytes;
const alice: Caller = { uid: 1000, gid: 100 };

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
  it('uses a real clock with nanoseconds by default', () => {
    const store = SqliteMetaStore.open(':memory:');
    const { mtime } = store.mkdir(ROOT_INO, 'd', 0o755, alice);
    assert.ok(Math.abs(mtime.sec - Date.now() / 1000) < 5);
    assert.ok(Number.isInteger(mtime.nsec) && mtime.nsec >= 0 && mtime.nsec < 1e9);
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

describe('statfs', () => {
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
