// Unit tests of BlockStore and its file format: round trips, versions, deletes, validation,
// corruption found on read, index rebuilt at open, damaged and temp files met at open,
// concurrency, a seeded property test against a Map model, and a kill -9 crash test in a child.
// Every test works in its own temp directory and removes it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import fc from 'fast-check';
import { Packr } from 'msgpackr';

import { checksumLike, checksumOf } from '../../src/common/checksum.js';
import { QfsError } from '../../src/common/errors.js';
import type { ErrorCode } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import {
  STORE_MARKER_NAME,
  blockFileName,
  dataOffsetOf,
  decodeHeader,
  encodeHeader,
  parseBlockFileName,
  retainedFileName,
  subdirOf,
} from '../../src/stores/block-file-format.js';
import { fileIoFor, inlineIo, threadPoolIo } from '../../src/stores/block-file-io.js';
import { withStore } from '../helpers/block-store-dir.js';
import { BlockStore, type BlockCursor, type BlockListEntry } from '../../src/stores/block-store.js';
import { crashBlockData } from '../helpers/block-crash-writer.js';

const SEED = Number(process.env.QFS_SEED ?? 42);
const MiB = 1024 * 1024;

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'qfs-block-store-'));
}

function bytes(sizeBytes: number, seed = 1): Buffer {
  const data = Buffer.allocUnsafe(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) data[i] = (i * 31 + seed * 7) & 0xff;
  return data;
}

async function put(store: BlockStore, key: string, version: number, data: Uint8Array): Promise<void> {
  await store.put(key, version, checksumOf(data), data);
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, ...mentions: string[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof QfsError, `expected a QfsError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention ${m}`);
    return true;
  });
}

function blockPath(dir: string, key: string, version: number): string {
  return path.join(dir, subdirOf(key), blockFileName(key, version));
}

