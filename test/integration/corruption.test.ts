// Verified reads: a read returns the original bytes while one replica anywhere is good, however
// many are corrupt, and fails with an error (never wrong bytes) when none is.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { QfsError } from '../../src/common/errors.js';
import { blockKey } from '../../src/common/types.js';
import { runCli, startCluster, type Cluster } from '../helpers/cluster.js';

describe('corrupt replicas (N=5, Qr=3, Qw=5)', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 3, writeQuorum: 5, dataServers: 5, faultInjection: true });
  });
  after(() => cluster.stop());

  async function corrupt(port: number, key: string): Promise<void> {
    const r = await runCli(['corrupt', String(port), key]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /old: .*\n.*new: /);
  }

  it('masks one corrupt replica', async () => {
    const data = randomBytes(5000);
    const attr = await cluster.client.writeFile('/one', data);
    await corrupt(cluster.dataPorts[0]!, blockKey(attr.ino, 0));
    for (let i = 0; i < 10; i++) assert.deepEqual(await cluster.client.readFile('/one'), data);
  });

  it('masks all but one corrupt replica, whichever survives', async () => {
    for (let survivor = 0; survivor < 5; survivor++) {
      const data = randomBytes(3000);
      const attr = await cluster.client.writeFile(`/most${survivor}`, data);
      for (const [i, port] of cluster.dataPorts.entries()) {
        if (i !== survivor) await corrupt(port, blockKey(attr.ino, 0));
      }
      assert.deepEqual(await cluster.client.readFile(`/most${survivor}`), data);
    }
    const status = await cluster.status();
    assert.ok(status.counters.corruptFound >= 4, `corruptFound ${status.counters.corruptFound}`);
  });

  it('fails with an error, never wrong bytes, when every replica is corrupt', async () => {
    const attr = await cluster.client.writeFile('/all', randomBytes(3000));
    for (const port of cluster.dataPorts) await corrupt(port, blockKey(attr.ino, 0));
    await assert.rejects(cluster.client.readFile('/all'), (err: unknown) => err instanceof QfsError && err.code === 'CORRUPT');
  });
});

describe('fault injection is refused without --fault-injection', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 1, dataServers: 1 });
  });
  after(() => cluster.stop());

  it('refuses corrupt and terminate with a clear error', async () => {
    const attr = await cluster.client.writeFile('/x', Buffer.from('data'));
    const port = String(cluster.dataPorts[0]);
    const c = await runCli(['corrupt', port, blockKey(attr.ino, 0)]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /corrupt refused: .*without --fault-injection \[FAULT_INJECTION_DISABLED\]\n$/);
    const t = await runCli(['terminate', port]);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /terminate refused/);
    assert.deepEqual(await cluster.client.readFile('/x'), Buffer.from('data'));
    assert.equal((await cluster.status()).servers.filter((s) => s.role === 'data' && s.state === 'live').length, 1);
  });
});
