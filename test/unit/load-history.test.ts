// The status page's load history: rates per interval summed over the data servers, a server's
// first report only a baseline, a restart (counters going backwards) counted from zero, quiet
// intervals as zeros, and every bound held (points, servers) through long runs and server churn.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoadHistory, type LoadCounters } from '../../src/core/load-history.js';

const c = (readBytes: number, writtenBytes: number, requests: number, requestMs: number): LoadCounters => ({ readBytes, writtenBytes, requests, requestMs });

describe('load history', () => {
  it('sums the servers’ deltas per interval into rates and mean latency', () => {
    const h = new LoadHistory(1_000, 10, 16);
    h.report('a', 10_000, c(100, 100, 10, 10)); // baselines
    h.report('b', 10_100, c(5_000, 0, 1, 1));
    h.report('a', 10_500, c(1_100, 2_100, 20, 30)); // +1000 read, +2000 written, +10 req, +20 ms
    h.report('b', 10_900, c(6_000, 0, 11, 41)); // +1000 read, +10 req, +40 ms
    const closed = h.report('a', 11_200, c(1_100, 2_100, 20, 30)); // nothing new; closes 10_000
    assert.deepEqual(closed, [{ timeMs: 10_000, readBytesPerS: 2_000, writeBytesPerS: 2_000, requestsPerS: 20, meanRequestMs: 3 }]);
    assert.deepEqual(h.points(), closed);
  });

  it('does not count what a new server did before it was first seen', () => {
    const h = new LoadHistory(1_000, 10, 16);
    h.report('replacement', 0, c(1e9, 1e9, 1e6, 1e6));
    const [point] = h.advance(1_000);
    assert.deepEqual(point, { timeMs: 0, readBytesPerS: 0, writeBytesPerS: 0, requestsPerS: 0, meanRequestMs: null });
  });

  it('counts a restarted server from zero when its counters go backwards', () => {
    const h = new LoadHistory(1_000, 10, 16);
    h.report('a', 0, c(5_000, 5_000, 50, 50));
    h.report('a', 100, c(300, 0, 3, 6)); // restarted: did 300 B in 3 requests since
    const [point] = h.advance(1_000);
    assert.equal(point!.readBytesPerS, 300);
    assert.equal(point!.requestsPerS, 3);
    assert.equal(point!.meanRequestMs, 2);
    h.report('a', 1_100, c(400, 0, 4, 7));
    assert.equal(h.advance(2_000)[0]!.readBytesPerS, 100, 'then counts on from the new counters');
  });

  it('fills quiet intervals with zeros, at most a ring of them', () => {
    const h = new LoadHistory(1_000, 5, 16);
    h.report('a', 0, c(0, 0, 0, 0));
    h.report('a', 500, c(10, 0, 1, 1));
    const closed = h.report('a', 3_500, c(10, 0, 1, 1));
    assert.deepEqual(closed.map((p) => [p.timeMs, p.readBytesPerS]), [[0, 10], [1_000, 0], [2_000, 0]]);
    const later = h.advance(1_000_000_000);
    assert.equal(later.length, 5);
    assert.equal(h.points().length, 5);
    assert.ok(h.points().every((p) => p.readBytesPerS === 0));
    assert.equal(h.points()[4]!.timeMs, 1_000_000_000 - 1_000);
  });

  it('holds its bounds through a long run with servers replaced all along', () => {
    const pointsKept = 600;
    const maxServers = 64;
    const h = new LoadHistory(1_000, pointsKept, maxServers);
    const totals = new Map<string, LoadCounters>();
    let expectedWritten = 0;
    let reports = 0;
    // 2 hours of heartbeats every 200 ms from 8 servers, each replaced every 5 minutes by a new id.
    for (let t = 0; t < 2 * 3600_000; t += 200) {
      const generation = Math.floor(t / 300_000);
      for (let s = 0; s < 8; s++) {
        const id = `s${s}-g${generation}`;
        const before = totals.get(id);
        const now = before ? c(before.readBytes + 10, before.writtenBytes + 20, before.requests + 1, before.requestMs + 2) : c(0, 0, 0, 0);
        if (before && t >= 2 * 3600_000 - pointsKept * 1_000) expectedWritten += 20;
        totals.set(id, now);
        h.report(id, t, now);
        reports++;
      }
      if (generation > 1) for (let s = 0; s < 8; s++) totals.delete(`s${s}-g${generation - 2}`);
    }
    h.advance(2 * 3600_000);
    assert.ok(reports > 280_000);
    const points = h.points();
    assert.equal(points.length, pointsKept);
    assert.ok(h.trackedServers <= maxServers, `tracked ${h.trackedServers}`);
    // Every interval: 8 servers × 5 heartbeats, less the intervals where a generation's first
    // reports were baselines.
    assert.equal(points.reduce((sum, p) => sum + p.writeBytesPerS, 0), expectedWritten);
    for (let i = 1; i < points.length; i++) assert.equal(points[i]!.timeMs - points[i - 1]!.timeMs, 1_000);
    assert.ok(points.every((p) => p.meanRequestMs === null || p.meanRequestMs === 2));
  });

  it('forgets the oldest server past its bound, and servers silent longer than the history', () => {
    const h = new LoadHistory(1_000, 10, 100);
    for (let i = 0; i < 20_000; i++) h.report(`server-${i}`, i, c(0, 0, 0, 0));
    assert.equal(h.trackedServers, 100);
    h.report('late', 20_000 + 11_000, c(0, 0, 0, 0));
    h.advance(20_000 + 12_000);
    assert.equal(h.trackedServers, 1, 'only the one heard from within the history');
  });
});
