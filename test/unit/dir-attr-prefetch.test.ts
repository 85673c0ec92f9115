// The mount's prefetch of a directory's attributes after its own change: used once, only while
// fresh, never after the directory was about to change again.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InodeAttr } from '../../src/common/types.js';
import { DirAttrPrefetch } from '../../src/mount/dir-attr-prefetch.js';

function setup(ttlMs = 1000) {
  let now = 0;
  let calls = 0;
  const fetch = async (ino: number): Promise<InodeAttr> => {
    calls++;
    return { ino, generation: calls } as InodeAttr;
  };
  const prefetch = new DirAttrPrefetch(fetch, ttlMs, () => now);
  return { prefetch, advance: (ms: number) => (now += ms), calls: () => calls };
}

describe('directory attribute prefetch', () => {
  it('hands out a fetched value once', async () => {
    const { prefetch, calls } = setup();
    prefetch.start(1);
    assert.equal(calls(), 1);
    assert.equal((await prefetch.take(1))?.ino, 1);
    assert.equal(await prefetch.take(1), undefined);
    assert.equal(await prefetch.take(2), undefined);
  });

  it('drops a value older than the time to live', async () => {
    const { prefetch, advance } = setup(1000);
    prefetch.start(1);
    advance(1000);
    assert.equal(await prefetch.take(1), undefined);
  });

  it('forgets a directory about to change, and everything on forgetAll', async () => {
    const { prefetch } = setup();
    prefetch.start(1);
    prefetch.start(2);
    prefetch.forget(1);
    assert.equal(await prefetch.take(1), undefined);
    prefetch.forgetAll();
    assert.equal(await prefetch.take(2), undefined);
  });

  it('keeps the latest fetch of a directory changed twice', async () => {
    const { prefetch } = setup();
    prefetch.start(1);
    prefetch.start(1);
    assert.equal((await prefetch.take(1))?.generation, 2);
  });

  it('gives undefined when the fetch failed, and fetches nothing with a time to live of 0', async () => {
    const failing = new DirAttrPrefetch(() => Promise.reject(new Error('down')), 1000);
    failing.start(1);
    assert.equal(await failing.take(1), undefined);
    const { prefetch, calls } = setup(0);
    prefetch.start(1);
    assert.equal(calls(), 0);
    assert.equal(await prefetch.take(1), undefined);
  });
});
