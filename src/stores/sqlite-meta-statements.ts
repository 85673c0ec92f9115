// Every SQL statement of SqliteMetaStore, prepared once per connection, with the row shapes
// they return and the mapping between an inode row and InodeAttr. No logic beyond mapping:
// the store decides, these statements only read and write rows.

import type Database from 'better-sqlite3';
import type { InodeAttr } from '../common/types.js';

interface InodeRow {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  rdev: number;
  atime_sec: number;
  atime_nsec: number;
  mtime_sec: number;
  mtime_nsec: number;
  ctime_sec: number;
  ctime_nsec: number;
  generation: number;
}

export interface EntryRow {
  id: number;
  ino: number;
}

/** Names, symlink targets and xattr names are BLOBs (schema version 3): the exact bytes, compared
 * bytewise; the store converts at each statement with common/name-bytes.ts. */
interface PageRow {
  id: number;
  name: Buffer;
  ino: number;
  mode: number;
}

interface BlockRow {
  ino: number;
  idx: number;
  version: number;
  checksum: string;
  length_bytes: number;
}

type NewInodeRow = Omit<InodeRow, 'ino'> & { target: Buffer | null };

export function rowToAttr(row: InodeRow): InodeAttr {
  return {
    ino: row.ino,
    mode: row.mode,
    uid: row.uid,
    gid: row.gid,
    size: row.size,
    nlink: row.nlink,
    rdev: row.rdev,
    atime: { sec: row.atime_sec, nsec: row.atime_nsec },
    mtime: { sec: row.mtime_sec, nsec: row.mtime_nsec },
    ctime: { sec: row.ctime_sec, nsec: row.ctime_nsec },
    generation: row.generation,
  };
}

export function attrToRow(attr: InodeAttr): InodeRow {
  return {
    ino: attr.ino,
    mode: attr.mode,
    uid: attr.uid,
    gid: attr.gid,
    size: attr.size,
    nlink: attr.nlink,
    rdev: attr.rdev,
    atime_sec: attr.atime.sec,
    atime_nsec: attr.atime.nsec,
    mtime_sec: attr.mtime.sec,
    mtime_nsec: attr.mtime.nsec,
    ctime_sec: attr.ctime.sec,
    ctime_nsec: attr.ctime.nsec,
    generation: attr.generation,
  };
}

/** The row of a new inode: no ino yet (SQLite assigns it), and its symlink target if any. */
export function newInodeRow(attr: InodeAttr, target: Buffer | null): NewInodeRow {
  const { ino: _assignedBySqlite, ...row } = attrToRow(attr);
  return { ...row, target };
}

const INODE_COLUMNS = `ino, mode, uid, gid, size, nlink, rdev, atime_sec, atime_nsec, mtime_sec, mtime_nsec,
  ctime_sec, ctime_nsec, generation`;

