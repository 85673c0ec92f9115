// Where the mount puts O_APPEND writes: the file's end as the mount knows it, from the size at
// open, moved by the mount's own writes and truncates, taken back when a write fails.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FileEnds } from '../../src/mount/file-ends.js';

describe('file ends', () => {
  it('knows no end for a file not open here', () => {
    const ends = new FileEnds();
    assert.equal(ends.endOf(7), undefined);
    ends.wrote(7, 0, 10);
    ends.resized(7, 3);
    assert.equal(ends.endOf(7), undefined);
  });

  it('starts at the size at open and follows the writes made through the mount', () => {
    const ends = new FileEnds();
    ends.opened(7, 100);
    assert.equal(ends.endOf(7), 100);
    ends.wrote(7, 100, 5);
    assert.equal(ends.endOf(7), 105);
    ends.wrote(7, 0, 5); // inside the file: the end stays
    assert.equal(ends.endOf(7), 105);
    ends.wrote(7, 200, 1); // past the end: a hole, and the end moves
    assert.equal(ends.endOf(7), 201);
  });

  it('a later open raises the end to a larger size, never lowers it while the file is open', () => {
    const ends = new FileEnds();
    ends.opened(7, 100);
    ends.wrote(7, 100, 50); // not committed yet: the metadata still says 100
    ends.opened(7, 100);
    assert.equal(ends.endOf(7), 150);
    ends.opened(7, 400); // another mount appended
    assert.equal(ends.endOf(7), 400);
  });

  it('forgets the end when the last handle closes; the next open takes the size again', () => {
    const ends = new FileEnds();
    ends.opened(7, 100);
    ends.closed(7);
    assert.equal(ends.endOf(7), undefined);
    ends.opened(7, 20); // truncated by another mount meanwhile
    assert.equal(ends.endOf(7), 20);
  });

  it('follows truncates and extensions made through the mount', () => {
    const ends = new FileEnds();
    ends.opened(7, 100);
    ends.resized(7, 10);
    assert.equal(ends.endOf(7), 10);
    ends.resized(7, 1_000);
    assert.equal(ends.endOf(7), 1_000);
  });

  it('takes a failed write back, unless something moved the end since', () => {
    const ends = new FileEnds();
    ends.opened(7, 100);
    const undo = ends.wrote(7, 100, 5);
    undo();
    assert.equal(ends.endOf(7), 100);
    const undoFirst = ends.wrote(7, 100, 5);
    ends.wrote(7, 105, 5);
    undoFirst();
    assert.equal(ends.endOf(7), 110);
  });
});
