// The vote over replica replies and the quorum arithmetic: ties, all-but-one corrupt, all
// corrupt, stale versions, and the configuration checks.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkQuorumConfig, judgeReply, pickReadSet, vote, writeOutcome, type ReplicaReply } from '../../src/core/quorum.js';

const expected = { version: 10, checksum: 'sha256:good' };
const good = (server: string): ReplicaReply => ({ server, kind: 'data', version: 10, checksum: 'sha256:good' });
const seed = Number(process.env['QFS_SEED'] ?? 42);

describe('vote', () => {
  it('picks a good replica when all agree', () => {
    const r = vote(expected, [good('a'), good('b'), good('c')]);
    assert.ok(['a', 'b', 'c'].includes(r.winner!));
    assert.deepEqual(r.bad, []);
  });

  it('masks all but one corrupt replica', () => {
    const r = vote(expected, [
      { server: 'a', kind: 'corrupt' },
      { server: 'b', kind: 'data', version: 10, checksum: 'sha256:bad' },
      { server: 'c', kind: 'data', version: 9, checksum: 'sha256:old' },
      good('d'),
      { server: 'e', kind: 'missing' },
    ]);
    assert.equal(r.winner, 'd');
    assert.deepEqual(
      r.bad.map((b) => [b.server, b.verdict]),
      [
        ['a', 'corrupt'],
        ['b', 'mismatch'],
        ['c', 'stale'],
        ['e', 'missing'],
      ],
    );
  });

  it('is not fooled by a tie or a majority of equal bad copies', () => {
    const bad = (server: string): ReplicaReply => ({ server, kind: 'data', version: 10, checksum: 'sha256:evil' });
    assert.equal(vote(expected, [bad('a'), good('b')]).winner, 'b');
    assert.equal(vote(expected, [bad('a'), bad('b'), bad('c'), good('d')]).winner, 'd');
  });

  it('has no winner when every replica is bad', () => {
    const r = vote(expected, [{ server: 'a', kind: 'corrupt' }, { server: 'b', kind: 'missing' }, { server: 'c', kind: 'unreachable' }]);
    assert.equal(r.winner, undefined);
    assert.deepEqual(r.unreachable, ['c']);
    assert.equal(r.bad.length, 2);
  });

  it('never declares a winner whose reply does not match the block map (property)', () => {
    const replyArb = fc.oneof(
      fc.record({ server: fc.string(), kind: fc.constant('data' as const), version: fc.integer({ min: 0, max: 12 }), checksum: fc.constantFrom('sha256:good', 'sha256:bad', 'sha256:x') }),
      fc.record({ server: fc.string(), kind: fc.constantFrom('missing' as const, 'corrupt' as const, 'unreachable' as const) }),
    );
    fc.assert(
      fc.property(fc.array(replyArb, { maxLength: 9 }), (replies) => {
        const r = vote(expected, replies);
        const anyGood = replies.some((x) => judgeReply(expected, x) === 'good');
        assert.equal(r.winner !== undefined, anyGood);
        if (r.winner !== undefined) {
          assert.ok(replies.some((x) => x.server === r.winner && judgeReply(expected, x) === 'good'));
        }
      }),
      { seed, numRuns: 500 },
    );
  });
});

describe('quorum arithmetic', () => {
  it('checks Qr and Qw against N', () => {
    assert.equal(checkQuorumConfig({ readQuorum: 3, writeQuorum: 5, replicas: 5 }), undefined);
    assert.equal(checkQuorumConfig({ readQuorum: 1, writeQuorum: 1, replicas: 1 }), undefined);
    assert.match(checkQuorumConfig({ readQuorum: 0, writeQuorum: 1, replicas: 3 })!, /read quorum/);
    assert.match(checkQuorumConfig({ readQuorum: 4, writeQuorum: 1, replicas: 3 })!, /read quorum/);
    assert.match(checkQuorumConfig({ readQuorum: 1, writeQuorum: 0, replicas: 3 })!, /write quorum/);
    assert.match(checkQuorumConfig({ readQuorum: 1, writeQuorum: 4, replicas: 3 })!, /write quorum/);
  });

  it('decides a write once its quorum is reached or out of reach', () => {
    assert.equal(writeOutcome(2, 0, 3, 2), 'committed');
    assert.equal(writeOutcome(1, 1, 3, 2), 'pending');
    assert.equal(writeOutcome(1, 2, 3, 2), 'failed');
    assert.equal(writeOutcome(0, 1, 3, 3), 'failed');
  });

  it('picks Qr distinct servers, all of them when fewer', () => {
    let x = 0.3;
    const random = (): number => (x = (x * 9301 + 0.49297) % 1);
    const set = pickReadSet(['a', 'b', 'c', 'd', 'e'], 3, random);
    assert.equal(set.length, 3);
    assert.equal(new Set(set).size, 3);
    assert.deepEqual(pickReadSet(['a'], 3, random), ['a']);
  });
});
