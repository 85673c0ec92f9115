// Disk space decisions: the cluster's usable space (the Qw-th largest of the writable servers'
// values), when a server counts as full and when it stops, and when a failed write quorum is
// reported as NO_SPACE rather than QUORUM_NOT_REACHED.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  UNKNOWN_SPACE,
  isFull,
  spaceAfterPut,
  spaceAfterReport,
  statFsWithSpace,
  usableSpace,
  writeFailureCode,
  type ServerSpace,
} from '../../src/core/capacity.js';

const MiB = 1024 * 1024;
const RESERVE = MiB;
const seed = Number(process.env['QFS_SEED'] ?? 42);
const known = (capacityBytes: number, freeBytes: number): ServerSpace => ({ capacityBytes, freeBytes, putNoSpace: undefined });

describe('usableSpace', () => {
  it('is the Qw-th largest capacity and free space among the writable servers', () => {
    const servers = [known(100 * MiB, 10 * MiB), known(50 * MiB, 40 * MiB), known(30 * MiB, 30 * MiB)];
    assert.deepEqual(usableSpace(servers, 1), { capacityBytes: 100 * MiB, freeBytes: 40 * MiB });
    assert.deepEqual(usableSpace(servers, 2), { capacityBytes: 50 * MiB, freeBytes: 30 * MiB });
    assert.deepEqual(usableSpace(servers, 3), { capacityBytes: 30 * MiB, freeBytes: 10 * MiB });
  });

  it('is not lowered by one small server when Qw others have room (one full server of three, Qw 2)', () => {
    const servers = [known(16 * MiB, 0), known(80 * MiB, 70 * MiB), known(90 * MiB, 75 * MiB)];
    assert.deepEqual(usableSpace(servers, 2), { capacityBytes: 80 * MiB, freeBytes: 70 * MiB });
  });

  it('is 0 when fewer than Qw servers report a value: no write can succeed', () => {
    assert.deepEqual(usableSpace([known(10 * MiB, 5 * MiB)], 2), { capacityBytes: 0, freeBytes: 0 });
    assert.deepEqual(usableSpace([known(10 * MiB, 5 * MiB), UNKNOWN_SPACE], 2), { capacityBytes: 0, freeBytes: 0 });
    assert.deepEqual(usableSpace([], 1), { capacityBytes: 0, freeBytes: 0 });
  });

  it('leaves out servers whose space is unknown', () => {
    const servers = [UNKNOWN_SPACE, known(20 * MiB, 5 * MiB), known(30 * MiB, 7 * MiB)];
    assert.deepEqual(usableSpace(servers, 2), { capacityBytes: 20 * MiB, freeBytes: 5 * MiB });
  });

  it('never reports more free space than capacity, nor more than Qw servers could each take (property)', () => {
    const server = fc
      .tuple(fc.nat({ max: 1_000_000 }), fc.nat({ max: 1_000_000 }))
      .map(([a, b]) => known(Math.max(a, b), Math.min(a, b)));
    fc.assert(
      fc.property(fc.array(server, { minLength: 1, maxLength: 7 }), fc.integer({ min: 1, max: 7 }), (servers, qw) => {
        const u = usableSpace(servers, qw);
        assert.ok(u.freeBytes <= u.capacityBytes);
        // Writing u.freeBytes more leaves at least Qw servers that could store all of it.
        assert.ok(u.freeBytes === 0 || servers.filter((s) => s.freeBytes! >= u.freeBytes).length >= qw);
        // And a byte more would not fit on Qw of them.
        assert.ok(servers.filter((s) => s.freeBytes! >= u.freeBytes + 1).length < qw);
      }),
      { seed },
    );
  });
});

describe('statFsWithSpace', () => {
  it('replaces the block counts with the usable space in whole blocks, keeping inodes', () => {
    const meta = { blockSizeBytes: MiB, totalBlocks: 99_999, freeBlocks: 88_888, availBlocks: 77_777, totalInodes: 1000, freeInodes: 900, maxNameBytes: 255 };
    assert.deepEqual(statFsWithSpace(meta, { capacityBytes: 24 * MiB, freeBytes: 10 * MiB + 5 }), {
      ...meta,
      totalBlocks: 24,
      freeBlocks: 10,
      availBlocks: 10,
    });
  });
});

describe('full', () => {
  it('unknown space is not full; less free space than the reserve is', () => {
    assert.equal(isFull(UNKNOWN_SPACE, RESERVE), false);
    assert.equal(isFull(known(10 * MiB, RESERVE), RESERVE), false);
    assert.equal(isFull(known(10 * MiB, RESERVE - 1), RESERVE), true);
  });

  it('a put that found no space marks the server full whatever it reports, until a put is stored', () => {
    let s = spaceAfterReport(UNKNOWN_SPACE, { capacityBytes: 16 * MiB, freeBytes: 3 * MiB }, RESERVE);
    s = spaceAfterPut(s, 'noSpace');
    assert.equal(isFull(s, RESERVE), true);
    s = spaceAfterReport(s, { freeBytes: 3 * MiB }, RESERVE);
    assert.equal(isFull(s, RESERVE), true);
    s = spaceAfterPut(s, 'other'); // a timeout says nothing about space
    assert.equal(isFull(s, RESERVE), true);
    s = spaceAfterPut(s, 'stored');
    assert.equal(isFull(s, RESERVE), false);
  });

  it('clears once free space grows by the reserve past the least seen since the failed put', () => {
    let s = spaceAfterPut(known(16 * MiB, 5 * MiB), 'noSpace');
    s = spaceAfterReport(s, { freeBytes: 2 * MiB }, RESERVE); // the lowest so far
    s = spaceAfterReport(s, { freeBytes: 2 * MiB + RESERVE - 1 }, RESERVE); // a wobble
    assert.equal(isFull(s, RESERVE), true);
    s = spaceAfterReport(s, { freeBytes: 2 * MiB + RESERVE }, RESERVE); // files were deleted
    assert.equal(isFull(s, RESERVE), false);
  });

  it('a report without a field keeps the last known value', () => {
    const s = spaceAfterReport(known(16 * MiB, 5 * MiB), {}, RESERVE);
    assert.deepEqual(s, known(16 * MiB, 5 * MiB));
  });
});

describe('writeFailureCode', () => {
  it('is QUORUM_NOT_REACHED without NO_SPACE failures', () => {
    assert.equal(writeFailureCode(3, 2, 0, 2), 'QUORUM_NOT_REACHED');
  });

  it('is NO_SPACE when every server that failed had no space', () => {
    assert.equal(writeFailureCode(3, 2, 2, 2), 'NO_SPACE');
    assert.equal(writeFailureCode(3, 3, 3, 2), 'NO_SPACE');
    assert.equal(writeFailureCode(3, 1, 1, 3), 'NO_SPACE');
  });

  it('is NO_SPACE when the other failures alone would have left a quorum', () => {
    // Three servers, Qw 2: one down, one full, one stored: space is what was missing.
    assert.equal(writeFailureCode(3, 2, 1, 2), 'NO_SPACE');
    // Five servers, Qw 3: two down and one full.
    assert.equal(writeFailureCode(5, 3, 1, 3), 'NO_SPACE');
  });

  it('is QUORUM_NOT_REACHED when the other failures alone sink the quorum', () => {
    // Three servers, Qw 2: two down, one full: space would not have helped.
    assert.equal(writeFailureCode(3, 3, 1, 2), 'QUORUM_NOT_REACHED');
  });
});
