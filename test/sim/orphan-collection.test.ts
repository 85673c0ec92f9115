// Scrub collects orphans (block versions nothing refers to) on a cluster in one process, on
// virtual time: the scenario the simulator found broken (seed 4) pinned down. A stale version
// planted on one disk must be gone once scrub passes have seen it for orphanMinAgeMs, however
// often they run, and the version the block map names must stay on every server.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checksumOf } from '../../src/common/checksum.js';
import { limits } from '../../src/common/limits.js';
import { blockKey } from '../../src/common/types.js';
import { namespaceMethods } from '../../src/protocol/meta-messages.js';
import { SimCluster } from '../../sim/sim-cluster.js';

const ORPHANS_AT_SIZE = 20_000;

describe('scrub and orphans', () => {
  it(`collects ${ORPHANS_AT_SIZE.toLocaleString('en')} orphans on one server, page by page, and keeps every committed version`, async () => {
    const cluster = new SimCluster(
      { seed: 5, servers: 3, readQuorum: 2, writeQuorum: 2, spares: 2, scrubIntervalMs: 10_000, diskCapacityBytes: 1 << 30, logLines: 20, blockCacheBytes: 0 },
      () => undefined,
    );
    const clock = cluster.clock;
    try {
      await cluster.start();
      const attr = await clock.await(cluster.meta.call(namespaceMethods.create, { parent: 1, name: 'f', mode: 0o100644, caller: { uid: 0, gid: 0 }, exclusive: true }), 10_000);
      await clock.await(cluster.core.fileIo.write(attr.ino, 0, Buffer.from('committed'), clock.nowMs() + 10_000), 10_000);
      const committed = cluster.committedVersion(attr.ino, 0)!;
      // Stale versions of blocks of inodes nothing refers to: more than one listing page
      // (limits.maxListEntries) and far more than one verify batch.
      const disk = cluster.runningServers()[0]!.disk;
      const bytes = Buffer.from('stale');
      for (let i = 0; i < ORPHANS_AT_SIZE; i++) await disk.put(blockKey(1_000_000 + i, 0), 1 + (i % 7), checksumOf(bytes), bytes);
      assert.ok(ORPHANS_AT_SIZE > 4 * limits.maxListEntries);
      assert.equal((await disk.usage()).blocks, ORPHANS_AT_SIZE + 1);

      await clock.advance(limits.orphanMinAgeMs + 3 * 10_000);
      assert.equal((await disk.usage()).blocks, 1, 'orphans are left on the disk');
      assert.ok(disk.goodCopy(blockKey(attr.ino, 0), committed.version, committed.checksum), 'the committed version must stay');
    } finally {
      await cluster.stop();
    }
  });

  for (const scrubIntervalMs of [10_000, 45_000]) {
    it(`deletes a planted orphan and keeps the committed version (a pass every ${scrubIntervalMs / 1000} s)`, async () => {
      const cluster = new SimCluster(
        { seed: 1, servers: 3, readQuorum: 2, writeQuorum: 2, spares: 2, scrubIntervalMs, diskCapacityBytes: 1 << 30, logLines: 20, blockCacheBytes: 0 },
        () => undefined,
      );
      const clock = cluster.clock;
      try {
        await cluster.start();
        const attr = await clock.await(cluster.meta.call(namespaceMethods.create, { parent: 1, name: 'f', mode: 0o100644, caller: { uid: 0, gid: 0 }, exclusive: true }), 10_000);
        const data = Buffer.from('committed bytes');
        await clock.await(cluster.core.fileIo.write(attr.ino, 0, data, clock.nowMs() + 10_000), 10_000);
        const key = blockKey(attr.ino, 0);
        const committed = cluster.committedVersion(attr.ino, 0)!;
        // An older version left behind (a delete that a crash undid): nothing refers to it.
        const stale = Buffer.from('stale bytes');
        const disk = cluster.runningServers()[0]!.disk;
        await disk.put(key, committed.version - 1, checksumOf(stale), stale);
        const holds = (version: number, checksum: string): number => cluster.runningServers().filter((s) => s.disk.goodCopy(key, version, checksum)).length;
        assert.equal(holds(committed.version - 1, checksumOf(stale)), 1);

        await clock.advance(limits.orphanMinAgeMs + 2 * scrubIntervalMs + 1_000);
        assert.equal(holds(committed.version - 1, checksumOf(stale)), 0, 'the orphan is still there');
        assert.equal(holds(committed.version, committed.checksum), 3, 'the committed version must stay on every server');
        assert.ok(cluster.core.redundancy.counters.scrubPasses + 1 >= 2, 'scrub passes ran');
      } finally {
        await cluster.stop();
      }
    });
  }
});
