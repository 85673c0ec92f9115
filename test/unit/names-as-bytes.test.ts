// Names are bytes (issue 12, part 5): the lossless string form of common/name-bytes.ts, names on
// the wire (str when text, bin otherwise), the SQLite store keeping and comparing the exact bytes,
// and the schema migration from version 2 (TEXT names) to version 3 (BLOB names).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { QfsError, type ErrorCode } from '../../src/common/errors.js';
import { nameByteLength, nameFromBytes, nameToBytes } from '../../src/common/name-bytes.js';
import { ROOT_INO, S_IFREG, type Caller } from '../../src/common/types.js';
import { FRAME_REQUEST, FrameDecoder, encodeFrame } from '../../src/protocol/frame-codec.js';
import { namespaceMethods } from '../../src/protocol/meta-messages.js';
import { invalidateEvent } from '../../src/protocol/mediator-messages.js';
import { namesToWire } from '../../src/protocol/wire-names.js';
import { SqliteMetaStore } from '../../src/stores/sqlite-meta-store.js';
import { SCHEMA_V1, SCHEMA_VERSION, TOTALS_V2 } from '../../src/stores/sqlite-schema.js';

const alice: Caller = { uid: 1000, gid: 100 };
const bytes = (...b: number[]): Buffer => Buffer.from(b);
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Names Linux accepts and a text-only path would mangle or merge. */
const NAMES: Record<string, Buffer> = {
  ffFe: bytes(0xff, 0xfe),
  latin1Cafe: bytes(0x63, 0x61, 0x66, 0xe9),
  loneContinuation: bytes(0x61, 0x80, 0x62),
  overlongSlash: bytes(0xc0, 0xaf),
  overlongNul: bytes(0xc0, 0x80),
  surrogateHalf: bytes(0xed, 0xa0, 0x80),
  truncatedEuro: bytes(0xe2, 0x82),
  aboveMax: bytes(0xf4, 0x90, 0x80, 0x80),
  replacementChar: utf8('\uFFFD'), // must stay apart from the invalid names above
  controls: utf8('a\nb\tc\\d'),
  nfc: utf8('caf\u00e9'),
  nfd: utf8('cafe\u0301'),
  emoji: utf8('\u{1F600}x'),
  escapedLooking: utf8('\\xff'),
  highBytes255: Buffer.alloc(255, 0xfe),
};

function expectCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => err instanceof QfsError && err.code === code);
}

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('name-bytes', () => {
  it('round-trips any bytes exactly, and maps distinct bytes to distinct strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.uint8Array({ minLength: 0, maxLength: 40 }), (a, b) => {
        const sa = nameFromBytes(a);
        assert.deepEqual(nameToBytes(sa), Buffer.from(a));
        assert.equal(nameByteLength(sa), a.length);
        assert.equal(sa === nameFromBytes(b), Buffer.from(a).equals(Buffer.from(b)));
      }),
      { seed: 125, numRuns: 2_000 },
    );
  });

  it('decodes valid UTF-8 as text and escapes only the bytes of invalid sequences', () => {
    assert.equal(nameFromBytes(NAMES.nfc!), 'caf\u00e9');
    assert.equal(nameFromBytes(NAMES.emoji!), '\u{1F600}x');
    assert.equal(nameFromBytes(NAMES.latin1Cafe!), 'caf\uDCE9');
    assert.equal(nameFromBytes(NAMES.surrogateHalf!), '\uDCED\uDCA0\uDC80');
    assert.equal(nameFromBytes(bytes(0xf0, 0x9f, 0x98, 0x80, 0xff)), '\u{1F600}\uDCFF');
    // A string name means its UTF-8 bytes; a lone surrogate that is no escape becomes U+FFFD.
    assert.deepEqual(nameToBytes('caf\u00e9'), NAMES.nfc);
    assert.deepEqual(nameToBytes('a\uD800b'), utf8('a\uFFFDb'));
  });
});

