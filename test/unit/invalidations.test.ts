// What each call makes stale in other mounts' caches, and the rate limiter's pacing.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClock } from '../../sim/virtual-clock.js';
import { invalidationsFor } from '../../src/core/invalidations.js';
import { RateLimiter } from '../../src/common/rate-limiter.js';

describe('invalidations', () => {
  it('names the parent and the new entry on create', () => {
    assert.deepEqual(invalidationsFor('create', { parent: 1, name: 'a' }, { ino: 7 }), { inodes: [1, 7], entries: [{ parent: 1, name: 'a' }] });
  });

  it('names both parents, both names and a replaced inode on rename', () => {
    const change = invalidationsFor('rename', { oldParent: 1, oldName: 'a', newParent: 2, newName: 'b', flags: 0 }, { replaced: { attr: { ino: 9 } } });
    assert.deepEqual(change, {
      inodes: [1, 2, 9],
      entries: [
        { parent: 1, name: 'a' },
        { parent: 2, name: 'b' },
      ],
    });
  });

  it('names the linked inode (its nlink changed) and the removed one on unlink', () => {
    assert.deepEqual(invalidationsFor('link', { ino: 5, newParent: 3, newName: 'x' }, {}), { inodes: [5, 3], entries: [{ parent: 3, name: 'x' }] });
    assert.deepEqual(invalidationsFor('unlink', { parent: 3, name: 'x' }, { attr: { ino: 5 } }), { inodes: [3, 5], entries: [{ parent: 3, name: 'x' }] });
  });

  it('names the inode on writes and attribute changes, and nothing for reads', () => {
    assert.deepEqual(invalidationsFor('write', { ino: 4, offset: 0 }, {}), { inodes: [4], entries: [] });
    assert.equal(invalidationsFor('getattr', { ino: 4 }, {}), undefined);
    assert.equal(invalidationsFor('readdir', { ino: 1, cookie: 0, limit: 10 }, {}), undefined);
  });
});

describe('rate limiter', () => {
  it('paces spending to the rate, on virtual time', async () => {
    const clock = new VirtualClock();
    const limiter = new RateLimiter(1_000_000, clock); // 1 MB/s, a full bucket to start
    const start = clock.nowMs();
    await clock.await((async () => {
      for (let i = 0; i < 15; i++) await limiter.take(100_000); // 1.5 MB
    })(), 60_000);
    const tookMs = clock.nowMs() - start;
    assert.ok(tookMs >= 500 && tookMs <= 520, `1.5 MB at 1 MB/s with 1 MB in the bucket took ${tookMs} ms of virtual time, not 500`);
  });

  it('does not wait without a limit', async () => {
    const clock = new VirtualClock();
    const limiter = new RateLimiter(0, clock);
    const start = clock.nowMs();
    await clock.await((async () => {
      for (let i = 0; i < 1000; i++) await limiter.take(1 << 30);
    })(), 60_000);
    assert.equal(clock.nowMs() - start, 0, 'an unlimited limiter waited');
  });
});
