// The repair plan (what a server lacks against the block maps), orphan candidates, and relatime.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { orphanCandidates, planRepair, type MapBlock } from '../../src/core/repair-plan.js';
import { atimeUpdateDue } from '../../src/core/relatime.js';
import type { InodeAttr } from '../../src/common/types.js';

const block = (ino: number, index: number, version: number, checksum = `c${version}`): MapBlock => ({ ino, index, version, checksum, lengthBytes: 10 });

describe('repair plan', () => {
  const map = [block(2, 0, 5), block(2, 1, 6), block(3, 0, 9)];

  it('copies what is missing, stale or held with another checksum, and nothing else', () => {
    const plan = planRepair(map, [
      { key: '2:0', version: 5, checksum: 'c5' }, // good
      { key: '2:1', version: 4, checksum: 'c4' }, // stale
      { key: '3:0', version: 9, checksum: 'bad' }, // wrong bytes recorded
    ]);
    assert.deepEqual(plan.copy.map((b) => `${b.ino}:${b.index}`), ['2:1', '3:0']);
    assert.deepEqual(plan.remove, [{ key: '2:1', version: 4 }]);
  });

  it('fills an empty server with every block', () => {
    assert.equal(planRepair(map, []).copy.length, 3);
    assert.deepEqual(planRepair(map, []).remove, []);
  });

  it('leaves newer, uncommitted versions alone but names unreferenced ones as orphan candidates', () => {
    const held = [
      { key: '2:0', version: 7, checksum: 'x' }, // newer than committed: a write may be in flight
      { key: '2:0', version: 3, checksum: 'x' }, // superseded
      { key: '8:0', version: 1, checksum: 'x' }, // no such block in the map
    ];
    assert.deepEqual(planRepair(map, held).remove, [{ key: '2:0', version: 3 }]);
    assert.deepEqual(orphanCandidates(map, held).sort(), ['2:0@3', '8:0@1']);
  });
});

describe('relatime', () => {
  const attr = (atime: number, mtime: number, ctime = mtime): InodeAttr => ({
    ino: 2, mode: 0o100644, uid: 0, gid: 0, size: 0, nlink: 1, rdev: 0, generation: 1,
    atime: { sec: atime, nsec: 0 }, mtime: { sec: mtime, nsec: 0 }, ctime: { sec: ctime, nsec: 0 },
  });
  const now = { sec: 1_000_000, nsec: 0 };

  it('marks atime on the first read after a change, or once a day', () => {
    assert.equal(atimeUpdateDue(attr(100, 100), now), true, 'atime = mtime');
    assert.equal(atimeUpdateDue(attr(100, 200), now), true, 'atime older than mtime');
    assert.equal(atimeUpdateDue(attr(999_000, 200), now), false, 'read again since the change');
    assert.equal(atimeUpdateDue(attr(900_000, 200), now), true, 'a day old');
    assert.equal(atimeUpdateDue(attr(999_000, 200, 999_500), now), true, 'ctime newer');
  });
});
