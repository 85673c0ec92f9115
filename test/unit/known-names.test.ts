// The mount's knowledge of directories it knows whole: an absence is vouched for only in a
// directory made here, kept up to date by this mount's changes, while the mediator has answered
// recently, and never after anything made it uncertain; the names kept are bounded.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KnownNames } from '../../src/mount/known-names.js';

function setup(maxNames = 1_000, ttlMs = 1_000) {
  let now = 10_000;
  const names = new KnownNames({ ttlMs, maxNames, nowMs: () => now });
  names.answered(now);
  return { names, advance: (ms: number) => (now += ms), now: () => now };
}

describe('known names', () => {
  it('vouches for absences only in a directory made here', () => {
    const { names } = setup();
    assert.equal(names.isAbsent(1, 'x'), false, 'an unknown directory');
    names.createdEmpty(2);
    assert.equal(names.isAbsent(2, 'x'), true);
    assert.equal(names.isAbsent(2, '.'), false);
    assert.equal(names.isAbsent(2, '..'), false);
    assert.equal(names.isAbsent(2, 'n'.repeat(256)), false, 'a name too long gets its error from the metadata store');
  });

  it("follows this mount's adds, removes and renames", () => {
    const { names } = setup();
    names.createdEmpty(2);
    names.createdEmpty(3);
    names.added(2, 'a');
    assert.equal(names.isAbsent(2, 'a'), false);
    names.added(2, 'a');
    assert.equal(names.size, 1, 'adding a name twice counts it once');
    names.removed(2, 'a');
    assert.equal(names.isAbsent(2, 'a'), true);
    assert.equal(names.size, 0);
    names.added(1, 'b'); // a directory not known: nothing is kept
    assert.equal(names.size, 0);
    assert.equal(names.isAbsent(1, 'b'), false);
  });

  it('forgets a directory, and everything when reports may be lost', () => {
    const { names } = setup();
    names.createdEmpty(2);
    names.createdEmpty(3);
    names.added(2, 'a');
    names.forget(2);
    assert.equal(names.isAbsent(2, 'z'), false);
    assert.equal(names.isAbsent(3, 'z'), true);
    assert.equal(names.size, 0);
    names.forgetAll();
    assert.equal(names.isAbsent(3, 'z'), false);
  });

  it('vouches for nothing once the mediator has not answered a call sent within the time to live', () => {
    const { names, advance, now } = setup(1_000, 1_000);
    names.createdEmpty(2);
    advance(1_001);
    assert.equal(names.isAbsent(2, 'x'), false);
    names.answered(now() - 2_000); // an old call's late answer proves nothing new
    assert.equal(names.isAbsent(2, 'x'), false);
    names.answered(now() - 10);
    assert.equal(names.isAbsent(2, 'x'), true);
  });

  it('keeps at most maxNames names: a directory that would pass the bound is forgotten', () => {
    const { names } = setup(50_000);
    names.createdEmpty(2);
    for (let i = 0; i < 50_000; i++) names.added(2, `file-${i}`);
    assert.equal(names.size, 50_000);
    assert.equal(names.isAbsent(2, 'file-49999'), false);
    assert.equal(names.isAbsent(2, 'file-50000'), true);
    names.createdEmpty(3); // no room: not known
    assert.equal(names.isAbsent(3, 'x'), false);
    names.added(2, 'one-more');
    assert.equal(names.size, 0);
    assert.equal(names.isAbsent(2, 'file-50000'), false, 'forgotten, not vouched for');
  });
});
