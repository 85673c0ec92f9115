// The on-disk format of the SQLite metadata store and how a database is opened. The format
// version lives in PRAGMA user_version; a database newer than this code is refused, never read
// or written. Files are opened in WAL mode with synchronous=FULL, so a committed transaction
// survives kill -9 and power loss. A new database gets the root directory, inode 1.

import Database from 'better-sqlite3';
import { qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { ROOT_INO, S_IFDIR, type Timespec } from '../common/types.js';

export const SCHEMA_VERSION = 4;

export const SCHEMA_V1 = `
CREATE TABLE inodes (
  ino INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: an inode number is never reused
  mode INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  size INTEGER NOT NULL,
  nlink INTEGER NOT NULL,
  rdev INTEGER NOT NULL,
  atime_sec INTEGER NOT NULL,
  atime_nsec INTEGER NOT NULL,
  mtime_sec INTEGER NOT NULL,
  mtime_nsec INTEGER NOT NULL,
  ctime_sec INTEGER NOT NULL,
  ctime_nsec INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  target TEXT -- a symlink's target; NULL for every other type
);
-- Unlinked inodes kept only while open; found at open without a full scan.
CREATE INDEX inodes_unlinked ON inodes (ino) WHERE nlink = 0;

CREATE TABLE entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT, -- readdir cookie = id + 2; never reused, so cookies stay valid
  parent INTEGER NOT NULL REFERENCES inodes (ino),
  name TEXT NOT NULL,
  ino INTEGER NOT NULL REFERENCES inodes (ino),
  UNIQUE (parent, name)
);
CREATE INDEX entries_by_parent ON entries (parent); -- (parent, id) order for readdir pages
CREATE INDEX entries_by_ino ON entries (ino); -- a directory's parent, for '..' and loop checks

CREATE TABLE blocks (
  ino INTEGER NOT NULL REFERENCES inodes (ino),
  idx INTEGER NOT NULL,
  version INTEGER NOT NULL,
  checksum TEXT NOT NULL,
  length_bytes INTEGER NOT NULL,
  PRIMARY KEY (ino, idx)
) WITHOUT ROWID;

CREATE TABLE xattrs (
  ino INTEGER NOT NULL REFERENCES inodes (ino),
  name TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (ino, name)
) WITHOUT ROWID;

CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('next_version', 1);
`;

/** Version 2: the totals status shows (inodes, blocks, block bytes) kept by triggers in the
 * counters table, so reading them costs one row, not a scan of every block. A v1 database gets
 * them counted once, in the migration. */
export const TOTALS_V2 = `
INSERT INTO counters (name, value) VALUES
  ('inodes', (SELECT count(*) FROM inodes)),
  ('blocks', (SELECT count(*) FROM blocks)),
  ('block_bytes', (SELECT coalesce(sum(length_bytes), 0) FROM blocks));
CREATE TRIGGER inodes_added AFTER INSERT ON inodes BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'inodes';
END;
CREATE TRIGGER inodes_removed AFTER DELETE ON inodes BEGIN
  UPDATE counters SET value = value - 1 WHERE name = 'inodes';
END;
CREATE TRIGGER blocks_added AFTER INSERT ON blocks BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'blocks';
  UPDATE counters SET value = value + NEW.length_bytes WHERE name = 'block_bytes';
END;
CREATE TRIGGER blocks_removed AFTER DELETE ON blocks BEGIN
  UPDATE counters SET value = value - 1 WHERE name = 'blocks';
  UPDATE counters SET value = value - OLD.length_bytes WHERE name = 'block_bytes';
END;
CREATE TRIGGER blocks_resized AFTER UPDATE OF length_bytes ON blocks WHEN NEW.length_bytes <> OLD.length_bytes BEGIN
  UPDATE counters SET value = value + NEW.length_bytes - OLD.length_bytes WHERE name = 'block_bytes';
END;
`;

/** Version 3: names are bytes, as in Linux (any but '/' and NUL, not necessarily UTF-8), so
 * entry and xattr names are BLOBs, compared and kept unique bytewise; symlink targets are stored
 * as BLOBs too. Earlier versions kept them as TEXT, i.e. as their UTF-8 bytes, which
 * CAST(... AS BLOB) keeps unchanged. `entries` and `xattrs` are rebuilt so their columns say
 * BLOB; entries keep their ids (readdir cookies) and the id sequence, so no cookie is reused.
 * `inodes` is not rebuilt (every table refers to it): its target column keeps its TEXT
 * declaration, whose affinity leaves BLOB values as they are. */
const NAMES_AS_BYTES_V3 = `
CREATE TABLE entries_v3 (
  id INTEGER PRIMARY KEY AUTOINCREMENT, -- readdir cookie = id + 2; never reused, so cookies stay valid
  parent INTEGER NOT NULL REFERENCES inodes (ino),
  name BLOB NOT NULL, -- the name's bytes
  ino INTEGER NOT NULL REFERENCES inodes (ino),
  UNIQUE (parent, name)
);
INSERT INTO entries_v3 (id, parent, name, ino) SELECT id, parent, CAST(name AS BLOB), ino FROM entries;
CREATE TEMP TABLE entries_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'entries';
DROP TABLE entries;
ALTER TABLE entries_v3 RENAME TO entries;
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM temp.entries_seq))
  WHERE name = 'entries' AND EXISTS (SELECT 1 FROM temp.entries_seq);
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'entries', seq FROM temp.entries_seq WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'entries');
DROP TABLE temp.entries_seq;
CREATE INDEX entries_by_parent ON entries (parent); -- (parent, id) order for readdir pages
CREATE INDEX entries_by_ino ON entries (ino); -- a directory's parent, for '..' and loop checks

CREATE TABLE xattrs_v3 (
  ino INTEGER NOT NULL REFERENCES inodes (ino),
  name BLOB NOT NULL, -- the xattr name's bytes
  value BLOB NOT NULL,
  PRIMARY KEY (ino, name)
) WITHOUT ROWID;
INSERT INTO xattrs_v3 (ino, name, value) SELECT ino, CAST(name AS BLOB), value FROM xattrs;
DROP TABLE xattrs;
ALTER TABLE xattrs_v3 RENAME TO xattrs;

UPDATE inodes SET target = CAST(target AS BLOB) WHERE target IS NOT NULL;
`;

/** Version 4: holds on open inodes, durable and keyed by the holder's session (one per mount),
 * so a file unlinked while open somewhere outlives a metadata-server restart; the mediator drops
 * the holds of a session that is gone. Versions up to 3 kept them in a TEMP table, so an
 * older database has none to carry over. */
const HOLDS_V4 = `
CREATE TABLE holds (
  session TEXT NOT NULL,
  ino INTEGER NOT NULL REFERENCES inodes (ino),
  PRIMARY KEY (session, ino)
) WITHOUT ROWID;
CREATE INDEX holds_by_ino ON holds (ino); -- is an inode held by anyone
`;

function configure(db: Database.Database, path: string): void {
  db.pragma('foreign_keys = ON');
  db.pragma('temp_store = MEMORY');
  db.pragma(`busy_timeout = ${limits.sqliteBusyTimeoutMs}`);
  if (path === ':memory:') return;
  const journal = db.pragma('journal_mode = WAL', { simple: true });
  if (journal !== 'wal') throw qfsError('INTERNAL', `metadata store at ${path} refused WAL mode (got ${String(journal)})`);
  db.pragma('synchronous = FULL');
}

function createSchema(db: Database.Database, path: string, now: Timespec): void {
  const tables = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM sqlite_master`).get();
  if (tables !== undefined && tables.n > 0) throw qfsError('NOT_SUPPORTED', `${path} is not a quorumfs metadata store`);
  db.exec(SCHEMA_V1);
  db.exec(TOTALS_V2);
  db.exec(NAMES_AS_BYTES_V3);
  db.exec(HOLDS_V4);
  db.prepare(
    `INSERT INTO inodes (ino, mode, uid, gid, size, nlink, rdev, atime_sec, atime_nsec, mtime_sec, mtime_nsec,
       ctime_sec, ctime_nsec, generation, target)
     VALUES (?, ?, 0, 0, 0, 2, 0, ?, ?, ?, ?, ?, ?, 1, NULL)`,
  ).run(ROOT_INO, S_IFDIR | 0o755, now.sec, now.nsec, now.sec, now.nsec, now.sec, now.nsec);
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
}

/** Brings the schema to SCHEMA_VERSION in one transaction; refuses a newer one. */
function migrate(db: Database.Database, path: string, now: Timespec): void {
  const version = Number(db.pragma('user_version', { simple: true }));
  if (version > SCHEMA_VERSION) {
    const why = `has schema version ${version}; this build reads up to ${SCHEMA_VERSION}`;
    throw qfsError('NOT_SUPPORTED', `metadata store ${path} ${why}`);
  }
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    if (version === 0) createSchema(db, path, now);
    else {
      if (version < 2) db.exec(TOTALS_V2);
      if (version < 3) db.exec(NAMES_AS_BYTES_V3);
      if (version < 4) db.exec(HOLDS_V4);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
  }).immediate();
}

/** Opens (creating if needed) a metadata database. path ':memory:' gives a private in-memory one. */
export function openDatabase(path: string, now: Timespec): Database.Database {
  const db = new Database(path, { timeout: limits.sqliteBusyTimeoutMs });
  try {
    configure(db, path);
    migrate(db, path, now);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
