// The replicator's error for a write that misses its quorum, with fake data servers: NO_SPACE
// (ENOSPC at the mount) when full servers sank it, QUORUM_NOT_REACHED (EIO) when servers down
// did; and every put's outcome reaches onPutSettled, which marks servers full in status.

import { systemClock } from '../../src/common/clock.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checksumOf } from '../../src/common/checksum.js';
import { codeOf, qfsError, type ErrorCode } from '../../src/common/errors.js';
import type { Method } from '../../src/protocol/method.js';
import { Replicator, type ReplicaTarget } from '../../src/replication/replicator.js';
import type { RpcClient } from '../../src/transport/rpc-client.js';

type Behaviour = 'stores' | 'full' | 'down';

function cluster(behaviours: Behaviour[], writeQuorum: number) {
  const puts = behaviours.map(() => 0);
  const settled: Array<[string, ErrorCode | undefined]> = [];
  const targets: ReplicaTarget[] = behaviours.map((behaviour, i) => {
    const call = async (m: Method<unknown, unknown>): Promise<unknown> => {
      if (m.name !== 'put') throw new Error(`unexpected ${m.name}`);
      puts[i]!++;
      if (behaviour === 'full') throw qfsError('NO_SPACE', 'put: ENOSPC: no space left on device');
      if (behaviour === 'down') throw qfsError('UNAVAILABLE', 'cannot connect');
      return {};
    };
    return { id: `s${i}`, client: { call } as unknown as RpcClient };
  });
  const replicator = new Replicator({
    readQuorum: 1,
    writeQuorum,
    random: () => 0.5,
    clock: systemClock,
    liveTargets: () => targets,
    writableTargets: () => targets,
    onPutSettled: (server, code) => settled.push([server, code]),
  });
  return { replicator, puts, settled };
}

async function failureCode(behaviours: Behaviour[], writeQuorum: number): Promise<ErrorCode> {
  const { replicator } = cluster(behaviours, writeQuorum);
  const data = Buffer.from('block');
  try {
    await replicator.writeBlock('2:0', 7, data, checksumOf(data), Date.now() + 5_000);
  } catch (err) {
    return codeOf(err);
  }
  throw new Error('the write succeeded');
}

describe('a write quorum missed for lack of space', () => {
  it('fails NO_SPACE when the servers that failed are full', async () => {
    assert.equal(await failureCode(['full', 'full', 'stores'], 2), 'NO_SPACE');
    assert.equal(await failureCode(['full', 'full', 'full'], 2), 'NO_SPACE');
    assert.equal(await failureCode(['stores', 'stores', 'full'], 3), 'NO_SPACE');
  });

  it('fails NO_SPACE when a full server is what the quorum lacked beside a server down', async () => {
    assert.equal(await failureCode(['full', 'down', 'stores'], 2), 'NO_SPACE');
  });

  it('fails QUORUM_NOT_REACHED when servers down alone sink the quorum', async () => {
    assert.equal(await failureCode(['down', 'down', 'stores'], 2), 'QUORUM_NOT_REACHED');
    assert.equal(await failureCode(['down', 'down', 'full'], 2), 'QUORUM_NOT_REACHED');
  });

  it('sends a NO_SPACE write once (no retry) and reports every put to onPutSettled', async () => {
    const { replicator, puts, settled } = cluster(['full', 'full', 'stores'], 2);
    const data = Buffer.from('block');
    await assert.rejects(replicator.writeBlock('2:0', 7, data, checksumOf(data), Date.now() + 5_000), /2 had no space left/);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(puts, [1, 1, 1]);
    assert.deepEqual(settled.sort(), [['s0', 'NO_SPACE'], ['s1', 'NO_SPACE'], ['s2', undefined]]);
  });

  it('still commits with one full server of three (Qw 2)', async () => {
    const { replicator, settled } = cluster(['full', 'stores', 'stores'], 2);
    const data = Buffer.from('block');
    assert.deepEqual((await replicator.writeBlock('2:0', 7, data, checksumOf(data), Date.now() + 5_000)).sort(), ['s1', 's2']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(settled.sort(), [['s0', 'NO_SPACE'], ['s1', undefined], ['s2', undefined]]);
  });
});
