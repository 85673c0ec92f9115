// A data server that is slow to answer heartbeats but answers other calls is busy, not hung: the
// mediator does not declare it down (on two cores under eight writers, every heartbeat of a
// healthy server could come late; the server was killed and replaced, the spare ports ran out,
// and writes at Qw = N failed). One that answers nothing is still declared down and replaced,
// once silent for limits.silenceBeforeMissesMs and three heartbeats more.
// The data server answers heartbeats from memory, however slow its file system's figures are.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dataMethods } from '../../src/protocol/data-messages.js';
import { namespaceMethods } from '../../src/protocol/meta-messages.js';
import { registerDataHandlers } from '../../src/services/data-server.js';
import { LocalRegistry } from '../../sim/local-registry.js';
import { SimCluster } from '../../sim/sim-cluster.js';
import { VirtualClock } from '../../sim/virtual-clock.js';
import { SimDisk } from '../../sim/sim-disk.js';
import { dataAccess } from '../../src/protocol/data-messages.js';
import { seededRandom } from '../../src/common/random.js';
import { createLogger } from '../../src/common/logger.js';
import { checksumOf } from '../../src/common/checksum.js';

const DEADLINE_MS = 10_000;

/** Heartbeats to `server` wait `delayMs` (virtual) before they are handled; other calls do not. */
function slowHeartbeats(cluster: SimCluster, port: number, delayMs: number): void {
  const server = cluster.servers.get(port)!;
  const dispatch = server.registry.dispatch.bind(server.registry);
  server.registry.dispatch = async (op, ...rest) => {
    if (op === dataMethods.heartbeat.name) await cluster.clock.sleep(delayMs);
    return dispatch(op, ...rest);
  };
}

async function withCluster(body: (cluster: SimCluster) => Promise<void>): Promise<void> {
  const cluster = new SimCluster(
    { seed: 5, servers: 3, readQuorum: 2, writeQuorum: 3, spares: 2, scrubIntervalMs: 0, diskCapacityBytes: 1 << 30, logLines: 50, blockCacheBytes: 0 },
    () => undefined,
  );
  try {
    await cluster.start();
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

describe('a busy data server', () => {
  it('whose heartbeats come late while it answers writes stays live', async () => {
    await withCluster(async (cluster) => {
      const clock = cluster.clock;
      const port = cluster.activeServers()[0]!.port;
      slowHeartbeats(cluster, port, 1_500);
      const attr = await clock.await(cluster.meta.call(namespaceMethods.create, { parent: 1, name: 'f', mode: 0o100644, caller: { uid: 0, gid: 0 }, exclusive: true }), DEADLINE_MS);
      // Ten seconds of writes, one every 100 ms: calls keep coming back from the busy server.
      for (let i = 0; i < 100; i++) {
        await clock.await(cluster.core.fileIo.write(attr.ino, i * 10, Buffer.from(`write ${i}`), clock.nowMs() + DEADLINE_MS), DEADLINE_MS);
        await clock.advance(100);
      }
      const state = cluster.core.dataServerStatus().find((s) => s.port === port)?.state;
      assert.equal(state, 'live');
      assert.equal(cluster.core.counters.replacements, 0);
    });
  });

  it('that answers nothing is still declared down and replaced', async () => {
    await withCluster(async (cluster) => {
      const port = cluster.activeServers()[0]!.port;
      slowHeartbeats(cluster, port, 60_000);
      // Silent for 3 s, then three heartbeats missed.
      await cluster.clock.advance(10_000);
      const state = cluster.core.dataServerStatus().find((s) => s.port === port)?.state;
      assert.equal(state, 'replaced');
      assert.equal(cluster.core.counters.replacements, 1);
    });
  });
});

describe("a data server's heartbeat", () => {
  it('answers from memory while the file system is slow to give its figures', async () => {
    const clock = new VirtualClock();
    const disk = new SimDisk(clock, seededRandom(1), 1 << 20);
    let statfsCalls = 0;
    const slowUsage = disk.usage.bind(disk);
    disk.usage = async () => {
      statfsCalls++;
      // The first answers at once; later ones wait a minute (a thread pool busy with writes).
      if (statfsCalls > 1) await clock.sleep(60_000);
      return slowUsage();
    };
    const registry = new LocalRegistry('data', dataAccess);
    registerDataHandlers(registry, disk, { faultInjection: false, logger: createLogger('test'), clock, port: () => 1, pid: 1, terminate: () => undefined });
    const beat = async (): Promise<unknown> => {
      const outcome = await clock.await(registry.dispatch(dataMethods.heartbeat.name, {}, Buffer.alloc(0), clock.nowMs() + 1_000, 'server'), 1_000);
      assert.ok(outcome.ok, JSON.stringify(outcome));
      return outcome.result;
    };
    await beat();
    for (let i = 0; i < 10; i++) {
      await clock.advance(500);
      await beat(); // would time out (1 s) if it waited for the slow figures
    }
    assert.equal(statfsCalls, 2, 'one refresh in flight at a time, behind the heartbeats');
    // The blocks held are counted in memory: a heartbeat gives them as they are now, while the
    // file system's figures are still being refreshed.
    const data = Buffer.from('a block');
    await clock.await(disk.put('1:0', 7, checksumOf(data), data), 1_000);
    const now = (await beat()) as { blocks: number; bytes: number };
    assert.equal(now.blocks, 1);
    assert.equal(now.bytes, data.length);
  });
});
