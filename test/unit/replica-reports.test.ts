// A mount's reports of replicas it found lacking, at size: 70,000 found while the mediator cannot
// be reached are kept up to limits.mountReplicaReportsKept (the rest counted as dropped), sent
// again every limits.mountReplicaReportRetryMs, and once the mediator answers they all arrive, in
// the order found, in calls of at most limits.maxReplicaReports.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { qfsError } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import { ReplicaReports, type ReplicaReport } from '../../src/mount/replica-reports.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import type { Method } from '../../src/protocol/method.js';
import type { RpcChannel } from '../../src/transport/rpc-channel.js';
import { VirtualClock } from '../../sim/virtual-clock.js';

const FOUND = 70_000;

describe('replica reports at size', () => {
  it('keeps what it can while the mediator is away, then delivers it all in order, in bounded calls', async () => {
    const clock = new VirtualClock();
    let up = false;
    let calls = 0;
    const received: ReplicaReport[] = [];
    const mediator: RpcChannel = {
      call: async <A, R>(m: Method<A, R>, args: A) => {
        assert.equal(m.name, mediatorMethods.reportReplicas.name);
        calls++;
        if (!up) throw qfsError('UNAVAILABLE', 'the mediator is away');
        const { replicas } = args as { replicas: ReplicaReport[] };
        assert.ok(replicas.length <= limits.maxReplicaReports, `${replicas.length} in one call`);
        received.push(...replicas);
        return {} as R;
      },
      callWithPayload: () => Promise.reject(new Error('not used')),
    };
    const reports = new ReplicaReports(mediator, clock);
    for (let i = 0; i < FOUND; i++) reports.add({ key: `${i}:0`, version: i + 1, server: 'a', kind: i % 2 ? 'missed' : 'bad' });
    await clock.advance(3 * limits.mountReplicaReportRetryMs);
    assert.equal(reports.waiting, limits.mountReplicaReportsKept);
    assert.equal(reports.dropped, FOUND - limits.mountReplicaReportsKept);
    assert.ok(calls >= 3 && calls <= 5, `tried once at once and once a second: ${calls} calls`);
    assert.equal(received.length, 0);

    up = true;
    await clock.advance(limits.mountReplicaReportRetryMs);
    assert.equal(reports.waiting, 0);
    assert.equal(received.length, limits.mountReplicaReportsKept);
    assert.deepEqual(
      received.map((r) => r.version),
      Array.from({ length: limits.mountReplicaReportsKept }, (_, i) => i + 1),
    );
    reports.close();
  });
});
