// The bounded task queue the mediator deletes freed block versions through (never more than its
// limit at once, everything queued runs, in order, and a failed task does not stop the rest), and
// the semaphore a mount's write-back sends share (the same bound, and first come, first started),
// each at 30,000 pieces of work.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Semaphore, TaskQueue } from '../../src/common/async.js';

/** Counts pieces of work as they start and end: the most at once, and the order they started. */
function concurrency(): { enter(i: number): void; exit(): void; readonly most: number; started: number[] } {
  let running = 0;
  let most = 0;
  const started: number[] = [];
  return {
    enter(i) {
      started.push(i);
      running++;
      most = Math.max(most, running);
    },
    exit() {
      running--;
    },
    get most() {
      return most;
    },
    started,
  };
}

describe('task queue', () => {
  it('runs 30,000 tasks, at most the limit at once, in the order queued, past failures', async () => {
    const queue = new TaskQueue(32);
    const probe = concurrency();
    const { started } = probe;
    let done = 0;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 30_000; i++) {
        queue.add(async () => {
          probe.enter(i);
          await new Promise((r) => setImmediate(r));
          probe.exit();
          if (++done === 30_000) resolve();
          if (i % 7 === 0) throw new Error(`task ${i} failed`);
        });
      }
      assert.equal(queue.pending, 30_000);
    });
    assert.equal(probe.most, 32);
    assert.deepEqual(started, [...started].sort((a, b) => a - b));
    assert.equal(started.length, 30_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(queue.pending, 0);
  });
});

describe('semaphore', () => {
  it('runs at most the limit at once, starts waiters in the order they came, and frees a failed slot', async () => {
    const slots = new Semaphore(3);
    const probe = concurrency();
    const { started } = probe;
    const runs = Array.from({ length: 50 }, (_, i) =>
      slots
        .run(async () => {
          probe.enter(i);
          await new Promise((r) => setTimeout(r, (i * 7) % 5));
          probe.exit();
          if (i % 10 === 0) throw new Error(`task ${i} fails`);
          return i;
        })
        .catch((err: Error) => err.message),
    );
    const results = await Promise.all(runs);
    assert.equal(probe.most, 3);
    assert.deepEqual(started, Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(results.filter((r) => typeof r === 'string'), ['task 0 fails', 'task 10 fails', 'task 20 fails', 'task 30 fails', 'task 40 fails']);
    // Every slot came back: three more run at once.
    let concurrent = 0;
    let peak = 0;
    await Promise.all(Array.from({ length: 3 }, () => slots.run(async () => {
      concurrent++;
      peak = Math.max(peak, concurrent);
      await new Promise((r) => setTimeout(r, 5));
      concurrent--;
    })));
    assert.equal(peak, 3);
  });
});

describe('semaphore at size', () => {
  it('holds 30,000 waiters and starts them all, in the order they came, at most the limit at once', async () => {
    const slots = new Semaphore(8);
    const probe = concurrency();
    const runs = Array.from({ length: 30_000 }, (_, i) =>
      slots.run(async () => {
        probe.enter(i);
        await new Promise((r) => setImmediate(r));
        probe.exit();
        return i;
      }),
    );
    const results = await Promise.all(runs);
    assert.equal(probe.most, 8);
    assert.deepEqual(probe.started, results);
    assert.deepEqual(results, Array.from({ length: 30_000 }, (_, i) => i));
  });
});
