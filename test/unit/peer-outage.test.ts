// The mount's outage detector: one report when a peer stops answering, one when it answers
// again, with the outage's length; a slow call that fails after the peer answered others is not
// an outage.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PeerOutage } from '../../src/core/peer-outage.js';

describe('peer outage', () => {
  it('reports nothing while the peer answers', () => {
    const outage = new PeerOutage();
    assert.equal(outage.answered(100), undefined);
    assert.equal(outage.answered(200), undefined);
    assert.equal(outage.inOutage, false);
  });

  it('reports the start once, however many attempts fail, and the end with its length', () => {
    const outage = new PeerOutage();
    outage.answered(1_000);
    assert.deepEqual(outage.unanswered(1_500, 'TIMEOUT', 'no reply within 10000 ms'), { kind: 'started', code: 'TIMEOUT', message: 'no reply within 10000 ms' });
    assert.equal(outage.inOutage, true);
    for (let t = 2_000; t < 30_000; t += 1_000) assert.equal(outage.unanswered(t, 'UNAVAILABLE', 'refused'), undefined);
    assert.deepEqual(outage.answered(39_500), { kind: 'ended', outageMs: 38_000, unansweredAttempts: 29 });
    assert.equal(outage.inOutage, false);
    assert.equal(outage.answered(40_000), undefined);
  });

  it('dates the outage from the earliest unanswered attempt, even if it fails last', () => {
    const outage = new PeerOutage();
    outage.unanswered(5_000, 'UNAVAILABLE', 'refused');
    outage.unanswered(2_000, 'TIMEOUT', 'no reply'); // sent earlier, timed out later
    assert.deepEqual(outage.answered(12_000), { kind: 'ended', outageMs: 10_000, unansweredAttempts: 2 });
  });

  it('does not count an attempt made before the peer last answered', () => {
    const outage = new PeerOutage();
    outage.answered(6_000); // a call made at 5 s was answered at 6 s
    assert.equal(outage.unanswered(1_000, 'TIMEOUT', 'one slow call'), undefined);
    assert.equal(outage.inOutage, false);
    assert.equal(outage.answered(11_000), undefined);
  });

  it('starts a new outage after the last one ended', () => {
    const outage = new PeerOutage();
    outage.unanswered(0, 'UNAVAILABLE', 'refused');
    outage.answered(100);
    assert.equal(outage.unanswered(200, 'UNAVAILABLE', 'refused')?.kind, 'started');
    assert.deepEqual(outage.answered(250), { kind: 'ended', outageMs: 50, unansweredAttempts: 1 });
  });
});
