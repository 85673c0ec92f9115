// The replication policy as pure functions: which servers a read asks first and widens to, where
// a repair looks for a copy, when a failed write is sent again, how freed versions are grouped.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../src/common/random.js';
import { copySourceOrder, orphanDeletions, readPlan, writeRetryDue } from '../../src/core/replication-policy.js';

describe('readPlan', () => {
  it('asks Qr live servers first and widens to every other writable one', () => {
    const plan = readPlan(['a', 'b', 'c'], ['a', 'b', 'c', 'h'], 2, seededRandom(1));
    assert.equal(plan.first.length, 2);
    for (const id of plan.first) assert.ok(['a', 'b', 'c'].includes(id));
    assert.deepEqual([...plan.first, ...plan.widen].sort(), ['a', 'b', 'c', 'h']);
    assert.ok(plan.widen.includes('h'), 'a server being healed is asked when widening');
  });

  it('never asks the excluded server', () => {
    for (let seed = 0; seed < 50; seed++) {
      const plan = readPlan(['a', 'b', 'c'], ['a', 'b', 'c'], 3, seededRandom(seed), 'b');
      assert.ok(![...plan.first, ...plan.widen].includes('b'));
      assert.equal(plan.first.length, 2);
    }
  });

  it('spreads first reads over the live servers', () => {
    const random = seededRandom(7);
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) for (const id of readPlan(['a', 'b', 'c'], ['a', 'b', 'c'], 1, random).first) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const id of ['a', 'b', 'c']) assert.ok((counts.get(id) ?? 0) > 800, `${id} asked ${counts.get(id)} of 3000 times`);
  });
});

describe('copySourceOrder', () => {
  it('puts live servers before healing ones and leaves out the target', () => {
    const order = copySourceOrder(['a', 'b'], ['a', 'b', 'h', 't'], seededRandom(3), 't');
    assert.deepEqual(order.slice(0, 2).sort(), ['a', 'b']);
    assert.deepEqual(order.slice(2), ['h']);
  });
});

describe('writeRetryDue', () => {
  it('retries a missed quorum within the attempts and the deadline only', () => {
    assert.equal(writeRetryDue('QUORUM_NOT_REACHED', 1, 0, 1_000, 3, 50), true);
    assert.equal(writeRetryDue('QUORUM_NOT_REACHED', 3, 0, 1_000, 3, 50), false, 'attempts used up');
    assert.equal(writeRetryDue('QUORUM_NOT_REACHED', 1, 960, 1_000, 3, 50), false, 'the pause would pass the deadline');
    assert.equal(writeRetryDue('NO_SPACE', 1, 0, 1_000, 3, 50), false, 'no space does not come back in 50 ms');
    assert.equal(writeRetryDue(undefined, 1, 0, 1_000, 3, 50), false);
  });
});

describe('orphanDeletions', () => {
  it('groups versions by block, in the order first seen', () => {
    const groups = orphanDeletions([
      { ino: 5, index: 0, version: 9 },
      { ino: 5, index: 1, version: 10 },
      { ino: 5, index: 0, version: 11 },
    ]);
    assert.deepEqual(groups, [
      { key: '5:0', versions: [9, 11] },
      { key: '5:1', versions: [10] },
    ]);
  });
});
