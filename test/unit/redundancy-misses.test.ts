// The redundancy service's record of write misses at size: 100,000 misses on one server are
// counted exactly; one more and the record is dropped for a full compare of that server, after
// which the count is unknown (null) until the compare says, never 0.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/common/clock.js';
import { qfsError } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import { createLogger } from '../../src/common/logger.js';
import type { Replicator } from '../../src/replication/replicator.js';
import { Redundancy } from '../../src/services/redundancy.js';
import type { RpcClient } from '../../src/transport/rpc-client.js';

describe('recorded write misses at size', () => {
  it('counts 100,000 exactly, then heals the server by a full compare instead of growing', async () => {
    process.env.QFS_LOG_LEVEL = 'silent';
    // A metadata server that does not answer: the compare the overflow starts cannot finish.
    const meta = { call: async () => Promise.reject(qfsError('UNAVAILABLE', 'not in this test')) } as unknown as RpcClient;
    const servers = ['a', 'b', 'c'];
    const redundancy = new Redundancy({
      meta,
      replicator: {} as Replicator,
      clientOf: () => meta,
      clock: systemClock,
      writableIds: () => servers,
      configuredServers: () => 3,
      onHealed: () => {},
      healRateBytesPerSecond: 0,
      scrubRateBytesPerSecond: 0,
      scrubIntervalMs: 0,
      orphanMinAgeMs: 60_000,
      logger: createLogger('test'),
    });
    try {
      const bound = limits.maxRecordedMissesPerServer;
      for (let i = 0; i < bound; i++) redundancy.recordMiss('a', `${i + 2}:0`, 7);
      redundancy.recordMiss('b', '2:0', 7); // the same block missed on two servers counts once
      assert.deepEqual(redundancy.summary(10 * bound), { underReplicated: bound, fullyReplicated: false });
      assert.equal(redundancy.lackingBlocks('a'), bound);
      redundancy.recordRepaired('a', '2:0', 7);
      redundancy.recordRepaired('b', '2:0', 7);
      assert.equal(redundancy.summary(10 * bound).underReplicated, bound - 1);

      redundancy.recordMiss('a', 'full:0', 7); // back at the bound
      assert.equal(redundancy.lackingBlocks('a'), bound);
      redundancy.recordMiss('a', 'over:0', 7); // one past it: the record goes, a full compare starts
      assert.equal(redundancy.lackingBlocks('a'), null, 'a full compare is under way: not known, never 0');
      assert.deepEqual(redundancy.summary(10 * bound), { underReplicated: null, fullyReplicated: null });
      await new Promise((r) => setTimeout(r, 20)); // the compare fails: still not known
      assert.equal(redundancy.lackingBlocks('a'), null);
      assert.equal(redundancy.healReport('a')?.attempts, 1);
      assert.match(redundancy.healReport('a')?.lastError ?? '', /not in this test/);
    } finally {
      redundancy.stop();
    }
  });
});
