// Virtual time for the simulator: timers fire in time order (ties in the order set), cancelled
// ones never fire, and `await` reports a hang instead of waiting forever.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { every } from '../../src/common/clock.js';
import { VirtualClock } from '../../sim/virtual-clock.js';

describe('VirtualClock', () => {
  it('fires timers in time order, ties in the order they were set', async () => {
    const clock = new VirtualClock(0);
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push('c'));
    clock.setTimer(10, () => fired.push('a'));
    clock.setTimer(10, () => fired.push('b'));
    clock.setTimer(20, () => fired.push('x')).cancel();
    await clock.advance(100);
    assert.deepEqual(fired, ['a', 'b', 'c']);
    assert.equal(clock.nowMs(), 100);
  });

  it('runs an interval until cancelled', async () => {
    const clock = new VirtualClock(0);
    let ticks = 0;
    const timer = every(clock, 100, () => void ticks++);
    await clock.advance(1_050);
    timer.cancel();
    await clock.advance(1_000);
    assert.equal(ticks, 10);
  });

  it('waits for a promise on virtual time and reports a hang', async () => {
    const clock = new VirtualClock(0);
    const value = await clock.await(clock.sleep(60_000).then(() => 42), 120_000);
    assert.equal(value, 42);
    assert.equal(clock.nowMs(), 60_000);
    await assert.rejects(clock.await(new Promise(() => undefined), 1_000), /still waiting/);
  });
});
