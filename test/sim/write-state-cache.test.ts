// The mediator's write state cache on a cluster in one process, on virtual time: writes to a file
// it created or wrote skip the metadata read, and a write planned from a stale entry (another
// writer changed the inode behind its back, here by commits and truncates sent straight to the
// metadata server) never commits: its conditional commit is refused (STALE) and the write is made
// again from the metadata, so the file holds the right bytes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checksumOf } from '../../src/common/checksum.js';
import { blockKey, type InodeAttr } from '../../src/common/types.js';
import { metaMethods, namespaceMethods } from '../../src/protocol/meta-messages.js';
import { SimCluster } from '../../sim/sim-cluster.js';

const DEADLINE_MS = 10_000;

async function withCluster(body: (cluster: SimCluster, create: (name: string) => Promise<InodeAttr>) => Promise<void>): Promise<void> {
  const cluster = new SimCluster(
    { seed: 7, servers: 3, readQuorum: 2, writeQuorum: 2, spares: 2, scrubIntervalMs: 1_000_000, diskCapacityBytes: 1 << 30, logLines: 20, blockCacheBytes: 0 },
    () => undefined,
  );
  const clock = cluster.clock;
  const create = async (name: string): Promise<InodeAttr> => {
    const attr = await clock.await(cluster.meta.call(namespaceMethods.create, { parent: 1, name, mode: 0o100644, caller: { uid: 0, gid: 0 }, exclusive: true }), DEADLINE_MS);
    cluster.core.fileIo.created(attr); // as the mediator's forwarding of create does
    return attr;
  };
  try {
    await cluster.start();
    await body(cluster, create);
  } finally {
    await cluster.stop();
  }
}

function write(cluster: SimCluster, ino: number, offset: number, text: string): Promise<InodeAttr> {
  const clock = cluster.clock;
  return clock.await(cluster.core.fileIo.write(ino, offset, Buffer.from(text), clock.nowMs() + DEADLINE_MS), DEADLINE_MS);
}

async function contents(cluster: SimCluster, ino: number): Promise<string> {
  const clock = cluster.clock;
  const { data } = await clock.await(cluster.core.fileIo.read(ino, 0, 1 << 20, clock.nowMs() + DEADLINE_MS), DEADLINE_MS);
  return data.toString('latin1');
}

/** Another writer: puts block 0 of `ino` on every server and commits it straight to the metadata
 * server, as a second mediator would, without this mediator's FileIo knowing. */
async function commitBehindItsBack(cluster: SimCluster, ino: number, text: string): Promise<void> {
  const clock = cluster.clock;
  const bytes = Buffer.from(text);
  const { first: version } = await clock.await(cluster.meta.call(metaMethods.reserveVersions, { count: 1 }), DEADLINE_MS);
  for (const server of cluster.runningServers()) await server.disk.put(blockKey(ino, 0), version, checksumOf(bytes), bytes);
  const block = { index: 0, version, checksum: checksumOf(bytes), lengthBytes: bytes.length };
  await clock.await(cluster.meta.call(metaMethods.commitBlocks, { ino, blocks: [block], sizeBytes: bytes.length, time: clock.nowTimespec() }), DEADLINE_MS);
}

describe('write state cache', () => {
  it('a file it created and then appends to is written without reading the metadata first', async () => {
    await withCluster(async (cluster, create) => {
      const { ino } = await create('f');
      const counters = cluster.core.fileIo.counters;
      let expected = '';
      for (let i = 0; i < 20; i++) {
        const chunk = `chunk ${i}; `.repeat(1 + (i % 3));
        await write(cluster, ino, expected.length, chunk);
        expected += chunk;
      }
      assert.equal(await contents(cluster, ino), expected);
      assert.deepEqual({ ...counters }, { metaReadsSkipped: 20, staleCommits: 0, blocksPatched: 0, patchesSentWhole: 0 });
    });
  });

  it('a write after another writer committed behind its back merges the bytes the file has', async () => {
    await withCluster(async (cluster, create) => {
      const { ino } = await create('f');
      await write(cluster, ino, 0, 'hello world');
      await commitBehindItsBack(cluster, ino, 'HELLO THERE, WORLD');
      // The cache still says size 11 and its own block 0: planned from it, the merge would keep
      // 'hello world' and lose the other writer's bytes.
      await write(cluster, ino, 6, 'w');
      assert.equal(await contents(cluster, ino), 'HELLO wHERE, WORLD');
      assert.equal(cluster.core.fileIo.counters.staleCommits, 1);
      // Known again from that write: the next one skips the metadata read and commits.
      await write(cluster, ino, 0, 'j');
      assert.equal(await contents(cluster, ino), 'jELLO wHERE, WORLD');
      assert.deepEqual({ ...cluster.core.fileIo.counters }, { metaReadsSkipped: 3, staleCommits: 1, blocksPatched: 0, patchesSentWhole: 0 });
    });
  });

  it('a write after a truncate behind its back zero-fills what the truncate cut', async () => {
    await withCluster(async (cluster, create) => {
      const { ino } = await create('f');
      await write(cluster, ino, 0, 'hello world');
      const clock = cluster.clock;
      await clock.await(cluster.meta.call(metaMethods.setattr, { ino, attr: { size: 0 }, now: clock.nowTimespec() }), DEADLINE_MS);
      await write(cluster, ino, 5, 'X');
      assert.equal(await contents(cluster, ino), '\0\0\0\0\0X');
      assert.equal(cluster.core.fileIo.counters.staleCommits, 1);
    });
  });

  it('a truncate through FileIo keeps the entry right: growing again rewrites the stale tail', async () => {
    await withCluster(async (cluster, create) => {
      const { ino } = await create('f');
      const clock = cluster.clock;
      await write(cluster, ino, 0, 'abcdefghij');
      await clock.await(cluster.core.fileIo.setattr(ino, { size: 4 }, clock.nowMs() + DEADLINE_MS), DEADLINE_MS);
      await write(cluster, ino, 8, 'Z');
      assert.equal(await contents(cluster, ino), 'abcd\0\0\0\0Z');
      await clock.await(cluster.core.fileIo.setattr(ino, { size: 0 }, clock.nowMs() + DEADLINE_MS), DEADLINE_MS);
      await write(cluster, ino, 2, 'Q');
      assert.equal(await contents(cluster, ino), '\0\0Q');
      assert.deepEqual({ ...cluster.core.fileIo.counters }, { metaReadsSkipped: 3, staleCommits: 0, blocksPatched: 0, patchesSentWhole: 0 });
    });
  });
});
