// The mount against a real cluster: the classic acceptance scenario (corrupt a replica,
// terminate a data server, a replacement on 60000 — the first free spare port — takes new
// writes, all through the mount), files of many sizes checked by checksum, a 1 GiB sparse file,
// and close-to-open consistency between two mounts of the same cluster.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rename, rm, stat, truncate, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { limits } from '../../src/common/limits.js';
import { awaitReplacement, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { startMount, type Mount } from '../helpers/mount.js';
import { DataClient } from '../helpers/data-client.js';

const BS = limits.blockSizeBytes;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Writes `data` at `offset` of an existing file through its own handle, and closes it. */
async function writeAt(file: string, offset: number, data: Uint8Array): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.write(data, 0, data.length, offset);
  } finally {
    await handle.close();
  }
}

describe('classic acceptance scenario (mediator 3 5, five data servers)', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let mount: Mount;
  before(async () => {
    cluster = await startCluster({ readQuorum: 3, writeQuorum: 5, dataServers: 5, faultInjection: true });
    mount = await startMount(cluster.mediatorPort);
  });
  after(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  it('works like a directory, masks a corrupt replica and survives a crashed data server', async () => {
    const p = (name: string): string => path.join(mount.dir, name);
    await mkdir(p('a'));
    await writeFile(p('a/hello.txt'), '');
    await writeFile(p('c.txt'), 'hello');
    assert.equal(await readFile(p('c.txt'), 'utf8'), 'hello');
    assert.deepEqual((await readdir(mount.dir)).sort(), ['a', 'c.txt']);
    assert.deepEqual(await readdir(p('a')), ['hello.txt']);
    await rm(p('a/hello.txt'));
    assert.deepEqual(await readdir(p('a')), []);

    const ino = (await stat(p('c.txt'))).ino;
    const corrupt = await runCli(['corrupt', String(cluster.dataPorts[0]), `${ino}:0`]);
    assert.equal(corrupt.code, 0, corrupt.stderr);
    // A fresh open revalidates; the mediator's cache holds only verified bytes.
    assert.equal(await readFile(p('c.txt'), 'utf8'), 'hello');

    const terminate = await runCli(['terminate', String(cluster.dataPorts[1])]);
    assert.equal(terminate.code, 0, terminate.stderr);
    let writes = 0;
    const keepWorking = (async () => {
      for (let i = 0; i < 40; i++) {
        await writeFile(p(`during-${i}.txt`), `write ${i}`);
        assert.equal(await readFile(p('c.txt'), 'utf8'), 'hello');
        writes++;
      }
    })();
    const replacement = await awaitReplacement(cluster, cluster.dataPorts[1]!, 2_000);
    await keepWorking;
    assert.equal(writes, 40);
    await writeFile(p('after.txt'), 'after the crash');
    const afterIno = (await stat(p('after.txt'))).ino;
    const list = await runCli(['list-contents', String(replacement.port), '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.ok((JSON.parse(list.stdout) as Array<{ key: string }>).some((e) => e.key === `${afterIno}:0`));
    assert.equal(await readFile(p('after.txt'), 'utf8'), 'after the crash');
  });
});

describe('file sizes and data semantics (N=3)', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let mount: Mount;
  before(async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3 });
    mount = await startMount(cluster.mediatorPort);
  });
  after(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  it('writes, reads and removes files of 0 B, 1 B, block size ± 1, 10 MiB and 256 MiB', async () => {
    for (const size of [0, 1, BS - 1, BS, BS + 1, 10 * 1024 * 1024, 256 * 1024 * 1024]) {
      const file = path.join(mount.dir, `size-${size}`);
      const data = randomBytes(size);
      await writeFile(file, data);
      assert.equal((await stat(file)).size, size);
      assert.equal(sha(await readFile(file)), sha(data), `${size} bytes`);
      await rm(file);
    }
    assert.deepEqual(await readdir(mount.dir), []);
  });

  it('handles a 1 GiB sparse file: holes read as zeros', async () => {
    const file = path.join(mount.dir, 'sparse');
    const handle = await open(file, 'w');
    await handle.write(Buffer.from('start'), 0, 5, 0);
    await handle.write(Buffer.from('end'), 0, 3, 1024 * 1024 * 1024 - 3);
    await handle.close();
    assert.equal((await stat(file)).size, 1024 * 1024 * 1024);
    const reader = await open(file, 'r');
    const buf = Buffer.alloc(8);
    await reader.read(buf, 0, 8, 0);
    assert.deepEqual(buf, Buffer.from('start\0\0\0'));
    await reader.read(buf, 0, 8, 512 * 1024 * 1024);
    assert.deepEqual(buf, Buffer.alloc(8));
    await reader.read(buf, 0, 8, 1024 * 1024 * 1024 - 8);
    assert.deepEqual(buf, Buffer.from('\0\0\0\0\0end'));
    await reader.close();
    await rm(file);
  });

  it('random writes inside a block, appends and truncates keep the right bytes', async () => {
    const file = path.join(mount.dir, 'rmw');
    const model = randomBytes(3 * BS);
    await writeFile(file, model);
    const handle = await open(file, 'r+');
    for (const offset of [5, BS - 2, 2 * BS + 77]) {
      const patch = randomBytes(100);
      await handle.write(patch, 0, patch.length, offset);
      patch.copy(model, offset);
    }
    await handle.close();
    await appendFile(file, 'tail');
    const expected = Buffer.concat([model, Buffer.from('tail')]);
    assert.equal(sha(await readFile(file)), sha(expected));
    await truncate(file, 10);
    await truncate(file, 20);
    assert.deepEqual(await readFile(file), Buffer.concat([expected.subarray(0, 10), Buffer.alloc(10)]));
  });

  it('serves concurrent writers to different files', async () => {
    const files = Array.from({ length: 8 }, (_, i) => ({ name: path.join(mount.dir, `par-${i}`), data: randomBytes(BS + i * 1000) }));
    await Promise.all(files.map((f) => writeFile(f.name, f.data)));
    for (const f of files) assert.equal(sha(await readFile(f.name)), sha(f.data));
  });
});

