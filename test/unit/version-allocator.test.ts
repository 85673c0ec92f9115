// Block versions come from batches each writer reserves at the metadata server (the mediator and
// every mount hold one): unique, and each new version of a block above the one it replaces, even
// when that one came from another writer's later batch.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VersionAllocator } from '../../src/replication/version-allocator.js';

/** A metadata server's version counter, shared by several allocators. */
function counter(): { reserve: (count: number) => Promise<number>; reserved: () => number } {
  let next = 1;
  return {
    reserve: async (count) => {
      const first = next;
      next += count;
      return first;
    },
    reserved: () => next - 1,
  };
}

describe('version allocator', () => {
  it('hands out unique versions from its batch, concurrent callers included', async () => {
    const c = counter();
    const a = new VersionAllocator(c.reserve, 100);
    const got = await Promise.all(Array.from({ length: 1_000 }, () => a.allocate()));
    assert.equal(new Set(got).size, 1_000);
    assert.equal(c.reserved(), 1_000, 'ten batches, none wasted');
  });

  it('a version above one from another writer’s later batch skips the rest of its own batch', async () => {
    const c = counter();
    const mediator = new VersionAllocator(c.reserve, 100);
    const mount = new VersionAllocator(c.reserve, 100);
    const first = await mediator.allocate(); // batch 1–100
    const mine = await mount.allocate(first); // batch 101–200
    assert.ok(mine > first);
    const next = await mediator.allocate(mine); // 2–100 all lie below: a new batch
    assert.equal(next, 201);
    assert.ok((await mediator.allocate()) === 202, 'the new batch is used from there on');
    assert.equal(await mount.allocate(5), 102, 'a version already below needs nothing new');
  });
});
