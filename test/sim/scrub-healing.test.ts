// Scrub verifies servers still being healed: the scenario the simulator found broken (seed 21)
// pinned down. One block has lost every copy, so the heal of a replacement can never finish and
// the replacement stays `healing`; rot on that replacement must still be found and repaired.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockKey } from '../../src/common/types.js';
import { namespaceMethods } from '../../src/protocol/meta-messages.js';
import { SimCluster } from '../../sim/sim-cluster.js';

describe('scrub and servers being healed', () => {
  it('repairs rot on a replacement whose heal cannot finish', async () => {
    const cluster = new SimCluster(
      { seed: 2, servers: 3, readQuorum: 2, writeQuorum: 2, spares: 2, scrubIntervalMs: 10_000, diskCapacityBytes: 1 << 30, logLines: 20, blockCacheBytes: 0 },
      () => undefined,
    );
    const clock = cluster.clock;
    const caller = { uid: 0, gid: 0 };
    try {
      await cluster.start();
      const write = async (name: string, text: string): Promise<{ key: string; version: number; checksum: string }> => {
        const attr = await clock.await(cluster.meta.call(namespaceMethods.create, { parent: 1, name, mode: 0o100644, caller, exclusive: true }), 10_000);
        await clock.await(cluster.core.fileIo.write(attr.ino, 0, Buffer.from(text), clock.nowMs() + 10_000), 10_000);
        return { key: blockKey(attr.ino, 0), ...cluster.committedVersion(attr.ino, 0)! };
      };
      const lost = await write('lost', 'every copy of this will rot');
      const kept = await write('kept', 'this one stays readable');
      // Every copy of `lost` rots: no heal can ever copy it.
      for (const server of cluster.runningServers()) {
        await server.disk.corrupt(lost.key, lost.version);
      }
      const [victim] = cluster.activeServers();
      victim!.kill('killed by the test');
      // The replacement starts and heals `kept`, but not `lost`.
      await clock.advance(20_000);
      const replacement = cluster.activeServers().find((s) => s.port > 7100);
      assert.ok(replacement, 'a replacement was started');
      assert.ok(replacement.disk.goodCopy(kept.key, kept.version, kept.checksum), 'the heal copied what it could');
      assert.equal(cluster.core.serverIds().live.includes(replacement.name), false, 'the replacement is still healing: one block has no good copy anywhere');
      // Rot on the replacement: only a scrub that verifies healing servers finds it.
      await replacement.disk.corrupt(kept.key, kept.version);
      await clock.advance(25_000);
      assert.ok(replacement.disk.goodCopy(kept.key, kept.version, kept.checksum), 'rot on a server being healed was not repaired');
    } finally {
      await cluster.stop();
    }
  });
});