describe('two mounts of one cluster', { timeout: 60_000 }, () => {
  let cluster: Cluster;
  let first: Mount;
  let second: Mount;
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 2 });
    // Long attribute caching: coherence must come from invalidation and revalidation on open.
    first = await startMount(cluster.mediatorPort, { attrTimeoutSec: 60 });
    second = await startMount(cluster.mediatorPort, { attrTimeoutSec: 60 });
  });
  after(async () => {
    await first?.stop();
    await second?.stop();
    await cluster?.stop();
  });

  it('close-to-open: after one mount closes a file, the other opens it and sees the new contents', async () => {
    const a = path.join(first.dir, 'shared.txt');
    const b = path.join(second.dir, 'shared.txt');
    await writeFile(a, 'version one');
    assert.equal(await readFile(b, 'utf8'), 'version one');
    for (let i = 2; i < 12; i++) {
      const text = `version ${i} ${'x'.repeat(i * 100)}`;
      await writeFile(a, text);
      assert.equal(await readFile(b, 'utf8'), text, `round ${i}`);
      assert.equal((await stat(b)).size, Buffer.byteLength(text));
    }
  });

  it('sees names created, renamed and removed by the other mount', async () => {
    await mkdir(path.join(first.dir, 'd'));
    await writeFile(path.join(first.dir, 'd', 'x'), 'x');
    assert.deepEqual(await readdir(path.join(second.dir, 'd')), ['x']);
    await rm(path.join(second.dir, 'd', 'x'));
    await assert.rejects(stat(path.join(first.dir, 'd', 'x')), { code: 'ENOENT' });
    await writeFile(path.join(second.dir, 'd', 'y'), 'y');
    assert.equal(await readFile(path.join(first.dir, 'd', 'y'), 'utf8'), 'y');
  });

  it("sees at once names the other mount adds to a directory this mount made (whose absences it answers itself)", async () => {
    await mkdir(path.join(first.dir, 'made'));
    for (let i = 0; i < 10; i++) {
      const name = `n${i}`;
      // Answered by the first mount without asking the mediator; the kernel caches the absence.
      await assert.rejects(stat(path.join(first.dir, 'made', name)), { code: 'ENOENT' });
      if (i % 2 === 0) await writeFile(path.join(second.dir, 'made', name), name);
      else await mkdir(path.join(second.dir, 'made', name));
      // The report reaches the first mount before the second one's call returns, but the first
      // mount may not have read it yet: allow for that, far below the 60 s its absences (and
      // the kernel's negative entries) would otherwise last.
      await waitFor(async () => (await stat(path.join(first.dir, 'made', name)).catch(() => undefined)) !== undefined, 2_000, `${name} to be seen`);
      assert.equal((await stat(path.join(first.dir, 'made', name))).isDirectory(), i % 2 === 1, name);
    }
    await rename(path.join(second.dir, 'made', 'n0'), path.join(second.dir, 'made', 'moved'));
    await waitFor(async () => (await readFile(path.join(first.dir, 'made', 'moved'), 'utf8').catch(() => undefined)) === 'n0', 2_000, 'the rename to be seen');
    await writeFile(path.join(first.dir, 'made', 'mine'), 'mine');
    assert.deepEqual((await readdir(path.join(second.dir, 'made'))).sort(), ['mine', 'moved', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9']);
  });
});

