// The mediator's event log is a bounded ring: past its capacity the oldest events are dropped,
// numbers keep growing, pages are bounded, and a reader behind the ring is told what it missed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventLog } from '../../src/core/event-log.js';
import { limits } from '../../src/common/limits.js';

function fill(log: EventLog, count: number): void {
  for (let i = 1; i <= count; i++) log.append({ timeMs: i, kind: 'server-down', message: `event ${i}`, server: `127.0.0.1:${i % 65536}` });
}

describe('event log', () => {
  it('keeps every event, in order, while under its bound', () => {
    const log = new EventLog(8);
    assert.deepEqual(log.after(undefined, 10), { events: [], lastSeq: 0 });
    fill(log, 5);
    const page = log.after(undefined, 10);
    assert.deepEqual(page.events.map((e) => e.seq), [1, 2, 3, 4, 5]);
    assert.equal(page.lastSeq, 5);
    assert.equal(page.missed, undefined);
    assert.deepEqual(log.after(3, 10).events.map((e) => e.message), ['event 4', 'event 5']);
    assert.deepEqual(log.after(5, 10).events, []);
  });

  it('holds at most limits.maxEventsKept of 12,345 events: the oldest dropped, numbers still growing', () => {
    const total = 12_345;
    const log = new EventLog(limits.maxEventsKept);
    fill(log, total);
    assert.ok(total > limits.maxEventsKept);
    assert.equal(log.newestSeq, total);
    assert.equal(log.oldestSeq, total - limits.maxEventsKept + 1);
    // Read the whole ring page by page: exactly the newest maxEventsKept events, in order.
    const seen: number[] = [];
    let afterSeq: number | undefined;
    for (;;) {
      const page = log.after(afterSeq, limits.maxEventsPerPage);
      assert.ok(page.events.length <= limits.maxEventsPerPage);
      assert.equal(page.missed, undefined);
      if (page.events.length === 0) break;
      seen.push(...page.events.map((e) => e.seq));
      afterSeq = page.events[page.events.length - 1]!.seq;
    }
    assert.equal(seen.length, limits.maxEventsKept);
    assert.equal(seen[0], total - limits.maxEventsKept + 1);
    assert.equal(seen[seen.length - 1], total);
    assert.ok(seen.every((seq, i) => i === 0 || seq === seen[i - 1]! + 1));
    const newest = log.after(total - 1, 10).events[0]!;
    assert.deepEqual(newest, { seq: total, timeMs: total, kind: 'server-down', message: `event ${total}`, server: `127.0.0.1:${total % 65536}` });
    log.append({ timeMs: 0, kind: 'heal-done', message: 'one more' });
    assert.equal(log.newestSeq, total + 1);
    assert.equal(log.oldestSeq, total + 1 - limits.maxEventsKept + 1);
  });

  it('tells a reader behind the ring how many events it missed, then gives the oldest kept', () => {
    const log = new EventLog(100);
    fill(log, 10_000);
    const behind = log.after(5_000, 10);
    assert.equal(behind.missed, 9_901 - 5_001); // 5,001 … 9,900 were dropped
    assert.deepEqual(behind.events.map((e) => e.seq), [9_901, 9_902, 9_903, 9_904, 9_905, 9_906, 9_907, 9_908, 9_909, 9_910]);
    assert.equal(log.after(0, 1).missed, 9_900);
    assert.equal(log.after(9_900, 1).missed, undefined); // just caught up: nothing missed
    assert.equal(log.after(9_899, 1).missed, 1);
  });

  it('refuses a capacity that is not a positive whole number', () => {
    assert.throws(() => new EventLog(0), RangeError);
    assert.throws(() => new EventLog(1.5), RangeError);
  });
});