/** Prepares every statement; `db` must already hold the current schema. */
export function prepareStatements(db: Database.Database) {
  return {
    inodeGet: db.prepare<[number], InodeRow>(`SELECT ${INODE_COLUMNS} FROM inodes WHERE ino = ?`),
    inodeTarget: db.prepare<[number], { target: Buffer | null }>(`SELECT target FROM inodes WHERE ino = ?`),
    inodeInsert: db.prepare<[NewInodeRow]>(
      `INSERT INTO inodes (mode, uid, gid, size, nlink, rdev, atime_sec, atime_nsec, mtime_sec, mtime_nsec,
         ctime_sec, ctime_nsec, generation, target)
       VALUES (@mode, @uid, @gid, @size, @nlink, @rdev, @atime_sec, @atime_nsec, @mtime_sec, @mtime_nsec,
         @ctime_sec, @ctime_nsec, @generation, @target)`,
    ),
    inodeUpdate: db.prepare<[InodeRow]>(
      `UPDATE inodes SET mode = @mode, uid = @uid, gid = @gid, size = @size, nlink = @nlink, rdev = @rdev,
         atime_sec = @atime_sec, atime_nsec = @atime_nsec, mtime_sec = @mtime_sec, mtime_nsec = @mtime_nsec,
         ctime_sec = @ctime_sec, ctime_nsec = @ctime_nsec, generation = @generation
       WHERE ino = @ino`,
    ),
    inodeDelete: db.prepare<[number]>(`DELETE FROM inodes WHERE ino = ?`),
    // Unlinked and held by no session: left by a version 2 run (its holds were not durable).
    inodesUnlinked: db.prepare<[], { ino: number }>(
      `SELECT ino FROM inodes i WHERE nlink = 0 AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.ino = i.ino) ORDER BY ino`,
    ),
    // Totals kept by the triggers of schema version 2: one row each, never a scan.
    inodeCount: db.prepare<[], { n: number }>(`SELECT value AS n FROM counters WHERE name = 'inodes'`),

    entryGet: db.prepare<[number, Buffer], EntryRow>(`SELECT id, ino FROM entries WHERE parent = ? AND name = ?`),
    entryInsert: db.prepare<[number, Buffer, number]>(`INSERT INTO entries (parent, name, ino) VALUES (?, ?, ?)`),
    entryDelete: db.prepare<[number]>(`DELETE FROM entries WHERE id = ?`),
    entrySetIno: db.prepare<[number, number]>(`UPDATE entries SET ino = ? WHERE id = ?`),
    entryParentOf: db.prepare<[number], { parent: number }>(`SELECT parent FROM entries WHERE ino = ? LIMIT 1`),
    entryAny: db.prepare<[number], { id: number }>(`SELECT id FROM entries WHERE parent = ? LIMIT 1`),
    entryPage: db.prepare<[number, number, number], PageRow>(
      `SELECT e.id AS id, e.name AS name, e.ino AS ino, i.mode AS mode
       FROM entries e JOIN inodes i ON i.ino = e.ino
       WHERE e.parent = ? AND e.id > ? ORDER BY e.id LIMIT ?`,
    ),

    blockVersion: db.prepare<[number, number], { version: number }>(`SELECT version FROM blocks WHERE ino = ? AND idx = ?`),
    blockUpsert: db.prepare<[BlockRow]>(
      `INSERT INTO blocks (ino, idx, version, checksum, length_bytes)
       VALUES (@ino, @idx, @version, @checksum, @length_bytes)
       ON CONFLICT (ino, idx) DO UPDATE SET
         version = excluded.version, checksum = excluded.checksum, length_bytes = excluded.length_bytes`,
    ),
    blocksRange: db.prepare<[number, number, number, number], BlockRow>(
      `SELECT ino, idx, version, checksum, length_bytes FROM blocks WHERE ino = ? AND idx >= ? AND idx < ? ORDER BY idx LIMIT ?`,
    ),
    blocksFrom: db.prepare<[number, number], { idx: number; version: number }>(
      `SELECT idx, version FROM blocks WHERE ino = ? AND idx >= ? ORDER BY idx`,
    ),
    blocksDeleteFrom: db.prepare<[number, number]>(`DELETE FROM blocks WHERE ino = ? AND idx >= ?`),
    blocksAfter: db.prepare<[number, number, number], BlockRow>(
      `SELECT ino, idx, version, checksum, length_bytes FROM blocks
       WHERE (ino, idx) > (?, ?) ORDER BY ino, idx LIMIT ?`,
    ),
    blockTotals: db.prepare<[], { n: number; bytes: number }>(
      `SELECT (SELECT value FROM counters WHERE name = 'blocks') AS n, (SELECT value FROM counters WHERE name = 'block_bytes') AS bytes`,
    ),

    xattrGet: db.prepare<[number, Buffer], { value: Buffer }>(`SELECT value FROM xattrs WHERE ino = ? AND name = ?`),
    xattrUpsert: db.prepare<[number, Buffer, Buffer]>(
      `INSERT INTO xattrs (ino, name, value) VALUES (?, ?, ?)
       ON CONFLICT (ino, name) DO UPDATE SET value = excluded.value`,
    ),
    xattrDelete: db.prepare<[number, Buffer]>(`DELETE FROM xattrs WHERE ino = ? AND name = ?`),
    xattrDeleteAll: db.prepare<[number]>(`DELETE FROM xattrs WHERE ino = ?`),
    xattrNames: db.prepare<[number], { name: Buffer }>(`SELECT name FROM xattrs WHERE ino = ? ORDER BY name`),

    versionBump: db.prepare<[number], { value: number }>(
      `UPDATE counters SET value = value + ? WHERE name = 'next_version' RETURNING value`,
    ),

    holdAny: db.prepare<[number], { one: number }>(`SELECT 1 AS one FROM holds WHERE ino = ? LIMIT 1`),
    holdAdd: db.prepare<[string, number]>(`INSERT INTO holds (session, ino) VALUES (?, ?) ON CONFLICT DO NOTHING`),
    holdDelete: db.prepare<[string, number]>(`DELETE FROM holds WHERE session = ? AND ino = ?`),
    holdsOf: db.prepare<[string], { ino: number }>(`SELECT ino FROM holds WHERE session = ? ORDER BY ino`),
    holdSessions: db.prepare<[number], { session: string }>(`SELECT DISTINCT session FROM holds ORDER BY session LIMIT ?`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
