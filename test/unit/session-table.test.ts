// The mediator's table of mount sessions: attached while a connection that named it is open,
// given a grace period once the last one closes, released after it unless it comes back; sessions
// found holding in the metadata store but unknown here get the same grace period.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionTable } from '../../src/core/session-table.js';

const GRACE_MS = 1_000;

describe('session table', () => {
  it('keeps a session while any of its connections is open', () => {
    const table = new SessionTable<string>(GRACE_MS);
    assert.equal(table.attach('s', 'c1'), true);
    assert.equal(table.attach('s', 'c1'), false); // the same connection: its close is already watched
    assert.equal(table.attach('s', 'c2'), true);
    table.connectionClosed('c1', 100);
    assert.equal(table.isAttached('s'), true);
    assert.deepEqual(table.expired(100 + GRACE_MS * 10), []);
  });

  it('expires a session its grace period after its last connection closed, not before', () => {
    const table = new SessionTable<string>(GRACE_MS);
    table.attach('s', 'c1');
    table.attach('t', 'c2');
    table.connectionClosed('c1', 5_000);
    assert.equal(table.isAttached('s'), false);
    assert.deepEqual(table.expired(5_000 + GRACE_MS - 1), []);
    assert.deepEqual(table.expired(5_000 + GRACE_MS), ['s']);
    assert.deepEqual(table.expired(5_000 + GRACE_MS * 3), ['s']); // until released and forgotten
    table.forget('s');
    assert.deepEqual(table.expired(5_000 + GRACE_MS * 3), []);
    assert.equal(table.size, 1);
  });

  it('a session that comes back within its grace period is not expired, nor forgotten', () => {
    const table = new SessionTable<string>(GRACE_MS);
    table.attach('s', 'c1');
    table.connectionClosed('c1', 0);
    table.attach('s', 'c2'); // the mount reconnected
    assert.deepEqual(table.expired(GRACE_MS * 5), []);
    table.forget('s'); // a release that raced the return must not drop it
    assert.equal(table.isAttached('s'), true);
    table.connectionClosed('c2', 10_000);
    assert.deepEqual(table.expired(10_000 + GRACE_MS), ['s']);
  });

  it('adopts unknown sessions from the store with a grace period from now, and leaves known ones', () => {
    const table = new SessionTable<string>(GRACE_MS);
    table.attach('live', 'c1');
    table.adopt(['live', 'old'], 2_000);
    assert.deepEqual(table.expired(2_000 + GRACE_MS - 1), []);
    assert.deepEqual(table.expired(2_000 + GRACE_MS), ['old']);
    table.attach('old', 'c3'); // came back after all
    assert.deepEqual(table.expired(2_000 + GRACE_MS), []);
  });
});
