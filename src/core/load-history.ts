// The cluster's throughput and latency over the last minutes, from the cumulative counters each
// data server reports in its heartbeat: a bounded ring of points, one per interval. Pure: times
// are given by the caller. A server whose counters go backwards restarted (its new counters are
// what it did since); a server seen for the first time (a replacement, or one already running
// when the mediator started) only sets its baseline, so nothing it did before is counted now.

/** Cumulative counters of one data server since it started. */
export interface LoadCounters {
  readBytes: number;
  writtenBytes: number;
  requests: number;
  /** Milliseconds spent serving those requests, summed. */
  requestMs: number;
}

/** The cluster over one interval starting at `timeMs`. */
export interface LoadPoint {
  timeMs: number;
  readBytesPerS: number;
  writeBytesPerS: number;
  requestsPerS: number;
  /** Mean time to serve a request in the interval; null when none was served. */
  meanRequestMs: number | null;
}

interface Tracked {
  last: LoadCounters;
  lastSeenMs: number;
}

const ZERO: LoadCounters = { readBytes: 0, writtenBytes: 0, requests: 0, requestMs: 0 };

export class LoadHistory {
  private readonly ring: LoadPoint[] = [];
  private readonly servers = new Map<string, Tracked>();
  /** Start of the interval being summed, and its sums; undefined before the first report. */
  private openStartMs: number | undefined;
  private open: LoadCounters = { ...ZERO };

  constructor(
    private readonly intervalMs: number,
    private readonly pointsKept: number,
    private readonly maxServers: number,
  ) {
    for (const [what, n] of [['interval', intervalMs], ['points kept', pointsKept], ['servers', maxServers]] as const) {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`load history ${what} ${n}`);
    }
  }

  /** A server's counters at `timeMs` (never earlier than a time given before). Returns the points
   * this closed (intervals that ended before `timeMs`), oldest first, for the caller to publish. */
  report(serverId: string, timeMs: number, counters: LoadCounters): LoadPoint[] {
    const closed = this.advance(timeMs);
    const tracked = this.servers.get(serverId);
    if (tracked) {
      const restarted = (Object.keys(ZERO) as Array<keyof LoadCounters>).some((k) => counters[k] < tracked.last[k]);
      const since = restarted ? ZERO : tracked.last;
      for (const k of Object.keys(ZERO) as Array<keyof LoadCounters>) this.open[k] += counters[k] - since[k];
      tracked.last = { ...counters };
      tracked.lastSeenMs = timeMs;
      this.servers.delete(serverId); // re-inserted: the map stays in order of last report
      this.servers.set(serverId, tracked);
    } else {
      if (this.servers.size >= this.maxServers) this.servers.delete(this.servers.keys().next().value!);
      this.servers.set(serverId, { last: { ...counters }, lastSeenMs: timeMs });
    }
    return closed;
  }

  /** Closes the intervals that ended by `timeMs` (also with no report: a quiet cluster shows
   * zeros, not a stale line). Returns the points it closed. */
  advance(timeMs: number): LoadPoint[] {
    const start = Math.floor(timeMs / this.intervalMs) * this.intervalMs;
    if (this.openStartMs === undefined) {
      this.openStartMs = start;
      return [];
    }
    if (start <= this.openStartMs) return [];
    const closed: LoadPoint[] = [this.pointOf(this.openStartMs, this.open)];
    // Empty intervals between: at most a ring's worth, since older ones would be dropped anyway.
    const gapPoints = Math.min((start - this.openStartMs) / this.intervalMs - 1, this.pointsKept);
    for (let i = gapPoints; i >= 1; i--) closed.push(this.pointOf(start - i * this.intervalMs, ZERO));
    for (const point of closed) this.push(point);
    this.openStartMs = start;
    this.open = { ...ZERO };
    this.forgetSilent(timeMs);
    return closed.slice(-this.pointsKept);
  }

  /** The points kept, oldest first. */
  points(): LoadPoint[] {
    return [...this.ring];
  }

  get trackedServers(): number {
    return this.servers.size;
  }

  private pointOf(timeMs: number, sums: LoadCounters): LoadPoint {
    const perS = 1000 / this.intervalMs;
    return {
      timeMs,
      readBytesPerS: sums.readBytes * perS,
      writeBytesPerS: sums.writtenBytes * perS,
      requestsPerS: sums.requests * perS,
      meanRequestMs: sums.requests > 0 ? sums.requestMs / sums.requests : null,
    };
  }

  private push(point: LoadPoint): void {
    this.ring.push(point);
    if (this.ring.length > this.pointsKept) this.ring.splice(0, this.ring.length - this.pointsKept);
  }

  /** Servers silent for longer than the history are gone (replaced, removed): forgotten. The
   * map is in order of last report, so the silent ones are first. */
  private forgetSilent(nowMs: number): void {
    const horizonMs = this.intervalMs * this.pointsKept;
    for (const [id, tracked] of this.servers) {
      if (nowMs - tracked.lastSeenMs <= horizonMs) break;
      this.servers.delete(id);
    }
  }
}