/** Every file under the store's subdirectories, relative to `dir`. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const name of await readdir(path.join(dir, entry.name))) out.push(`${entry.name}/${name}`);
  }
  return out.sort();
}

describe('BlockStore basics', () => {
  test('round-trips 0 B, 1 B and 1 MiB blocks', async () => {
    await withStore(async (store) => {
      for (const sizeBytes of [0, 1, MiB]) {
        const data = bytes(sizeBytes, sizeBytes);
        await put(store, `rt:${sizeBytes}`, 7, data);
        const got = await store.get(`rt:${sizeBytes}`, 7);
        assert.equal(got.version, 7);
        assert.equal(got.checksum, checksumOf(data));
        assert.ok(got.data.equals(data));
        assert.deepEqual(await store.stat(`rt:${sizeBytes}`), {
          key: `rt:${sizeBytes}`,
          version: 7,
          checksum: checksumOf(data),
          sizeBytes,
        });
      }
    });
  });

  test('keeps versions apart; get and stat without a version take the highest', async () => {
    await withStore(async (store) => {
      await put(store, 'v', 3, bytes(10, 3));
      await put(store, 'v', 12, bytes(10, 12));
      await put(store, 'v', 5, bytes(10, 5));
      assert.ok((await store.get('v', 3)).data.equals(bytes(10, 3)));
      assert.ok((await store.get('v', 5)).data.equals(bytes(10, 5)));
      const highest = await store.get('v');
      assert.equal(highest.version, 12);
      assert.ok(highest.data.equals(bytes(10, 12)));
      assert.equal((await store.stat('v')).version, 12);
      assert.deepEqual(
        listAll(store).map((e) => e.version),
        [3, 5, 12],
      );
    });
  });

  test('NOT_FOUND for absent keys and versions', async () => {
    await withStore(async (store) => {
      await put(store, 'k', 1, bytes(4));
      await rejectsWith(store.get('nope'), 'NOT_FOUND', 'nope');
      await rejectsWith(store.get('k', 2), 'NOT_FOUND', 'k', '2');
      await rejectsWith(store.stat('k', 0), 'NOT_FOUND');
      await rejectsWith(store.corrupt('nope'), 'NOT_FOUND');
    });
  });

  test('delete removes one version or all; absent is 0, not an error', async () => {
    await withStore(async (store) => {
      for (const v of [1, 2, 3]) await put(store, 'd', v, bytes(8, v));
      assert.equal(await store.delete('d', 2), 1);
      assert.equal(await store.delete('d', 2), 0);
      await rejectsWith(store.get('d', 2), 'NOT_FOUND');
      assert.equal((await store.get('d')).version, 3);
      assert.equal(await store.delete('d'), 2);
      assert.equal(await store.delete('d'), 0);
      assert.equal(await store.delete('never'), 0);
      assert.deepEqual(listAll(store), []);
    });
  });

  test('deleteOlderThan removes only lower versions', async () => {
    await withStore(async (store) => {
      for (const v of [1, 4, 6, 9]) await put(store, 'g', v, bytes(8, v));
      await put(store, 'other', 1, bytes(8));
      assert.equal(await store.deleteOlderThan('g', 6), 2);
      assert.equal(await store.deleteOlderThan('g', 6), 0);
      assert.deepEqual(
        listAll(store).map((e) => `${e.key}@${e.version}`),
        ['g@6', 'g@9', 'other@1'],
      );
    });
  });

  test('put is idempotent and a put replaces what the version held', async () => {
    await withStore(async (store) => {
      const data = bytes(100);
      await put(store, 'i', 1, data);
      await put(store, 'i', 1, data);
      assert.equal(listAll(store).length, 1);
      await put(store, 'i', 1, bytes(50, 9));
      assert.ok((await store.get('i', 1)).data.equals(bytes(50, 9)));
      assert.deepEqual(await store.usage().then((u) => [u.blocks, u.bytes]), [1, 50]);
    });
  });

  test('usage counts blocks and data bytes and reports free space', async () => {
    await withStore(async (store) => {
      await put(store, 'u', 1, bytes(100));
      await put(store, 'u', 2, bytes(28));
      const usage = await store.usage();
      assert.equal(usage.blocks, 2);
      assert.equal(usage.bytes, 128);
      assert.ok(usage.freeBytes > 0 && usage.totalBytes >= usage.freeBytes);
    });
  });
});

describe('BlockStore validation', () => {
  test('bad keys and versions are INVALID; every key of the alphabet works', async () => {
    await withStore(async (store) => {
      const data = bytes(3);
      const badKeys = ['', 'k'.repeat(limits.maxKeyBytes + 1), 'a/b', 'a b', 'é', 'a\0b', '../x'];
      for (const key of badKeys) await rejectsWith(put(store, key, 1, data), 'INVALID', 'key');
      for (const key of badKeys) await rejectsWith(store.get(key), 'INVALID');
      await rejectsWith(store.delete('a/b'), 'INVALID');
      for (const version of [-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY]) {
        await rejectsWith(put(store, 'ok', version, data), 'INVALID', 'version');
        await rejectsWith(store.get('ok', version), 'INVALID');
      }
      await rejectsWith(store.deleteOlderThan('ok', -1), 'INVALID');
      const goodKeys = ['.', '..', '...', '-', 'k'.repeat(limits.maxKeyBytes), 'Az09._:-', '12:0'];
      for (const key of goodKeys) await put(store, key, Number.MAX_SAFE_INTEGER, data);
      for (const key of goodKeys) assert.ok((await store.get(key)).data.equals(data));
      assert.deepEqual(
        listAll(store).map((e) => e.key),
        [...goodKeys].sort(),
      );
    });
  });

  test('a malformed checksum is INVALID; bytes that do not match it are CORRUPT and not stored', async () => {
    await withStore(async (store, dir) => {
      const data = bytes(5000);
      await rejectsWith(store.put('c', 1, 'md5:abc', data), 'INVALID', 'checksum');
      await rejectsWith(store.put('c', 1, checksumOf(data).toUpperCase(), data), 'INVALID');
      await rejectsWith(store.put('c', 1, checksumOf(bytes(5000, 2)), data), 'CORRUPT', 'c', '1');
      assert.deepEqual(listAll(store), []);
      assert.deepEqual(await filesUnder(dir), [], 'no block and no temp file is left behind');
    });
  });

  test('data over maxPayloadBytes is INVALID', async () => {
    await withStore(async (store) => {
      const data = Buffer.alloc(limits.maxPayloadBytes + 1);
      await rejectsWith(store.put('big', 1, checksumOf(data), data), 'INVALID', 'limit');
      const max = data.subarray(0, limits.maxPayloadBytes);
      await put(store, 'big', 1, max);
      assert.equal((await store.get('big')).data.length, limits.maxPayloadBytes);
    });
  });
});

describe('BlockStore corruption', () => {
  test('corrupt() then get is CORRUPT naming key and version; stat still works; put repairs', async () => {
    await withStore(async (store) => {
      const data = bytes(1000);
      await put(store, 'bad:1', 4, data);
      const result = await store.corrupt('bad:1');
      assert.equal(result.key, 'bad:1');
      assert.equal(result.version, 4);
      assert.deepEqual(result.before, { checksum: checksumOf(data), sizeBytes: 1000, preview: data.subarray(0, 16).toString('hex') });
      assert.equal(result.after.sizeBytes, 1000);
      assert.notEqual(result.after.checksum, result.before.checksum);
      assert.equal(result.after.preview.length, 32);
      await rejectsWith(store.get('bad:1', 4), 'CORRUPT', 'bad:1', '4');
      await rejectsWith(store.get('bad:1'), 'CORRUPT', 'bad:1', '4');
      assert.deepEqual(await store.stat('bad:1'), { key: 'bad:1', version: 4, checksum: checksumOf(data), sizeBytes: 1000 });
      await put(store, 'bad:1', 4, data);
      assert.ok((await store.get('bad:1')).data.equals(data));
    });
  });

  test('corrupt() of an empty block writes one byte and get is CORRUPT', async () => {
    await withStore(async (store) => {
      await put(store, 'empty', 0, new Uint8Array(0));
      const result = await store.corrupt('empty', 0);
      assert.equal(result.before.sizeBytes, 0);
      assert.equal(result.before.preview, '');
      assert.equal(result.after.sizeBytes, 1);
      await rejectsWith(store.get('empty'), 'CORRUPT', 'empty');
      assert.equal((await store.stat('empty')).sizeBytes, 0);
    });
  });

  test('corruption survives a reopen and is caught by get, not by open', async () => {
    const dir = await tempDir();
    try {
      const store = await BlockStore.open(dir);
      await put(store, 'r', 1, bytes(64));
      await store.corrupt('r');
      await store.close();
      const reopened = await BlockStore.open(dir);
      assert.deepEqual(reopened.openReport.damaged, []);
      await rejectsWith(reopened.get('r'), 'CORRUPT', 'r');
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('BlockStore open', () => {
  test('reopen rebuilds the index', async () => {
    const dir = await tempDir();
    try {
      const store = await BlockStore.open(dir);
      const keys = ['.', '..', 'a', 'a.1', 'b:2', 'Z-9'];
      for (const [i, key] of keys.entries()) {
        await put(store, key, i, bytes(i * 10, i));
        await put(store, key, i + 100, bytes(i, i));
      }
      const before = listAll(store);
      const usageBefore = await store.usage();
      await store.close();
      const reopened = await BlockStore.open(dir);
      assert.deepEqual(listAll(reopened), before);
      assert.deepEqual(
        await reopened.usage().then((u) => [u.blocks, u.bytes]),
        [usageBefore.blocks, usageBefore.bytes],
      );
      assert.deepEqual(reopened.openReport, { tempFilesRemoved: 0, damaged: [], ignored: [] });
      for (const [i, key] of keys.entries()) assert.ok((await reopened.get(key, i)).data.equals(bytes(i * 10, i)));
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('open removes temp files left by a crash', async () => {
    const dir = await tempDir();
    try {
      const store = await BlockStore.open(dir);
      await put(store, 't', 1, bytes(10));
      await store.close();
      const leftover = `${blockPath(dir, 't', 2)}.123-1-abcd.tmp`;
      await writeFile(leftover, bytes(30));
      await mkdir(path.join(dir, '7f'), { recursive: true });
      await writeFile(path.join(dir, '7f', 'x.tmp'), '');
      await writeFile(path.join(dir, `${STORE_MARKER_NAME}.99.tmp`), '');
      const reopened = await BlockStore.open(dir);
      assert.equal(reopened.openReport.tempFilesRemoved, 3);
      assert.deepEqual(await filesUnder(dir), [`${subdirOf('t')}/t.1.blk`]);
      assert.equal(listAll(reopened).length, 1);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('damaged headers do not crash open: reported, get is CORRUPT, delete and put still work', async () => {
    const dir = await tempDir();
    try {
      const store = await BlockStore.open(dir);
      for (const key of ['short', 'magic', 'format', 'moved', 'longer', 'fine']) await put(store, key, 1, bytes(40));
      await store.close();
      await writeFile(blockPath(dir, 'short', 1), 'QFS');
      const magic = await readFile(blockPath(dir, 'magic', 1));
      magic.write('XXXX', 0, 'latin1');
      await writeFile(blockPath(dir, 'magic', 1), magic);
      const format = await readFile(blockPath(dir, 'format', 1));
      format[4] = 9;
      await writeFile(blockPath(dir, 'format', 1), format);
      await writeFile(blockPath(dir, 'moved', 2), await readFile(blockPath(dir, 'moved', 1)));
      await appendFile(blockPath(dir, 'longer', 1), 'x');
      const elsewhere = subdirOf('fine') === '01' ? '02' : '01';
      await mkdir(path.join(dir, elsewhere), { recursive: true });
      await writeFile(path.join(dir, elsewhere, 'fine.1.blk'), 'misplaced');
      await writeFile(path.join(dir, elsewhere, 'notes.txt'), 'hello');
      await mkdir(path.join(dir, elsewhere, 'sub.1.blk'));
      await writeFile(path.join(dir, 'README'), 'not ours');

      const reopened = await BlockStore.open(dir);
      const report = reopened.openReport;
      assert.deepEqual(
        report.damaged.map((d) => `${d.key}@${d.version}`),
        ['format@1', 'longer@1', 'magic@1', 'moved@2', 'short@1'],
      );
      assert.match(report.damaged.find((d) => d.key === 'format')?.reason ?? '', /format version 9/);
      assert.deepEqual(
        report.ignored.map((i) => path.relative(dir, i.path)),
        [`${elsewhere}/fine.1.blk`, `${elsewhere}/notes.txt`, `${elsewhere}/sub.1.blk`, 'README'],
      );
      assert.deepEqual(reopened.damaged(), report.damaged);
      for (const d of report.damaged) await rejectsWith(reopened.get(d.key, d.version), 'CORRUPT', d.key);
      await rejectsWith(reopened.stat('short'), 'CORRUPT', 'short');
      await rejectsWith(reopened.corrupt('short'), 'CORRUPT');
      // Headers that parse still show in list() (flagged); one that does not has no checksum.
      assert.deepEqual(
        listAll(reopened).map((e) => `${e.key}@${e.version}${e.damaged ? '!' : ''}`),
        ['fine@1', 'longer@1!', 'moved@1', 'moved@2!'],
      );
      assert.ok((await reopened.get('moved', 1)).data.equals(bytes(40)));
      assert.equal(await reopened.delete('short'), 1);
      await put(reopened, 'magic', 1, bytes(40));
      assert.ok((await reopened.get('magic', 1)).data.equals(bytes(40)));
      assert.deepEqual(
        reopened.damaged().map((d) => d.key),
        ['format', 'longer', 'moved'],
      );
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('refuses a directory that is not a block store of this layout', async () => {
    const dir = await tempDir();
    try {
      await writeFile(path.join(dir, 'precious.txt'), 'do not touch');
      await rejectsWith(BlockStore.open(dir), 'INVALID', 'not a block store');
      await rm(path.join(dir, 'precious.txt'));
      await writeFile(path.join(dir, STORE_MARKER_NAME), JSON.stringify({ format: 'quorumfs-block-store', layoutVersion: 2 }));
      await rejectsWith(BlockStore.open(dir), 'INVALID', 'layout 2');
      await writeFile(path.join(dir, STORE_MARKER_NAME), 'garbage');
      await rejectsWith(BlockStore.open(dir), 'INVALID');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('BlockStore concurrency and lifecycle', () => {
  test('concurrent puts of one key and version do not corrupt each other', async () => {
    await withStore(async (store, dir) => {
      const same = bytes(200_000);
      await Promise.all(Array.from({ length: 16 }, () => put(store, 'same', 1, same)));
      assert.ok((await store.get('same', 1)).data.equals(same));
      // Different contents racing for one version: the index must agree with the file that won.
      await Promise.all(Array.from({ length: 16 }, (_, i) => put(store, 'race', 1, bytes(1000 + i, i))));
      const got = await store.get('race', 1);
      assert.equal((await store.stat('race', 1)).checksum, got.checksum);
      assert.deepEqual(
        (await filesUnder(dir)).filter((f) => f.endsWith('.tmp')),
        [],
      );
    });
  });

  test('many concurrent puts of different keys all land', async () => {
    await withStore(async (store) => {
      const n = 300;
      await Promise.all(Array.from({ length: n }, (_, i) => put(store, `many:${i}`, i, bytes(i * 13, i))));
      assert.equal(listAll(store).length, n);
      const reads = await Promise.all(Array.from({ length: n }, (_, i) => store.get(`many:${i}`)));
      reads.forEach((r, i) => assert.ok(r.data.equals(bytes(i * 13, i))));
    });
  });

  test('close waits for calls in flight and then refuses with UNAVAILABLE', async () => {
    const dir = await tempDir();
    try {
      const store = await BlockStore.open(dir);
      const pending = put(store, 'late', 1, bytes(MiB));
      await store.close();
      await pending;
      await rejectsWith(store.get('late'), 'UNAVAILABLE');
      assert.throws(() => store.listPage(undefined, 10, 1024), (err: unknown) => err instanceof QfsError && err.code === 'UNAVAILABLE');
      await store.close();
      const reopened = await BlockStore.open(dir);
      assert.ok((await reopened.get('late')).data.equals(bytes(MiB)));
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('BlockStore inline I/O of small blocks', () => {
  const limitBytes = limits.inlineBlockIoMaxBytes;
  /** Either side of the limit, so the inline and the thread-pool path run the same checks. */
  const sizes = [0, 4096, limitBytes, limitBytes + 1];

  test('the limit picks the inline calls up to it and the thread pool above it', () => {
    assert.equal(fileIoFor(0), inlineIo);
    assert.equal(fileIoFor(limitBytes), inlineIo);
    assert.equal(fileIoFor(limitBytes + 1), threadPoolIo);
    assert.equal(fileIoFor(limits.maxPayloadBytes), threadPoolIo);
  });

  test('a lone small put or get opens its file inline; a large one, or one among others, on the thread pool', async () => {
    await withStore(async (store, dir) => {
      // Counts the inline opens in this store (fs.openSync, as ESM modules see it).
      let inlineOpens = 0;
      const openSync = fs.openSync;
      fs.openSync = ((...args: Parameters<typeof openSync>) => {
        if (String(args[0]).startsWith(dir)) inlineOpens += 1;
        return openSync(...args);
      }) as typeof openSync;
      syncBuiltinESMExports();
      try {
        // Version 0 first, so no put below makes its subdirectory (a second open).
        for (const key of ['lone', 'large', ...Array.from({ length: 8 }, (_, i) => `crowd-${i}`)]) await put(store, key, 0, bytes(1));
        const opensDuring = async (work: () => Promise<unknown>): Promise<number> => {
          const before = inlineOpens;
          await work();
          return inlineOpens - before;
        };
        assert.equal(await opensDuring(() => put(store, 'lone', 1, bytes(4096))), 1, 'a lone small put');
        assert.equal(await opensDuring(() => store.get('lone', 1)), 1, 'a lone small get');
        assert.equal(await opensDuring(() => put(store, 'large', 1, bytes(limitBytes + 1))), 0, 'a large put');
        assert.equal(await opensDuring(() => store.get('large', 1)), 0, 'a large get');
        const eight = (): Promise<unknown> => Promise.all(Array.from({ length: 8 }, (_, i) => put(store, `crowd-${i}`, 1, bytes(4096, i))));
        assert.equal(await opensDuring(eight), 1, 'only the first of 8 concurrent puts, begun alone');
      } finally {
        fs.openSync = openSync;
        syncBuiltinESMExports();
      }
    });
  });

  test('blocks either side of the limit are stored whole, survive a reopen and leave no temp file', async () => {
    const dir = await tempDir();
    try {
      const store = await BlockStore.open(dir);
      for (const [i, size] of sizes.entries()) await put(store, `edge-${i}`, 3, bytes(size, i));
      for (const [i, size] of sizes.entries()) assert.ok((await store.get(`edge-${i}`, 3)).data.equals(bytes(size, i)));
      await store.close();
      assert.deepEqual(await filesUnder(dir), sizes.map((_, i) => `${subdirOf(`edge-${i}`)}/edge-${i}.3.blk`).sort());
      const reopened = await BlockStore.open(dir);
      assert.deepEqual(reopened.openReport, { tempFilesRemoved: 0, damaged: [], ignored: [] });
      for (const [i, size] of sizes.entries()) {
        const got = await reopened.get(`edge-${i}`, 3);
        assert.ok(got.data.equals(bytes(size, i)), `edge-${i} (${size} bytes) reads back after a reopen`);
        assert.equal(got.checksum, checksumOf(bytes(size, i)));
      }
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('bytes that do not match their checksum store nothing on either side of the limit', async () => {
    await withStore(async (store, dir) => {
      for (const [i, size] of sizes.entries()) {
        await rejectsWith(store.put(`bad-${i}`, 1, checksumOf(bytes(size + 1, i)), bytes(size, i)), 'CORRUPT', `bad-${i}`);
      }
      assert.deepEqual(listAll(store), []);
      assert.deepEqual(
        (await filesUnder(dir)).filter((f) => f.endsWith('.blk') || f.endsWith('.tmp')),
        [],
        'no block and no temp file is left behind',
      );
    });
  });

  test('a failing create, rename or read is the same error on either side of the limit, and leaves no temp file', async () => {
    const failures = async (size: number): Promise<string[]> => {
      const codes: string[] = [];
      const record = async (call: Promise<unknown>): Promise<void> => {
        await call.then(
          () => codes.push('ok'),
          (err: unknown) => codes.push(err instanceof QfsError ? `${err.code} ${errnoOfCause(err)}` : String(err)),
        );
      };
      await withStore(async (store, dir) => {
        // The key's subdirectory is a file: creating the temp file fails (ENOTDIR).
        await writeFile(path.join(dir, subdirOf('file-in-way')), '');
        await record(store.put('file-in-way', 1, checksumOf(bytes(size)), bytes(size)));
        // The block's name is a directory: the rename fails, the temp file goes.
        const target = blockPath(dir, 'dir-in-way', 1);
        await mkdir(path.join(target, 'child'), { recursive: true });
        await record(store.put('dir-in-way', 1, checksumOf(bytes(size)), bytes(size)));
        assert.deepEqual((await filesUnder(dir)).filter((f) => f.endsWith('.tmp')), [], `${size} bytes: no temp file left`);
        // A block file removed behind the store's back: NOT_FOUND, not INTERNAL.
        await put(store, 'gone', 1, bytes(size));
        await rm(blockPath(dir, 'gone', 1));
        await record(store.get('gone', 1));
      });
      return codes;
    };
    const inline = await failures(4096);
    assert.deepEqual(inline, ['INTERNAL ENOTDIR', 'INTERNAL EISDIR', 'NOT_FOUND undefined']);
    assert.deepEqual(await failures(limitBytes + 1), inline);
  });
});

function errnoOfCause(err: QfsError): string | undefined {
  const cause: unknown = err.cause;
  return typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
}

describe('block file format', () => {
  const keyArb = fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/);
  const versionArb = fc.maxSafeNat();

  test('file names round-trip for every key and version', () => {
    fc.assert(
      fc.property(keyArb, versionArb, (key, version) => {
        const name = blockFileName(key, version);
        assert.deepEqual(parseBlockFileName(name), { key, version, retained: false });
        assert.deepEqual(parseBlockFileName(retainedFileName(key, version)), { key, version, retained: true });
        assert.ok(Buffer.byteLength(name) <= 255, 'fits NAME_MAX');
        assert.match(subdirOf(key), /^[0-9a-f]{2}$/);
      }),
      { seed: SEED },
    );
    for (const bad of ['a.blk', 'a.01.blk', 'a.1.tmp', '.1.blk', 'a.-1.blk', 'a b.1.blk', 'a.99999999999999999.blk']) {
      assert.equal(parseBlockFileName(bad), undefined, bad);
    }
  });

  test('headers round-trip and decoding any prefix or byte flip never throws', () => {
    fc.assert(
      fc.property(keyArb, versionArb, fc.nat({ max: limits.maxPayloadBytes }), fc.nat(), fc.boolean(), (key, version, len, cut, legacy) => {
        // Format 1 (whole-block sha256:, no table) and format 2 (xsha256:, the table follows).
        const checksum = legacy ? checksumLike(Buffer.from(key), 'sha256:') : checksumOf(Buffer.from(key));
        const header = { key, version, checksum, dataLengthBytes: len };
        const encoded = encodeHeader(header);
        const dataOffset = legacy ? encoded.length : dataOffsetOf(key, len);
        // The header alone holds a format-2 table only when the block is empty.
        const table = !legacy && len === 0 ? Buffer.alloc(0) : undefined;
        assert.deepEqual(decodeHeader(encoded), { ok: true, header, headerBytes: encoded.length, dataOffset, table });
        const prefix = decodeHeader(encoded.subarray(0, cut % encoded.length));
        assert.equal(prefix.ok, false);
        const flipped = Buffer.from(encoded);
        flipped[cut % flipped.length] ^= 0xff;
        decodeHeader(flipped);
      }),
      { seed: SEED },
    );
  });
});

