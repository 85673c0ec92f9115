// The bounded task queue the mediator deletes freed block versions through: never more than its
// limit at once, everything queued runs, in order, and a failed task does not stop the rest.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TaskQueue } from '../../src/common/async.js';

describe('task queue', () => {
  it('runs 30,000 tasks, at most the limit at once, in the order queued, past failures', async () => {
    const queue = new TaskQueue(32);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    let done = 0;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 30_000; i++) {
        queue.add(async () => {
          started.push(i);
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setImmediate(r));
          running--;
          if (++done === 30_000) resolve();
          if (i % 7 === 0) throw new Error(`task ${i} failed`);
        });
      }
      assert.equal(queue.pending, 30_000);
    });
    assert.equal(most, 32);
    assert.deepEqual(started, [...started].sort((a, b) => a - b));
    assert.equal(started.length, 30_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(queue.pending, 0);
  });
});
