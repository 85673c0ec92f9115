// Write misses on a server that cannot take them (its disk fails every write) are tried again
// less and less often, not every 0.5 s forever (each try is a warning in the log); once the
// server takes writes again, they are repaired.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { namespaceMethods } from '../../src/protocol/meta-messages.js';
import { SimCluster } from '../../sim/sim-cluster.js';

describe('repair of write misses', () => {
  it('backs off while the server fails, and repairs once it recovers', async () => {
    const puts = new Map<string, number>();
    const cluster = new SimCluster(
      { seed: 3, servers: 3, readQuorum: 2, writeQuorum: 2, spares: 2, scrubIntervalMs: 0, diskCapacityBytes: 1 << 30, logLines: 20, blockCacheBytes: 0 },
      (to, op) => {
        if (op === 'put') puts.set(to, (puts.get(to) ?? 0) + 1);
      },
    );
    const clock = cluster.clock;
    try {
      await cluster.start();
      const failing = cluster.activeServers()[0]!;
      failing.disk.faults = { failWrite: 1, tearWrite: 0, maxLatencyMs: 0 };
      const attr = await clock.await(cluster.meta.call(namespaceMethods.create, { parent: 1, name: 'f', mode: 0o100644, caller: { uid: 0, gid: 0 }, exclusive: true }), 10_000);
      await clock.await(cluster.core.fileIo.write(attr.ino, 0, Buffer.from('missed on one server'), clock.nowMs() + 10_000), 10_000);
      const committed = cluster.committedVersion(attr.ino, 0)!;
      const key = `${attr.ino}:0`;
      assert.equal(cluster.core.redundancy.lackingBlocks(failing.name), 1);
      const before = puts.get(failing.name) ?? 0;
      await clock.advance(120_000);
      const tries = (puts.get(failing.name) ?? 0) - before;
      // Every 0.5 s would be 240 tries; doubling from 0.5 s up to 30 s is about 10.
      assert.ok(tries >= 3 && tries <= 15, `${tries} repair tries in 120 s`);
      failing.disk.faults = { failWrite: 0, tearWrite: 0, maxLatencyMs: 0 };
      await clock.advance(31_000);
      assert.ok(failing.disk.goodCopy(key, committed.version, committed.checksum), 'the miss was not repaired once the server took writes again');
      assert.equal(cluster.core.redundancy.lackingBlocks(failing.name), 0);
    } finally {
      await cluster.stop();
    }
  });
});