type ModelOp =
  | { kind: 'put'; key: string; version: number; data: Uint8Array }
  | { kind: 'get'; key: string; version: number | undefined }
  | { kind: 'delete'; key: string; version: number | undefined }
  | { kind: 'deleteOlderThan'; key: string; version: number }
  | { kind: 'corrupt'; key: string; version: number | undefined };

type Model = Map<string, Map<number, Uint8Array>>;

function highestOf(versions: Map<number, Uint8Array> | undefined): number | undefined {
  const held = [...(versions?.keys() ?? [])];
  return held.length === 0 ? undefined : Math.max(...held);
}

/** Applies `op` to the store and the model, checking the store answers as the model says. */
async function step(store: BlockStore, model: Model, corrupted: Set<string>, op: ModelOp): Promise<void> {
  const versions = model.get(op.key);
  switch (op.kind) {
    case 'put': {
      await put(store, op.key, op.version, op.data);
      if (versions === undefined) model.set(op.key, new Map([[op.version, op.data]]));
      else versions.set(op.version, op.data);
      corrupted.delete(`${op.key}@${op.version}`);
      return;
    }
    case 'get': {
      const v = op.version ?? highestOf(versions);
      const expected = v === undefined ? undefined : versions?.get(v);
      if (v === undefined || expected === undefined) return rejectsWith(store.get(op.key, op.version), 'NOT_FOUND');
      if (corrupted.has(`${op.key}@${v}`)) return rejectsWith(store.get(op.key, op.version), 'CORRUPT');
      const got = await store.get(op.key, op.version);
      assert.equal(got.version, v);
      assert.ok(got.data.equals(expected));
      return;
    }
    case 'delete': {
      const doomed = [...(versions?.keys() ?? [])].filter((v) => op.version === undefined || v === op.version);
      assert.equal(await store.delete(op.key, op.version), doomed.length);
      for (const v of doomed) versions?.delete(v);
      return;
    }
    case 'deleteOlderThan': {
      const doomed = [...(versions?.keys() ?? [])].filter((v) => v < op.version);
      assert.equal(await store.deleteOlderThan(op.key, op.version), doomed.length);
      for (const v of doomed) versions?.delete(v);
      return;
    }
    case 'corrupt': {
      const v = op.version ?? highestOf(versions);
      if (v === undefined || versions?.get(v) === undefined) return rejectsWith(store.corrupt(op.key, op.version), 'NOT_FOUND');
      await store.corrupt(op.key, op.version);
      corrupted.add(`${op.key}@${v}`);
      return;
    }
    default: {
      const never: never = op;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

interface Listed {
  key: string;
  version: number;
  sizeBytes: number;
  checksum: string;
}

function modelList(model: Model): Listed[] {
  const out: Listed[] = [];
  for (const [key, versions] of model) {
    for (const [version, data] of versions) out.push({ key, version, sizeBytes: data.length, checksum: checksumOf(data) });
  }
  return out.sort((a, b) => (a.key === b.key ? a.version - b.version : a.key < b.key ? -1 : 1));
}

function storeList(store: BlockStore): Listed[] {
  return listAll(store).map(({ key, version, sizeBytes, checksum }) => ({ key, version, sizeBytes, checksum }));
}

describe('BlockStore against a model', () => {
  const key = fc.constantFrom('a', 'b', '..', 'c:1');
  const version = fc.nat({ max: 4 });
  const maybeVersion = fc.option(version, { nil: undefined });
  const op: fc.Arbitrary<ModelOp> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('put' as const), key, version, data: fc.uint8Array({ maxLength: 64 }) }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('get' as const), key, version: maybeVersion }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('delete' as const), key, version: maybeVersion }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('deleteOlderThan' as const), key, version }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('corrupt' as const), key, version: maybeVersion }), weight: 1 },
  );

  test('random put/get/delete/corrupt sequences match a Map model, before and after reopen', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
        const dir = await tempDir();
        try {
          const model: Model = new Map();
          const corrupted = new Set<string>();
          const store = await BlockStore.open(dir);
          for (const o of ops) await step(store, model, corrupted, o);
          assert.deepEqual(storeList(store), modelList(model));
          await store.close();
          const reopened = await BlockStore.open(dir);
          assert.deepEqual(storeList(reopened), modelList(model));
          for (const k of model.keys()) await step(reopened, model, corrupted, { kind: 'get', key: k, version: undefined });
          await reopened.close();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { seed: SEED, numRuns: 40 },
    );
  });
});

