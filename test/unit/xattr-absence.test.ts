// The mount's knowledge of missing extended attributes: what it answers without a round trip,
// and when it stops.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XattrAbsence } from '../../src/mount/xattr-absence.js';

function withClock(ttlMs: number): { absence: XattrAbsence; advance: (ms: number) => void } {
  let now = 1_000;
  return { absence: new XattrAbsence(ttlMs, () => now), advance: (ms) => (now += ms) };
}

describe('xattr absence', () => {
  it('knows nothing at first', () => {
    const { absence } = withClock(1000);
    assert.equal(absence.isMissing(5, 'security.capability'), false);
  });

  it('answers every name for a new inode, until the time runs out', () => {
    const { absence, advance } = withClock(1000);
    absence.none(5);
    assert.equal(absence.isMissing(5, 'security.capability'), true);
    assert.equal(absence.isMissing(5, 'user.x'), true);
    assert.equal(absence.isMissing(6, 'user.x'), false);
    advance(999);
    assert.equal(absence.isMissing(5, 'user.x'), true);
    advance(1);
    assert.equal(absence.isMissing(5, 'user.x'), false);
  });

  it('remembers only the names found missing', () => {
    const { absence } = withClock(1000);
    absence.missing(5, 'user.a');
    assert.equal(absence.isMissing(5, 'user.a'), true);
    assert.equal(absence.isMissing(5, 'user.b'), false);
  });

  it('forgets an inode that changed', () => {
    const { absence } = withClock(1000);
    absence.none(5);
    absence.forget(5);
    assert.equal(absence.isMissing(5, 'user.a'), false);
  });

  it('keeps nothing when the attribute timeout is 0', () => {
    const { absence } = withClock(0);
    absence.none(5);
    absence.missing(5, 'user.a');
    assert.equal(absence.isMissing(5, 'user.a'), false);
  });
});
