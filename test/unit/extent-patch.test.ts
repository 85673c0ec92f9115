// Writes of less than a block: extent tables, patches computed by a writer that holds only the
// extents it changes (a property test against a plain byte model), and the block store's
// getExtents and patch, with bad bases and bad results refused and corruption never laundered
// into a new version. Blocks written before extent tables (sha256:) are still served whole.

import assert from 'node:assert/strict';
import { open, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import fc from 'fast-check';

import { EXTENT_BYTES, checksumLike, checksumOf, extentOf, extentTable, rootOf, verifiedExtents } from '../../src/common/checksum.js';
import { QfsError, type ErrorCode } from '../../src/common/errors.js';
import { baseExtentsRead, patchExtents, patchedBlock, pieceProblem, type Piece } from '../../src/core/extent-patch.js';
import { limits } from '../../src/common/limits.js';
import { blockFileName, dataOffsetOf, retainedFileName, subdirOf } from '../../src/stores/block-file-format.js';
import { withStore } from '../helpers/block-store-dir.js';
import { BlockStore } from '../../src/stores/block-store.js';

const SEED = Number(process.env.QFS_SEED ?? 42);
const MiB = 1024 * 1024;

function bytes(sizeBytes: number, seed: number): Buffer {
  const data = Buffer.allocUnsafe(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) data[i] = (i * 131 + seed * 17 + (i >> 9)) & 0xff;
  return data;
}

/** The model: the base grown with zeros, each piece copied over it in order. */
function applied(base: Uint8Array, pieces: Piece[], payload: Uint8Array): Buffer {
  const end = Math.max(base.length, ...pieces.map((p) => p.offset + p.lengthBytes));
  const out = Buffer.alloc(end);
  out.set(base);
  let at = 0;
  for (const p of pieces) {
    out.set(payload.subarray(at, at + p.lengthBytes), p.offset);
    at += p.lengthBytes;
  }
  return out;
}

function piecesFor(lengths: Array<{ offset: number; lengthBytes: number }>, seed: number): { pieces: Piece[]; payload: Buffer } {
  const pieces = lengths.map(({ offset, lengthBytes }) => ({ offset, lengthBytes: Math.max(1, Math.min(lengthBytes, MiB - offset)) }));
  const payload = bytes(pieces.reduce((n, p) => n + p.lengthBytes, 0), seed);
  return { pieces, payload };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, mention?: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof QfsError, String(err));
    assert.equal(err.code, code, err.message);
    if (mention !== undefined) assert.ok(err.message.includes(mention), `"${err.message}" should mention ${mention}`);
    return true;
  });
}

/** Flips one byte of a stored block's data, at `offset` in the block. */
async function flipByte(dir: string, key: string, version: number, sizeBytes: number, offset: number): Promise<void> {
  const handle = await open(path.join(dir, subdirOf(key), blockFileName(key, version)), 'r+');
  try {
    const at = dataOffsetOf(key, sizeBytes) + offset;
    const one = Buffer.alloc(1);
    await handle.read(one, 0, 1, at);
    one[0] = one[0]! ^ 0xff;
    await handle.write(one, 0, 1, at);
  } finally {
    await handle.close();
  }
}

