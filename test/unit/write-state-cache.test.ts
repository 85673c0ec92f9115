// Unit tests of WriteStateCache: what it answers of a block (ref, hole, unknown), its bounds
// (inodes least recently used dropped, refs per inode oldest dropped, which ends "complete"),
// and that a create's older view never replaces a later commit's.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checksumOf } from '../../src/common/checksum.js';
import { S_IFDIR, S_IFREG, type BlockRef, type InodeAttr } from '../../src/common/types.js';
import { WriteStateCache } from '../../src/replication/write-state-cache.js';

const BS = 100;

function attr(ino: number, size: number, generation = 1, mode = S_IFREG | 0o644): InodeAttr {
  const t = { sec: 1, nsec: 0 };
  return { ino, mode, uid: 0, gid: 0, size, nlink: 1, rdev: 0, atime: t, mtime: t, ctime: t, generation };
}

function ref(index: number, version: number, lengthBytes = BS): BlockRef {
  return { index, version, checksum: checksumOf(new Uint8Array([index, version])), lengthBytes };
}

describe('WriteStateCache', () => {
  it('knows an empty created file whole; a directory or a non-empty file not at all', () => {
    const cache = new WriteStateCache(10, 10, BS);
    cache.created(attr(5, 0));
    const file = cache.get(5)!;
    assert.equal(cache.blockOf(file, 0), 'hole');
    cache.created(attr(6, 0, 1, S_IFDIR | 0o755));
    cache.created(attr(7, 10));
    assert.equal(cache.get(6), undefined);
    assert.equal(cache.get(7), undefined);
  });

  it('answers a ref, a hole past the end, and nothing for an unknown block of an incomplete map', () => {
    const cache = new WriteStateCache(10, 10, BS);
    cache.learned(attr(5, 350), [ref(1, 4), ref(3, 9, 50), ref(7, 2)], false);
    const file = cache.get(5)!;
    assert.deepEqual(cache.blockOf(file, 1), ref(1, 4));
    assert.deepEqual(cache.blockOf(file, 3), ref(3, 9, 50));
    assert.equal(cache.blockOf(file, 0), undefined);
    assert.equal(cache.blockOf(file, 4), 'hole');
    assert.equal(file.refs.has(7), false, 'a ref past the end is dropped');
    cache.learned(attr(5, 350), [ref(1, 4)], true);
    assert.equal(cache.blockOf(cache.get(5)!, 0), 'hole', 'a complete map: an absent block is a hole');
  });

  it('keeps the most recently committed refs of an inode; dropping one ends "complete"', () => {
    const cache = new WriteStateCache(10, 2, BS);
    cache.learned(attr(5, 1_000), [ref(0, 1), ref(1, 2), ref(2, 3), ref(0, 4)], true);
    const file = cache.get(5)!;
    assert.deepEqual([...file.refs.keys()], [2, 0]);
    assert.equal(file.complete, false);
    assert.equal(cache.blockOf(file, 1), undefined);
  });

  it('drops the least recently used inode past its bound', () => {
    const cache = new WriteStateCache(2, 10, BS);
    cache.created(attr(1, 0));
    cache.created(attr(2, 0));
    cache.get(1);
    cache.created(attr(3, 0));
    assert.equal(cache.size, 2);
    assert.ok(cache.get(1) !== undefined && cache.get(3) !== undefined);
    assert.equal(cache.get(2), undefined);
  });

  it('a create answered before a later commit does not replace what the commit taught', () => {
    const cache = new WriteStateCache(10, 10, BS);
    cache.learned(attr(5, 150, 3), [ref(0, 1), ref(1, 2, 50)], true);
    cache.created(attr(5, 0, 1));
    assert.equal(cache.get(5)!.attr.size, 150);
    cache.forget(5);
    assert.equal(cache.get(5), undefined);
  });
});