describe('BlockStore crash safety', () => {
  test('kill -9 mid-stream: every acknowledged block reads back whole, no torn block', async () => {
    const dir = await tempDir();
    try {
      const acked: Ack[] = [];
      // Several rounds on one directory: each kill lands at another point of a put.
      for (let round = 0; round < CRASH_ROUNDS; round++) {
        const killAfter = 20 + ((SEED * 7 + round * 13) % 30);
        const roundAcks = await runWriterAndKill(dir, round * 1_000_000, killAfter);
        assert.ok(roundAcks.length >= killAfter, `only ${roundAcks.length} acknowledgements`);
        acked.push(...roundAcks);
        await checkAfterCrash(dir, acked);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const CRASH_ROUNDS = 4;

/** Reopens the store after a kill and checks acknowledged blocks and every block it holds. */
async function checkAfterCrash(dir: string, acked: Ack[]): Promise<void> {
  const store = await BlockStore.open(dir);
  try {
    assert.deepEqual(store.openReport.damaged, [], 'no torn block file');
    assert.deepEqual(store.openReport.ignored, []);
    for (const { key, version, checksum } of acked) {
      const got = await store.get(key, version);
      assert.equal(got.checksum, checksum);
      assert.ok(got.data.equals(crashBlockData(version)), `${key}@${version} reads back`);
    }
    for (const entry of listAll(store)) {
      const got = await store.get(entry.key, entry.version); // CORRUPT if torn
      assert.ok(got.data.equals(crashBlockData(entry.version)));
    }
    assert.deepEqual(
      (await filesUnder(dir)).filter((f) => f.endsWith('.tmp')),
      [],
    );
  } finally {
    await store.close();
  }
}

interface Ack {
  key: string;
  version: number;
  checksum: string;
}

/** Starts the writer, SIGKILLs it once `killAfter` puts are acknowledged, returns the acks. */
function runWriterAndKill(dir: string, firstVersion: number, killAfter: number): Promise<Ack[]> {
  const script = fileURLToPath(new URL('../helpers/block-crash-writer.js', import.meta.url));
  const child = spawn(process.execPath, [script, dir, String(firstVersion)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: Ack[] = [];
  let pending = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? ''; // a line cut by the kill is not an acknowledgement
    for (const line of lines) {
      const [key = '', version = '', checksum = ''] = line.split(' ');
      acked.push({ key, version: Number(version), checksum });
    }
    if (acked.length >= killAfter) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(deadline);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}: ${stderr}`));
      else resolve(acked);
    });
  });
}

/** Every entry, through pages of at most 3 entries (so paging itself is exercised), sorted by
 * key then version. */
function listAll(store: BlockStore): BlockListEntry[] {
  const out: BlockListEntry[] = [];
  let after: BlockCursor | undefined;
  for (;;) {
    const page = store.listPage(after, 3, 1 << 20);
    out.push(...page.entries);
    if (page.next === undefined) break;
    after = page.next;
  }
  return out.sort((a, b) => (a.key !== b.key ? (a.key < b.key ? -1 : 1) : a.version - b.version));
}

describe('BlockStore paging at size', () => {
  test('lists 20,000 blocks in budgeted pages, each exactly once, while keys are added and removed', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-blocks-paging-'));
    const store = await BlockStore.open(dir, { durable: false });
    try {
      const data = Buffer.from('x');
      const checksum = checksumOf(data);
      const total = 20_000;
      for (let i = 0; i < total; i += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, j) => store.put(`${i + j + 1}:0`, 1, checksum, data)));
      }
      const seen = new Set<string>();
      let after: BlockCursor | undefined;
      let pages = 0;
      let maxPageBytes = 0;
      for (;;) {
        const page = store.listPage(after, limits.maxListEntries, limits.listPageBytes);
        pages++;
        maxPageBytes = Math.max(maxPageBytes, new Packr({ useRecords: false }).pack({ entries: page.entries, next: page.next }).length);
        for (const e of page.entries) {
          const id = `${e.key}@${e.version}`;
          assert.ok(!seen.has(id), `${id} listed twice`);
          seen.add(id);
        }
        if (pages === 5) {
          // Changes while a listing is under way: a new key may or may not be seen, a removed
          // one that was not yet listed is not; nothing is listed twice.
          await store.put('999999:0', 1, checksum, data);
          await store.delete(`${total}:0`);
        }
        if (page.next === undefined) break;
        after = page.next;
      }
      assert.ok(pages > 10, `${pages} pages`);
      assert.ok(maxPageBytes <= limits.listPageBytes, `a page took ${maxPageBytes} bytes`);
      for (let i = 1; i < total; i++) assert.ok(seen.has(`${i}:0@1`), `${i}:0 was not listed`);
      const asked = [{ key: '1:0', version: 1, checksum }, { key: '1:0', version: 2, checksum }, { key: 'nope:0', version: 1, checksum }, { key: '2:0', version: 1, checksum: checksumOf(Buffer.from('y')) }];
      assert.deepEqual(store.have(asked), { lacking: [1, 2, 3], older: [1] });
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