describe('extent tables and patches', () => {
  test('a checksum is the root of the extent table; the sha256: form is still computed for old blocks', () => {
    const data = bytes(MiB + 5, 1);
    assert.equal(checksumOf(data), rootOf(extentTable(data)));
    assert.equal(extentTable(data).length, (MiB / EXTENT_BYTES + 1) * 32);
    assert.match(checksumOf(Buffer.alloc(0)), /^xsha256:[0-9a-f]{64}$/);
    assert.match(checksumLike(data, 'sha256:00'), /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(checksumOf(data), checksumOf(applied(data, [{ offset: MiB, lengthBytes: 1 }], Buffer.from([data[MiB]! ^ 1]))));
  });

  test('a patch computed from the changed extents alone gives the model bytes and their checksum', () => {
    const piece = fc.record({ offset: fc.nat({ max: MiB - 1 }), lengthBytes: fc.integer({ min: 1, max: 3 * EXTENT_BYTES }) });
    fc.assert(
      fc.property(fc.nat({ max: MiB }), fc.array(piece, { minLength: 1, maxLength: 6 }), fc.nat(), (baseBytes, lengths, seed) => {
        const base = bytes(baseBytes, seed);
        const { pieces, payload } = piecesFor(lengths, seed + 1);
        assert.equal(pieceProblem(pieces, payload.length, MiB), undefined);
        const readable = new Set(baseExtentsRead(baseBytes, pieces));
        const result = patchExtents(
          {
            lengthBytes: baseBytes,
            table: extentTable(base),
            extent: (i) => {
              assert.ok(readable.has(i), `extent ${i} read but not named by baseExtentsRead`);
              return extentOf(base, i);
            },
          },
          pieces,
          payload,
        );
        const expected = applied(base, pieces, payload);
        assert.deepEqual(patchedBlock(base, result), expected);
        assert.equal(rootOf(result.table), checksumOf(expected));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  test('pieces that do not add up or overrun the block are named', () => {
    assert.match(pieceProblem([], 0, MiB) ?? '', /at least one piece/);
    assert.match(pieceProblem([{ offset: MiB - 1, lengthBytes: 2 }], 2, MiB) ?? '', /past the block size/);
    assert.match(pieceProblem([{ offset: 0, lengthBytes: 3 }], 2, MiB) ?? '', /add up to 3 bytes/);
    assert.match(pieceProblem([{ offset: 0, lengthBytes: 0 }], 0, MiB) ?? '', /0 bytes/);
  });

  test('verifiedExtents refuses a table or an extent that does not match', () => {
    const data = bytes(3 * EXTENT_BYTES + 10, 3);
    const table = extentTable(data);
    const payload = Buffer.concat([extentOf(data, 1), extentOf(data, 3)]);
    assert.deepEqual(verifiedExtents(checksumOf(data), data.length, table, [1, 3], payload), [extentOf(data, 1), extentOf(data, 3)]);
    const badPayload = Buffer.from(payload);
    badPayload[5] ^= 1;
    assert.equal(verifiedExtents(checksumOf(data), data.length, table, [1, 3], badPayload), undefined);
    const badTable = Buffer.from(table);
    badTable[40] ^= 1;
    assert.equal(verifiedExtents(checksumOf(data), data.length, badTable, [1, 3], payload), undefined);
    assert.equal(verifiedExtents(checksumOf(data), data.length, table, [1], payload), undefined, 'bytes left over');
  });
});

describe('BlockStore extents and patches', () => {
  test('getExtents returns checked extents and the table; bad requests and old blocks are refused', async () => {
    await withStore(async (store) => {
      const data = bytes(MiB, 4);
      await store.put('k', 1, checksumOf(data), data);
      const count = MiB / EXTENT_BYTES;
      const got = await store.getExtents('k', 1, [0, 7, count - 1], true);
      assert.equal(got.checksum, checksumOf(data));
      assert.deepEqual(got.table, extentTable(data));
      assert.deepEqual(got.data, Buffer.concat([extentOf(data, 0), extentOf(data, 7), extentOf(data, count - 1)]));
      assert.equal((await store.getExtents('k', 1, [3], false)).data.length, 0);
      await rejectsWith(store.getExtents('k', 1, [count], true), 'INVALID', `below ${count}`);
      await rejectsWith(store.getExtents('k', 1, [3, 2], true), 'INVALID');
      await rejectsWith(store.getExtents('k', 2, [0], true), 'NOT_FOUND');
      const old = bytes(1000, 5);
      await store.put('old', 1, checksumLike(old, 'sha256:'), old);
      assert.deepEqual((await store.get('old', 1)).data, old);
      await rejectsWith(store.getExtents('old', 1, [0], true), 'INVALID', 'format 1');
    });
  });

  test('a flipped byte is found by the extent holding it, not by the others', async () => {
    await withStore(async (store, dir) => {
      const data = bytes(MiB, 6);
      await store.put('k', 1, checksumOf(data), data);
      await flipByte(dir, 'k', 1, MiB, 5 * EXTENT_BYTES + 100);
      await rejectsWith(store.getExtents('k', 1, [5], false), 'CORRUPT', 'extent 5');
      await store.getExtents('k', 1, [4, 6], true);
      await rejectsWith(store.get('k', 1), 'CORRUPT');
    });
  });

  test('a patch stores the model bytes, durably readable after reopening', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-extents-'));
    try {
      const base = bytes(300_000, 7);
      // Into the middle, across an extent boundary, and past the end (a gap of zeros between).
      const pieces = [
        { offset: 10, lengthBytes: 4096 },
        { offset: EXTENT_BYTES - 100, lengthBytes: 300 },
        { offset: 500_000, lengthBytes: 4096 },
      ];
      const payload = bytes(8492, 8);
      const expected = applied(base, pieces, payload);
      let store = await BlockStore.open(dir);
      await store.put('k', 1, checksumOf(base), base);
      await store.patch('k', 1, 2, checksumOf(expected), pieces, payload);
      assert.deepEqual((await store.get('k', 2)).data, expected);
      assert.deepEqual((await store.get('k', 1)).data, base, 'the base version is left as it was');
      await store.patch('k', 1, 2, checksumOf(expected), pieces, payload); // sent again: the same version
      await store.close();
      store = await BlockStore.open(dir);
      assert.deepEqual(store.openReport.damaged, []);
      assert.deepEqual((await store.get('k', 2)).data, expected);
      assert.deepEqual((await store.getExtents('k', 2, [7], true)).data, extentOf(expected, 7));
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a patch is refused, storing nothing, for a wrong checksum, a missing or old base, bad pieces', async () => {
    await withStore(async (store) => {
      const base = bytes(MiB, 9);
      await store.put('k', 1, checksumOf(base), base);
      const pieces = [{ offset: 4096, lengthBytes: 4096 }];
      const payload = bytes(4096, 10);
      await rejectsWith(store.patch('k', 1, 2, checksumOf(base), pieces, payload), 'CORRUPT', 'patched block has checksum');
      await rejectsWith(store.get('k', 2), 'NOT_FOUND');
      const expected = applied(base, pieces, payload);
      await rejectsWith(store.patch('k', 7, 8, checksumOf(expected), pieces, payload), 'NOT_FOUND');
      await rejectsWith(store.patch('k', 1, 2, checksumOf(expected), [{ offset: MiB * 4, lengthBytes: 4096 }], payload), 'INVALID', 'past the block size');
      await rejectsWith(store.patch('k', 1, 2, checksumLike(expected, 'sha256:'), pieces, payload), 'INVALID', 'xsha256');
      const old = bytes(MiB, 11);
      await store.put('old', 1, checksumLike(old, 'sha256:'), old);
      await rejectsWith(store.patch('old', 1, 2, checksumOf(applied(old, pieces, payload)), pieces, payload), 'INVALID', 'format 1');
      await rejectsWith(store.get('old', 2), 'NOT_FOUND');
    });
  });

  test('a bad base is never laundered: refused where the patch reads it, still found where it does not', async () => {
    await withStore(async (store, dir) => {
      const base = bytes(MiB, 12);
      await store.put('k', 1, checksumOf(base), base);
      await flipByte(dir, 'k', 1, MiB, 2 * EXTENT_BYTES + 7);
      const inside = [{ offset: 2 * EXTENT_BYTES + 100, lengthBytes: 10 }];
      const payload = bytes(10, 13);
      const good = applied(base, inside, payload);
      await rejectsWith(store.patch('k', 1, 2, checksumOf(good), inside, payload), 'CORRUPT', 'from version 1: extent 2 does not match');
      await rejectsWith(store.get('k', 2), 'NOT_FOUND');
      // A patch elsewhere keeps extent 2's recorded hash, not its bad bytes' hash: the new
      // version reads as corrupt, so a reader goes to another replica and repairs this one.
      const elsewhere = [{ offset: 9 * EXTENT_BYTES, lengthBytes: 10 }];
      await store.patch('k', 1, 2, checksumOf(applied(base, elsewhere, payload)), elsewhere, payload);
      await rejectsWith(store.get('k', 2), 'CORRUPT');
      await rejectsWith(store.getExtents('k', 2, [2], false), 'CORRUPT', 'extent 2');
    });
  });
});

/** Bytes on disk of each file of a key, by name (block files and retained bases). */
async function filesOf(dir: string, key: string): Promise<Map<string, number>> {
  const sub = path.join(dir, subdirOf(key));
  const out = new Map<string, number>();
  for (const name of await readdir(sub).catch(() => [])) {
    if (name.startsWith(`${key}.`)) out.set(name, (await stat(path.join(sub, name))).size);
  }
  return out;
}

/** Patches (key, base) into (key, version) with one 4 KiB piece at `offset`; returns the bytes. */
async function patch4k(store: BlockStore, key: string, baseData: Buffer, base: number, version: number, offset: number): Promise<Buffer> {
  const pieces = [{ offset, lengthBytes: 4096 }];
  const payload = bytes(4096, version);
  const expected = applied(baseData, pieces, payload);
  await store.patch(key, base, version, checksumOf(expected), pieces, payload);
  return expected;
}

describe('BlockStore deltas', () => {
  test('a small patch is stored as a delta of its base: a few KiB on disk, read whole or in part', async () => {
    await withStore(async (store, dir) => {
      const base = bytes(MiB, 20);
      await store.put('k', 1, checksumOf(base), base);
      const expected = await patch4k(store, 'k', base, 1, 2, 100_000);
      const files = await filesOf(dir, 'k');
      assert.ok(files.get(blockFileName('k', 2))! < 3 * EXTENT_BYTES, `the delta takes ${files.get(blockFileName('k', 2))} bytes`);
      assert.deepEqual((await store.get('k', 2)).data, expected);
      assert.deepEqual((await store.getExtents('k', 2, [6], true)).data, extentOf(expected, 6));
      assert.equal((await store.stat('k', 2)).sizeBytes, MiB);
    });
  });

  test(`a chain of deltas reads right at every step and is written whole past ${limits.maxDeltaChain}`, async () => {
    await withStore(async (store, dir) => {
      let data = bytes(MiB, 21);
      await store.put('k', 1, checksumOf(data), data);
      for (let v = 2; v <= limits.maxDeltaChain + 3; v++) {
        data = await patch4k(store, 'k', data, v - 1, v, (v * 37_000) % (MiB - 4096));
        assert.deepEqual((await store.get('k', v)).data, data, `version ${v}`);
        const size = (await filesOf(dir, 'k')).get(blockFileName('k', v))!;
        const whole = v === limits.maxDeltaChain + 2;
        assert.equal(size > MiB, whole, `version ${v} is ${size} bytes`);
      }
    });
  });

  test('a base deleted under a delta is kept out of sight until the delta goes, then removed', async () => {
    await withStore(async (store, dir) => {
      const base = bytes(MiB, 22);
      await store.put('k', 1, checksumOf(base), base);
      const v2 = await patch4k(store, 'k', base, 1, 2, 0);
      const v3 = await patch4k(store, 'k', v2, 2, 3, 500_000);
      assert.equal(await store.delete('k', 1), 1);
      assert.equal(await store.delete('k', 2), 1);
      await assert.rejects(store.get('k', 1), (err: QfsError) => err.code === 'NOT_FOUND');
      assert.deepEqual(store.listPage(undefined, 100, 1 << 20).entries.map((e) => e.version), [3]);
      assert.deepEqual([...(await filesOf(dir, 'k')).keys()].sort(), [blockFileName('k', 3), retainedFileName('k', 1), retainedFileName('k', 2)].sort());
      assert.deepEqual((await store.get('k', 3)).data, v3);
      // Reopened: the chain is found again from the files.
      await store.close();
      const again = await BlockStore.open(dir);
      try {
        assert.deepEqual(again.openReport.damaged, []);
        assert.deepEqual((await again.get('k', 3)).data, v3);
        assert.equal(await again.delete('k', 3), 1);
        assert.deepEqual([...(await filesOf(dir, 'k')).keys()], [], 'the retained bases went with the last delta');
      } finally {
        await again.close();
      }
    });
  });

  test('a delete of the base while a patch is under way keeps the base for the delta', async () => {
    await withStore(async (store) => {
      const base = bytes(MiB, 23);
      await store.put('k', 1, checksumOf(base), base);
      const pieces = [{ offset: 4096, lengthBytes: 4096 }];
      const payload = bytes(4096, 24);
      const expected = applied(base, pieces, payload);
      const patching = store.patch('k', 1, 2, checksumOf(expected), pieces, payload);
      await store.delete('k', 1);
      await patching;
      assert.deepEqual((await store.get('k', 2)).data, expected);
    });
  });

  test('a put over a delta makes it whole and lets its retained base go', async () => {
    await withStore(async (store, dir) => {
      const base = bytes(MiB, 25);
      await store.put('k', 1, checksumOf(base), base);
      const v2 = await patch4k(store, 'k', base, 1, 2, 8192);
      await store.delete('k', 1);
      await store.put('k', 2, checksumOf(v2), v2); // a repair rewrites the copy whole
      assert.deepEqual([...(await filesOf(dir, 'k')).keys()], [blockFileName('k', 2)]);
      assert.deepEqual((await store.get('k', 2)).data, v2);
    });
  });

  test('a bad delta, a bad retained base and a missing base are each found', async () => {
    await withStore(async (store, dir) => {
      const base = bytes(MiB, 26);
      await store.put('k', 1, checksumOf(base), base);
      await patch4k(store, 'k', base, 1, 2, 0);
      await store.corrupt('k', 2);
      await rejectsWith(store.get('k', 2), 'CORRUPT');
      await store.put('j', 1, checksumOf(base), base);
      await patch4k(store, 'j', base, 1, 2, 0);
      await store.delete('j', 1);
      // Rot in the retained base, in an extent the delta does not hold.
      const handle = await open(path.join(dir, subdirOf('j'), retainedFileName('j', 1)), 'r+');
      await handle.write(Buffer.from([0xee ^ base[dataOffsetOf('j', MiB)]!]), 0, 1, dataOffsetOf('j', MiB) + 9 * EXTENT_BYTES);
      await handle.close();
      await rejectsWith(store.get('j', 2), 'CORRUPT');
      await rejectsWith(store.getExtents('j', 2, [9], false), 'CORRUPT', 'extent 9');
      await store.getExtents('j', 2, [0], true);
    });
    // A delta whose base file is gone is damaged at open.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-extents-'));
    try {
      const store = await BlockStore.open(dir);
      const base = bytes(MiB, 27);
      await store.put('k', 1, checksumOf(base), base);
      await patch4k(store, 'k', base, 1, 2, 0);
      await store.close();
      await rm(path.join(dir, subdirOf('k'), blockFileName('k', 1)));
      const again = await BlockStore.open(dir);
      try {
        assert.deepEqual(again.openReport.damaged.map((d) => [d.key, d.version]), [['k', 2]]);
        await rejectsWith(again.get('k', 2), 'CORRUPT');
      } finally {
        await again.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('BlockStore deltas at size', () => {
  test('20,000 deltas, and 20,000 versions deleted under them and kept, survive a reopen and all go with the last versions', async () => {
    const KEYS = 2_500;
    const DEPTH = limits.maxDeltaChain; // 8 deltas a key: 20,000 in all
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-deltas-'));
    const countFiles = async (): Promise<{ blk: number; rtn: number }> => {
      const counts = { blk: 0, rtn: 0 };
      for (const sub of await readdir(dir, { withFileTypes: true })) {
        if (!sub.isDirectory()) continue;
        for (const name of await readdir(path.join(dir, sub.name))) {
          if (name.endsWith('.blk')) counts.blk++;
          else if (name.endsWith('.rtn')) counts.rtn++;
        }
      }
      return counts;
    };
    try {
      // Two extents a block, the second one byte: each patch changes half the block.
      const base = bytes(EXTENT_BYTES + 1, 30);
      const last = new Map<string, Buffer>();
      let store = await BlockStore.open(dir, { durable: false });
      for (let k = 0; k < KEYS; k++) {
        const key = `d${k}`;
        await store.put(key, 1, checksumOf(base), base);
        let data = base;
        for (let v = 2; v <= DEPTH + 1; v++) {
          const payload = Buffer.from([(k + v) & 0xff]);
          const next = applied(data, [{ offset: EXTENT_BYTES, lengthBytes: 1 }], payload);
          await store.patch(key, v - 1, v, checksumOf(next), [{ offset: EXTENT_BYTES, lengthBytes: 1 }], payload);
          data = next;
        }
        last.set(key, data);
        for (let v = 1; v <= DEPTH; v++) await store.delete(key, v);
      }
      assert.deepEqual(await countFiles(), { blk: KEYS, rtn: KEYS * DEPTH });
      let listed = 0;
      for (let cursor: { key: string; version: number } | undefined, first = true; first || cursor; first = false) {
        const page = store.listPage(cursor, 4096, 1 << 20);
        listed += page.entries.length;
        assert.ok(page.entries.every((e) => e.version === DEPTH + 1));
        cursor = page.next;
      }
      assert.equal(listed, KEYS, 'only the live versions are listed');
      await store.close();
      store = await BlockStore.open(dir, { durable: false });
      try {
        assert.deepEqual(store.openReport.damaged, []);
        for (const k of [0, 1_234, KEYS - 1]) assert.deepEqual((await store.get(`d${k}`, DEPTH + 1)).data, last.get(`d${k}`));
        for (let k = 0; k < KEYS; k++) await store.delete(`d${k}`, DEPTH + 1);
        assert.deepEqual(await countFiles(), { blk: 0, rtn: 0 });
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
