// What mediators on etcd keep beside the metadata, at its bound: the joins of data servers. A
// cluster lists at most limits.maxServersListed servers; all of them are read back, and one more
// is refused in one line rather than dropped from the listing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { codeOf } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import { createLogger } from '../../src/common/logger.js';
import { EtcdCluster } from '../../src/services/etcd-cluster.js';
import { EtcdMember } from '../helpers/etcd.js';

describe('joins kept in etcd', () => {
  let etcd: EtcdMember;
  let cluster: EtcdCluster;

  before(async () => {
    etcd = await EtcdMember.single();
    cluster = new EtcdCluster({
      endpoints: [etcd.clientUrl],
      prefix: '/joins-at-bound/',
      leaderTtlS: 2,
      id: '127.0.0.1:1',
      logger: createLogger('test'),
      onElected: async () => undefined,
      onDeposed: async () => undefined,
    });
  });

  after(async () => {
    await cluster?.stop();
    await etcd?.stop();
  });

  it(`keeps ${limits.maxServersListed} joins, reads every one back, refuses one more and lets a known one join again`, async () => {
    const server = (i: number) => ({ host: `10.${i >> 8}.${i & 255}.1`, port: 7100, spare: i % 10 === 0 });
    for (let from = 0; from < limits.maxServersListed; from += 64) {
      await Promise.all(Array.from({ length: Math.min(64, limits.maxServersListed - from) }, (_, k) => cluster.join(server(from + k))));
    }
    const joined = await cluster.joins();
    assert.equal(joined.length, limits.maxServersListed);
    assert.equal(new Set(joined.map((j) => `${j.host}:${j.port}`)).size, limits.maxServersListed);
    assert.equal(joined.filter((j) => j.spare).length, Math.ceil(limits.maxServersListed / 10));
    await assert.rejects(cluster.join(server(limits.maxServersListed)), (err) => {
      assert.equal(codeOf(err), 'NO_SPACE');
      assert.match((err as Error).message, /cannot join/);
      return true;
    });
    await cluster.join(server(5)); // a restart joining again
    assert.equal((await cluster.joins()).length, limits.maxServersListed);
    // A restart that serves its metrics elsewhere replaces its record, even at the bound.
    await cluster.join({ ...server(5), metrics: { host: '10.0.5.1', port: 9100 } });
    const again = await cluster.joins();
    assert.equal(again.length, limits.maxServersListed);
    assert.deepEqual(again.find((j) => j.host === '10.0.5.1')?.metrics, { host: '10.0.5.1', port: 9100 });
  });
});
