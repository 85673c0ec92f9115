// The bookkeeping of failing over: the current address moves on once per failure of it (however
// many calls report it), wraps round, stays put with a resolver; a call's walk pauses only once
// it comes back to an address it tried in this round, longer each round, and its final error
// names every address tried with what it answered.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { qfsError } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import { FailoverWalk, PeerAddresses } from '../../src/transport/peer-addresses.js';

const a = { host: '10.0.0.1', port: 51234 };
const b = { host: '10.0.0.2', port: 51234 };
const c = { host: '10.0.0.3', port: 51234 };

describe('peer addresses', () => {
  it('moves on once per failure of the current address, and wraps round', () => {
    const peers = new PeerAddresses([a, b, c]);
    assert.equal(peers.failsOver, true);
    assert.deepEqual(peers.current, a);
    peers.failed(a);
    peers.failed(a); // a second call reporting the same failure
    assert.deepEqual(peers.current, b);
    peers.failed(a); // late news of an address already left
    assert.deepEqual(peers.current, b);
    peers.failed(b);
    peers.failed(c);
    assert.deepEqual(peers.current, a);
    assert.equal(peers.describe(), '10.0.0.1:51234,10.0.0.2:51234,10.0.0.3:51234');
  });

  it('one address does not fail over; a resolver does, and its answer is current', () => {
    const one = new PeerAddresses([a]);
    assert.equal(one.failsOver, false);
    one.failed(a);
    assert.deepEqual(one.current, a);
    const resolved = new PeerAddresses([a], async () => b);
    assert.equal(resolved.failsOver, true);
    resolved.failed(a);
    assert.deepEqual(resolved.current, a);
    resolved.setResolved(b);
    assert.deepEqual(resolved.current, b);
  });

  it('refuses no address and more than the limit', () => {
    assert.throws(() => new PeerAddresses([]), { code: 'INVALID' });
    const many = Array.from({ length: limits.maxPeerAddresses + 1 }, (_, i) => ({ host: '10.0.0.1', port: 1000 + i }));
    assert.throws(() => new PeerAddresses(many), { code: 'INVALID' });
  });
});

describe('failover walk', () => {
  it('pauses only when it comes back to an address tried in this round, longer each round', () => {
    const walk = new FailoverWalk();
    walk.failedAt(a, qfsError('UNAVAILABLE', 'refused'));
    assert.equal(walk.pauseBefore(b), 0);
    walk.failedAt(b, qfsError('NOT_LEADER', 'follower'));
    const pauses: number[] = [];
    for (let round = 0; round < limits.failoverRoundBackoffMs.length + 2; round++) {
      pauses.push(walk.pauseBefore(a));
      walk.failedAt(a, qfsError('UNAVAILABLE', 'refused'));
    }
    const backoff = limits.failoverRoundBackoffMs;
    assert.deepEqual(pauses, [...backoff, backoff.at(-1), backoff.at(-1)]);
  });

  it('fails with the last error, naming every address tried and what it answered', () => {
    const walk = new FailoverWalk();
    walk.failedAt(a, qfsError('UNAVAILABLE', 'cannot connect to mediator 10.0.0.1:51234: ECONNREFUSED'));
    walk.failedAt(b, qfsError('NOT_LEADER', 'this mediator does not lead'));
    const err = walk.exhausted('write', 'mediator', 5_000, qfsError('TIMEOUT', 'unused'));
    assert.equal(err.code, 'NOT_LEADER');
    assert.equal(err.message, 'write to mediator: no address served it within 5000 ms; tried 10.0.0.1:51234 (UNAVAILABLE), 10.0.0.2:51234 (NOT_LEADER); last: this mediator does not lead');
  });
});