describe('names on the wire', () => {
  it('sends text names as str and other names as bin, and decodes both to the same string', () => {
    const latin = nameFromBytes(NAMES.latin1Cafe!);
    const args = { oldParent: 1, oldName: latin, newParent: 1, newName: 'plain', flags: 0 };
    const wire = namesToWire(args) as Record<string, unknown>;
    assert.deepEqual(wire['oldName'], NAMES.latin1Cafe);
    assert.equal(wire['newName'], 'plain');
    const plain = { parent: 1, name: 'text only' };
    assert.equal(namesToWire(plain), plain, 'a message of text names is packed as it is');

    const frames = new FrameDecoder().push(encodeFrame(FRAME_REQUEST, { args: wire }));
    const header = frames[0]!.header as { args: unknown };
    assert.ok((header.args as Record<string, unknown>)['oldName'] instanceof Uint8Array, 'bin on the wire');
    assert.deepEqual(namespaceMethods.rename.args(header.args, 'args'), args);
  });

  it('carries invalid names in readdir pages, symlink targets and invalidation events', () => {
    const name = nameFromBytes(NAMES.ffFe!);
    const page = { entries: [{ name, ino: 5, mode: S_IFREG, cookie: 3 }, { name: 'ok', ino: 6, mode: S_IFREG, cookie: 4 }] };
    const back = new FrameDecoder().push(encodeFrame(FRAME_REQUEST, namesToWire(page)))[0]!.header;
    assert.deepEqual(namespaceMethods.readdir.result(back, 'result'), page);
    const link = { target: nameFromBytes(bytes(0x2e, 0x2e, 0x2f, 0xe9)) };
    const linkBack = new FrameDecoder().push(encodeFrame(FRAME_REQUEST, namesToWire(link)))[0]!.header;
    assert.deepEqual(namespaceMethods.readlink.result(linkBack, 'result'), link);
    const event = { inodes: [1], entries: [{ parent: 1, name }] };
    const eventBack = new FrameDecoder().push(encodeFrame(FRAME_REQUEST, namesToWire(event)))[0]!.header;
    assert.deepEqual(invalidateEvent(eventBack, 'event'), event);
  });

  it('refuses an oversized bin name', () => {
    assert.throws(() => namespaceMethods.lookup.args({ parent: 1, name: Buffer.alloc(255 * 4 + 1, 0xff) }, 'args'));
  });
});

describe('the SQLite store keeps names as bytes', () => {
  it('creates, looks up, lists, renames, links and unlinks every kind of name exactly', () => {
    const store = SqliteMetaStore.open(':memory:');
    const inodes = new Map<string, number>();
    for (const [key, raw] of Object.entries(NAMES)) {
      const attr = store.create({ parent: ROOT_INO, name: nameFromBytes(raw), mode: S_IFREG | 0o644, caller: alice, exclusive: true });
      inodes.set(key, attr.ino);
    }
    // Distinct bytes are distinct names: NFC and NFD, U+FFFD and the invalid ones.
    assert.equal(new Set(inodes.values()).size, Object.keys(NAMES).length);
    for (const [key, raw] of Object.entries(NAMES)) {
      assert.equal(store.lookup(ROOT_INO, nameFromBytes(raw)).ino, inodes.get(key), key);
    }
    const listed = store.readdir(ROOT_INO, 2, 1000).map((e) => nameToBytes(e.name).toString('hex')).sort();
    assert.deepEqual(listed, Object.values(NAMES).map((b) => b.toString('hex')).sort());

    const from = nameFromBytes(NAMES.ffFe!);
    const to = nameFromBytes(bytes(0xfe, 0xff, 0x0a));
    store.rename(ROOT_INO, from, ROOT_INO, to, 0);
    expectCode(() => store.lookup(ROOT_INO, from), 'NOT_FOUND');
    assert.equal(store.lookup(ROOT_INO, to).ino, inodes.get('ffFe'));
    const linked = store.link(inodes.get('latin1Cafe')!, ROOT_INO, nameFromBytes(bytes(0xe9)));
    assert.equal(linked.nlink, 2);
    store.unlink(ROOT_INO, nameFromBytes(NAMES.latin1Cafe!));
    assert.equal(store.lookup(ROOT_INO, nameFromBytes(bytes(0xe9))).nlink, 1);
    expectCode(() => store.create({ parent: ROOT_INO, name: nameFromBytes(NAMES.nfd!), mode: S_IFREG, caller: alice, exclusive: true }), 'EXISTS');
    store.close();
  });

  it('counts bytes against NAME_MAX: 255 high bytes fit, 256 do not', () => {
    const store = SqliteMetaStore.open(':memory:');
    store.mkdir(ROOT_INO, nameFromBytes(Buffer.alloc(255, 0xff)), 0o755, alice);
    expectCode(() => store.mkdir(ROOT_INO, nameFromBytes(Buffer.alloc(256, 0xff)), 0o755, alice), 'NAME_TOO_LONG');
    // 128 two-byte characters are 256 bytes though only 128 UTF-16 units.
    expectCode(() => store.mkdir(ROOT_INO, '\u00e9'.repeat(128), 0o755, alice), 'NAME_TOO_LONG');
    store.close();
  });

  it('keeps symlink targets and xattr names as bytes', () => {
    const store = SqliteMetaStore.open(':memory:');
    const target = nameFromBytes(bytes(0x2e, 0x2f, 0xff, 0x2f, 0xe9));
    const link = store.symlink(ROOT_INO, 'l', target, alice);
    assert.equal(link.size, 5);
    assert.deepEqual(nameToBytes(store.readlink(link.ino)), bytes(0x2e, 0x2f, 0xff, 0x2f, 0xe9));
    const f = store.create({ parent: ROOT_INO, name: 'f', mode: S_IFREG, caller: alice, exclusive: true });
    const xname = nameFromBytes(Buffer.concat([utf8('user.'), bytes(0xff)]));
    store.setxattr(f.ino, xname, utf8('v'), 0);
    assert.deepEqual(store.listxattr(f.ino), [xname]);
    assert.deepEqual(Buffer.from(store.getxattr(f.ino, xname)), utf8('v'));
    expectCode(() => store.getxattr(f.ino, 'user.\uFFFD'), 'NO_DATA');
    store.close();
  });
});