describe('a mount reads replicas itself (N=3, Qr=2)', { timeout: 60_000 }, () => {
  let cluster: Cluster;
  let mount: Mount;
  before(async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 3, dataServers: 3, faultInjection: true });
    mount = await startMount(cluster.mediatorPort);
  });
  after(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  const mediatorReads = async (): Promise<number> => (await cluster.status()).counters.reads;

  it('writes through the mediator when told to, which plans the first write of a file the mount created without reading its block map (the metadata server reports the create)', async () => {
    const through = await startMount(cluster.mediatorPort, { flags: ['--write-through-mediator'] });
    try {
      const counters = async () => (await cluster.status()).counters;
      const before = await counters();
      for (let i = 0; i < 20; i++) await writeFile(path.join(through.dir, `planned-${i}`), `file ${i}`);
      const after = await counters();
      assert.equal(after.writes - before.writes, 20, 'every write went through the mediator');
      const skipped = (after.metaReadsSkipped ?? 0) - (before.metaReadsSkipped ?? 0);
      assert.ok(skipped >= 15, `${skipped} of 20 first writes skipped the block-map read`);
      for (let i = 0; i < 20; i++) assert.equal(await readFile(path.join(mount.dir, `planned-${i}`), 'utf8'), `file ${i}`);
    } finally {
      await through.stop();
    }
  });

  it('writes file data to the replicas without the mediator: on every replica, seen by another mount at once, rewritten in part by both', async () => {
    const mediatorWrites = async (): Promise<number> => (await cluster.status()).counters.writes;
    const before = await mediatorWrites();
    const big = randomBytes(3 * BS + 12_345);
    await writeFile(path.join(mount.dir, 'direct-write'), big);
    for (let i = 0; i < 20; i++) await writeFile(path.join(mount.dir, `direct-small-${i}`), `small ${i}`);
    assert.equal(await mediatorWrites(), before, 'no write went through the mediator');
    const ino = (await stat(path.join(mount.dir, 'direct-write'))).ino;
    const { blocks } = await cluster.client.blockMap(ino);
    assert.equal(blocks.length, 4);
    for (const port of cluster.dataPorts) {
      const held = new Set((await DataClient.list(port)).map((e) => `${e.key}@${e.version} ${e.checksum}`));
      for (const b of blocks) assert.ok(held.has(`${ino}:${b.index}@${b.version} ${b.checksum}`), `port ${port} block ${b.index}`);
    }
    // Another mount sees what this one wrote at open, and each rewrites a different part of the
    // same block through its own handle: both parts are kept.
    const other = await startMount(cluster.mediatorPort);
    try {
      assert.equal(sha(await readFile(path.join(other.dir, 'direct-write'))), sha(big));
      const mine = randomBytes(4096);
      const theirs = randomBytes(4096);
      await Promise.all([writeAt(path.join(mount.dir, 'direct-write'), 100_000, mine), writeAt(path.join(other.dir, 'direct-write'), 700_000, theirs)]);
      mine.copy(big, 100_000);
      theirs.copy(big, 700_000);
      assert.equal(sha(await readFile(path.join(other.dir, 'direct-write'))), sha(big));
      assert.equal(sha(await readFile(path.join(mount.dir, 'direct-write'))), sha(big));
    } finally {
      await other.stop();
    }
    for (let i = 0; i < 20; i++) assert.equal(await readFile(path.join(mount.dir, `direct-small-${i}`), 'utf8'), `small ${i}`);
  });

  it('reads verified bytes without the mediator, through it when a copy is bad, and directly again once repaired', async () => {
    const files = await Promise.all(
      [0, 1, BS - 1, BS + 1, 3 * BS + 777].map(async (size, i) => {
        const data = randomBytes(size);
        await cluster.client.writeFile(`/direct-${i}`, data);
        return { path: path.join(mount.dir, `direct-${i}`), data };
      }),
    );
    const before = await mediatorReads();
    for (const f of files) assert.equal(sha(await readFile(f.path)), sha(f.data), f.path);
    assert.equal(await mediatorReads(), before, 'every read went to the replicas directly');

    // Every copy but one of block 1 of the last file goes bad: the mount's Qr read meets a bad
    // copy (either the one sent or one checked in place) and the mediator reads instead.
    const last = files[files.length - 1]!;
    const ino = (await stat(last.path)).ino;
    for (const port of cluster.dataPorts.slice(0, 2)) {
      const r = await runCli(['corrupt', String(port), `${ino}:1`]);
      assert.equal(r.code, 0, r.stderr);
    }
    // A fresh mount each time: no cached pages, no cached blocks.
    const readOnFreshMount = async (): Promise<Buffer> => {
      const fresh = await startMount(cluster.mediatorPort);
      try {
        return await readFile(path.join(fresh.dir, path.basename(last.path)));
      } finally {
        await fresh.stop();
      }
    };
    assert.equal(sha(await readOnFreshMount()), sha(last.data), 'the right bytes despite two bad copies');
    const afterBad = await mediatorReads();
    assert.ok(afterBad > before, 'the mediator read what the mount could not');
    // (The mediator may answer from the blocks it committed and cached; the scrub repairs.)
    const scrub = await runCli(['scrub', '--mediator', `127.0.0.1:${cluster.mediatorPort}`, '--wait']);
    assert.equal(scrub.code, 0, scrub.stderr);
    // Every copy is good again: the mount reads them itself.
    assert.equal(sha(await readOnFreshMount()), sha(last.data));
    assert.equal(await mediatorReads(), afterBad, 'read directly once repaired');
  });
});
