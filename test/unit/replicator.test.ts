// The replicator's accounting, with fake data servers whose answers the test times: a replica
// that fails before the quorum is reached (a full disk answers first) is a recorded miss, and a
// read that lands before the last put of a fresh write does not count that replica as bad.

import { systemClock } from '../../src/common/clock.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checksumOf } from '../../src/common/checksum.js';
import { qfsError } from '../../src/common/errors.js';
import { Replicator, type ReplicaTarget } from '../../src/replication/replicator.js';
import type { Method } from '../../src/protocol/method.js';
import type { RpcClient } from '../../src/transport/rpc-client.js';

interface Stored {
  version: number;
  data: Buffer;
}

/** A data server in memory; `gate` holds its puts until released, `fail` makes them fail. */
class FakeServer {
  readonly blocks = new Map<string, Stored>();
  gate: Promise<void> | undefined;
  verifyGate: Promise<void> | undefined;
  fail: string | undefined;

  client(): RpcClient {
    const call = async (m: Method<unknown, unknown>, args: { key: string; version: number }, opts?: { payload?: Buffer }): Promise<unknown> => {
      if (m.name === 'put') {
        if (this.fail) throw qfsError('NO_SPACE', this.fail);
        await this.gate;
        this.blocks.set(args.key, { version: args.version, data: Buffer.from(opts!.payload!) });
        return {};
      }
      if (m.name === 'verify') {
        await this.verifyGate;
        const b = this.blocks.get(args.key);
        return b && b.version === args.version ? { status: 'ok', checksum: checksumOf(b.data) } : { status: 'missing' };
      }
      throw new Error(`unexpected ${m.name}`);
    };
    const callWithPayload = async (_m: Method<unknown, unknown>, args: { key: string; version: number }) => {
      const b = this.blocks.get(args.key);
      if (!b || b.version !== args.version) throw qfsError('NOT_FOUND', 'no such block');
      return { result: { version: b.version, checksum: checksumOf(b.data) }, payload: b.data };
    };
    return { call, callWithPayload } as unknown as RpcClient;
  }
}

function cluster(count: number) {
  const servers = Array.from({ length: count }, () => new FakeServer());
  const targets: ReplicaTarget[] = servers.map((s, i) => ({ id: `s${i}`, client: s.client() }));
  const misses: string[] = [];
  const bad: string[] = [];
  // Reads pick servers in order: random() = 0.999 keeps the shuffle as it is.
  const replicator = new Replicator({
    readQuorum: 3,
    writeQuorum: 2,
    random: () => 0.999,
    clock: systemClock,
    liveTargets: () => targets,
    writableTargets: () => targets,
    onWriteMiss: (key, _v, server, reason) => misses.push(`${key}@${server}: ${reason}`),
    onReadVote: (_key, _e, result) => bad.push(...result.bad.map((b) => b.server)),
  });
  return { servers, replicator, misses, bad };
}

const deadline = () => Date.now() + 5_000;

describe('replicator accounting', () => {
  it('records a replica that failed before the quorum was reached as a miss of the committed write', async () => {
    const { servers, replicator, misses } = cluster(3);
    servers[0]!.fail = 'disk full';
    const data = Buffer.from('block');
    const acked = await replicator.writeBlock('2:0', 7, data, checksumOf(data), deadline());
    assert.deepEqual(acked.sort(), ['s1', 's2']);
    assert.deepEqual(misses, ['2:0@s0: disk full']);
  });

  it('records nothing when the write itself fails', async () => {
    const { servers, replicator, misses } = cluster(3);
    servers[0]!.fail = 'disk full';
    servers[1]!.fail = 'disk full';
    const data = Buffer.from('block');
    await assert.rejects(replicator.writeBlock('2:0', 7, data, checksumOf(data), deadline()), /write quorum is 2/);
    assert.deepEqual(misses, []);
  });

  it('does not count a replica whose put is still on its way as bad', async () => {
    const { servers, replicator, bad } = cluster(3);
    let releasePut!: () => void;
    let releaseVerify!: () => void;
    servers[2]!.gate = new Promise((r) => (releasePut = r));
    const data = Buffer.from('fresh');
    const expected = { version: 9, checksum: checksumOf(data) };
    await replicator.writeBlock('3:0', 9, data, expected.checksum, deadline());
    // s2 has not stored it yet: the read asks it (read quorum 3) and it says missing; s1 is slow
    // to answer, so the vote is counted only after s2's put has landed.
    servers[1]!.verifyGate = new Promise((r) => (releaseVerify = r));
    assert.deepEqual(await replicator.readBlock('3:0', expected, deadline()), data);
    await new Promise((r) => setTimeout(r, 10));
    releasePut();
    await new Promise((r) => setTimeout(r, 10));
    releaseVerify();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(bad, []);
    servers[1]!.verifyGate = undefined;
    // A replica that really lacks the block is still counted.
    servers[1]!.blocks.delete('3:0');
    await replicator.readBlock('3:0', expected, deadline());
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(bad, ['s1']);
  });
});