describe('names-as-bytes migration (schema version 3)', () => {
  it('opens a version 2 database: TEXT names become the same bytes, cookies and ids are kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qfs-names-unit-'));
    tempDirs.push(dir);
    const path = join(dir, 'v2.db');
    const v2 = new Database(path);
    v2.exec(SCHEMA_V1);
    v2.exec(TOTALS_V2);
    v2.exec(`INSERT INTO inodes VALUES (1, ${0o40755}, 0, 0, 0, 2, 0, 1, 0, 1, 0, 1, 0, 1, NULL),
      (2, ${0o100644}, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, NULL),
      (3, ${0o100644}, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, NULL),
      (4, ${0o120777}, 0, 0, 6, 1, 0, 1, 0, 1, 0, 1, 0, 1, 'caf\u00e9')`);
    // Entry ids 1..3 and then 10, after which 11..20 were used and deleted: the sequence is 20.
    v2.exec(`INSERT INTO entries (id, parent, name, ino) VALUES (1, 1, 'caf\u00e9', 2), (2, 1, 'cafe\u0301', 3), (10, 1, 'link', 4)`);
    v2.exec(`UPDATE sqlite_sequence SET seq = 20 WHERE name = 'entries'`);
    v2.exec(`INSERT INTO xattrs VALUES (2, 'user.\u00e9t\u00e9', x'01')`);
    v2.pragma('user_version = 2');
    assert.deepEqual({ ...(v2.prepare(`SELECT typeof(name) AS t FROM entries LIMIT 1`).get() as object) }, { t: 'text' });
    v2.close();

    const store = SqliteMetaStore.open(path);
    assert.equal(store.lookup(ROOT_INO, 'caf\u00e9').ino, 2);
    assert.equal(store.lookup(ROOT_INO, 'cafe\u0301').ino, 3);
    assert.equal(store.readlink(4), 'caf\u00e9');
    assert.deepEqual(store.listxattr(2), ['user.\u00e9t\u00e9']);
    assert.deepEqual(
      store.readdir(ROOT_INO, 2, 100).map((e) => [e.name, e.cookie]),
      [['caf\u00e9', 3], ['cafe\u0301', 4], ['link', 12]],
    );
    expectCode(() => store.create({ parent: ROOT_INO, name: 'caf\u00e9', mode: S_IFREG, caller: alice, exclusive: true }), 'EXISTS');
    const fresh = store.create({ parent: ROOT_INO, name: nameFromBytes(bytes(0xff)), mode: S_IFREG, caller: alice, exclusive: true });
    const cookies = store.readdir(ROOT_INO, 2, 100).map((e) => e.cookie);
    assert.equal(cookies.at(-1), 21 + 2, 'a new entry takes an id past every one ever used');
    assert.equal(store.lookup(ROOT_INO, nameFromBytes(bytes(0xff))).ino, fresh.ino);
    store.close();

    const raw = new Database(path);
    assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const types = raw
      .prepare(`SELECT (SELECT group_concat(DISTINCT typeof(name)) FROM entries) AS e, (SELECT group_concat(DISTINCT typeof(name)) FROM xattrs) AS x,
        (SELECT typeof(target) FROM inodes WHERE ino = 4) AS t`)
      .get();
    assert.deepEqual({ ...(types as object) }, { e: 'blob', x: 'blob', t: 'blob' });
    const stored = raw.prepare(`SELECT name FROM entries WHERE ino = 3`).get() as { name: Buffer };
    assert.deepEqual(stored.name, utf8('cafe\u0301'));
    raw.close();
  });
});
