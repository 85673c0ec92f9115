// kill -9 of the metadata server during a stream of writes: the mediator restarts it on its
// port with its data, and every write that was acknowledged before, during or after is readable.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startCluster, waitFor, type Cluster } from '../helpers/cluster.js';

describe('metadata server crash', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 2 });
  });
  after(() => cluster.stop());

  it('loses no acknowledged write across kill -9 and restart', async () => {
    const c = cluster.client;
    const acknowledged = new Map<string, Buffer>();
    let failures = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const data = randomBytes(1 + (i % 7) * 1000);
        try {
          await c.writeFile(`/w${i}`, data);
          acknowledged.set(`/w${i}`, data);
        } catch {
          failures++; // allowed: the write was not acknowledged
        }
      }
    })();
    await waitFor(() => acknowledged.size >= 50, 20_000, 'some writes');
    const meta = (await cluster.status()).servers.find((s) => s.role === 'meta')!;
    process.kill(meta.pid!, 'SIGKILL');
    await waitFor(async () => ((await c.status().catch(() => undefined))?.counters.metaRestarts ?? 0) >= 1, 10_000, 'the restart');
    const countAtRestart = acknowledged.size;
    await waitFor(() => acknowledged.size >= countAtRestart + 50, 20_000, 'writes after the restart');
    stop = true;
    await writer;
    const status = await cluster.status();
    assert.notEqual(status.servers.find((s) => s.role === 'meta')!.pid, meta.pid);
    for (const [path, data] of acknowledged) assert.deepEqual(await c.readFile(path), data, path);
    assert.ok(acknowledged.size >= 100, `${acknowledged.size} acknowledged, ${failures} failed`);
  });
});
