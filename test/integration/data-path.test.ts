// The data path through real processes: files of several blocks written and read back through
// the client API, overwritten in place, truncated, extended, renamed and deleted.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { limits } from '../../src/common/limits.js';
import { QfsError } from '../../src/common/errors.js';
import { ROOT_INO } from '../../src/common/types.js';
import { runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';

const BS = limits.blockSizeBytes;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return err instanceof QfsError ? err.code : String(err);
  }
}

describe('data path (N=3, Qr=2, Qw=2)', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3 });
  });
  after(() => cluster.stop());

  it('writes and reads back files of 0 B, 1 B, block size ± 1 and several blocks', async () => {
    const c = cluster.client;
    for (const size of [0, 1, BS - 1, BS, BS + 1, 3 * BS + 12345]) {
      const data = randomBytes(size);
      const attr = await c.writeFile(`/f${size}`, data);
      assert.equal(attr.size, size);
      assert.equal(sha(await c.readFile(`/f${size}`)), sha(data), `file of ${size} bytes`);
    }
  });

  it('overwrites inside a block, across a block boundary and appends', async () => {
    const c = cluster.client;
    const model = randomBytes(2 * BS + 100);
    const attr = await c.writeFile('/rw', model);
    const patches: Array<[number, number]> = [
      [10, 5],
      [BS - 3, 7],
      [2 * BS + 100, 50], // append
      [2 * BS + 500, 10], // past the end: leaves a hole
    ];
    let expected: Buffer = Buffer.from(model);
    for (const [offset, length] of patches) {
      const patch = randomBytes(length);
      await c.write(attr.ino, offset, patch);
      if (offset + length > expected.length) expected = Buffer.concat([expected, Buffer.alloc(offset + length - expected.length)]);
      patch.copy(expected, offset);
    }
    assert.equal(sha(await c.readFile('/rw')), sha(expected));
    assert.deepEqual(await c.read(attr.ino, BS - 5, 12), expected.subarray(BS - 5, BS + 7));
  });

  it('writes scattered extents in one call as one change, and refuses too many blocks', async () => {
    const c = cluster.client;
    const model = randomBytes(3 * BS + 700);
    const attr = await c.writeFile('/scatter', model);
    // A truncate leaves stale bytes in the last block; extents past it must not resurrect them.
    await c.setattr(attr.ino, { size: 2 * BS + 300 });
    const expected = Buffer.alloc(5 * BS + 20);
    model.copy(expected, 0, 0, 2 * BS + 300);
    const extents = [
      { offset: 4 * BS + 10, data: randomBytes(BS + 10) }, // across a block boundary, past the end
      { offset: 5, data: randomBytes(20) },
      { offset: 30, data: randomBytes(5) }, // the same block again
      { offset: BS, data: randomBytes(BS) }, // a whole block
      { offset: 7, data: randomBytes(3) }, // overlaps an earlier extent: applied in order
    ];
    for (const e of extents) e.data.copy(expected, e.offset);
    const after = await c.writeExtents(attr.ino, extents);
    assert.equal(after.size, expected.length);
    assert.equal(sha(await c.readFile('/scatter')), sha(expected));

    const tooMany = Array.from({ length: limits.maxBlocksPerWrite + 1 }, (_, i) => ({ offset: i * BS, data: Buffer.from('x') }));
    assert.equal(await codeOf(c.writeExtents(attr.ino, tooMany)), 'INVALID');
    assert.equal(sha(await c.readFile('/scatter')), sha(expected), 'a refused call changes nothing');
  });

  it('truncates down and up: the cut bytes read as zeros afterwards', async () => {
    const c = cluster.client;
    const data = randomBytes(BS + 1000);
    const attr = await c.writeFile('/trunc', data);
    await c.setattr(attr.ino, { size: 100 });
    assert.deepEqual(await c.readFile('/trunc'), data.subarray(0, 100));
    const grown = await c.setattr(attr.ino, { size: BS + 10 });
    assert.equal(grown.size, BS + 10);
    const expected = Buffer.concat([data.subarray(0, 100), Buffer.alloc(BS + 10 - 100)]);
    assert.equal(sha(await c.readFile('/trunc')), sha(expected));
    // Writing past the end after a truncate must not resurrect old bytes either.
    await c.setattr(attr.ino, { size: 50 });
    await c.write(attr.ino, 200, Buffer.from('x'));
    const after = await c.readFile('/trunc');
    assert.deepEqual(after, Buffer.concat([data.subarray(0, 50), Buffer.alloc(150), Buffer.from('x')]));
  });

  it('rename keeps the data and touches no data server', async () => {
    const c = cluster.client;
    const data = randomBytes(BS + 7);
    const attr = await c.writeFile('/before', data);
    const dir = await c.mkdir(ROOT_INO, 'sub');
    // The file's blocks as each data server holds them: a rename must not change them.
    const held = async (): Promise<string[]> => {
      const { DataClient } = await import('../helpers/data-client.js');
      const out: string[] = [];
      for (const port of cluster.dataPorts) {
        for (const e of await DataClient.list(port)) if (e.key.startsWith(`${attr.ino}:`)) out.push(`${port} ${e.key}@${e.version}`);
      }
      return out.sort();
    };
    const before = await held();
    assert.equal(before.length, 6);
    await c.rename(ROOT_INO, 'before', dir.ino, 'after');
    assert.equal(sha(await c.readFile('/sub/after')), sha(data));
    assert.equal(await codeOf(c.resolve('/before')), 'NOT_FOUND');
    assert.deepEqual(await held(), before);
    assert.equal((await c.resolve('/sub/after')).ino, attr.ino);
  });

  it('deleting a file removes its blocks from every data server', async () => {
    const c = cluster.client;
    const attr = await c.writeFile('/doomed', randomBytes(2 * BS));
    const key = `${attr.ino}:`;
    const holders = async (): Promise<number> => {
      let n = 0;
      for (const port of cluster.dataPorts) {
        const { DataClient } = await import('../helpers/data-client.js');
        n += (await DataClient.list(port)).filter((e) => e.key.startsWith(key)).length;
      }
      return n;
    };
    assert.equal(await holders(), 6);
    await c.unlink(ROOT_INO, 'doomed');
    await waitFor(async () => (await holders()) === 0, 5_000, 'blocks of the deleted file to go');
  });

  it('overwriting a block deletes its superseded version', async () => {
    const c = cluster.client;
    const attr = await c.writeFile('/versions', randomBytes(100));
    await c.write(attr.ino, 0, randomBytes(100));
    const { DataClient } = await import('../helpers/data-client.js');
    await waitFor(
      async () => (await DataClient.list(cluster.dataPorts[0]!)).filter((e) => e.key === `${attr.ino}:0`).length === 1,
      5_000,
      'the old version to be deleted',
    );
  });

  it('answers namespace errors with their codes', async () => {
    const c = cluster.client;
    await c.mkdir(ROOT_INO, 'd1');
    const d1 = await c.resolve('/d1');
    await c.create(d1.ino, 'x');
    assert.equal(await codeOf(c.mkdir(ROOT_INO, 'd1')), 'EXISTS');
    assert.equal(await codeOf(c.rmdir(ROOT_INO, 'd1')), 'NOT_EMPTY');
    assert.equal(await codeOf(c.lookup(ROOT_INO, 'nope')), 'NOT_FOUND');
    assert.equal(await codeOf(c.read(d1.ino, 0, 10)), 'IS_DIR');
    assert.equal(await codeOf(c.create(ROOT_INO, 'n'.repeat(256))), 'NAME_TOO_LONG');
  });
});

describe('partial writes merge into what the mediator committed (N=3, Qr=2, Qw=3)', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 3, dataServers: 3, faultInjection: true });
  });
  after(() => cluster.stop());

  it('a 4 KiB write into a block just written needs no replica read: it merges into the bytes committed', async () => {
    const c = cluster.client;
    const data = randomBytes(2 * BS);
    const attr = await c.writeFile('/merged', data);
    // Every copy of block 1 goes bad on disk: a read-modify-write that read a replica would fail.
    for (const port of cluster.dataPorts) {
      const r = await runCli(['corrupt', String(port), `${attr.ino}:1`]);
      assert.equal(r.code, 0, r.stderr);
    }
    const patch = randomBytes(4096);
    await c.write(attr.ino, BS + 8192, patch);
    patch.copy(data, BS + 8192);
    assert.equal(sha(await c.readFile('/merged')), sha(data), 'the new version holds the committed bytes and the patch');
  });
});
