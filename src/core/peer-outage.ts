// Whether a peer (the mount's mediator) is in an outage, from the outcome of each call attempt:
// the first attempt it leaves unanswered (no connection, connection lost, no reply in time)
// starts an outage, the first answer of any kind ends it. Each change is reported once, so a
// log gets two lines per outage, not one per failed call. Pure: times come in as arguments.

export type OutageReport =
  | { kind: 'started'; code: string; message: string }
  | { kind: 'ended'; outageMs: number; unansweredAttempts: number };

export class PeerOutage {
  /** When the outage began (start of the first unanswered attempt), while there is one. */
  private sinceMs: number | undefined;
  private unansweredCount = 0;
  /** When the peer last answered: an attempt started before then that fails later was a slow
   * call, not a sign that the peer is gone. */
  private lastAnswerMs = Number.NEGATIVE_INFINITY;

  get inOutage(): boolean {
    return this.sinceMs !== undefined;
  }

  /** The peer answered an attempt (a reply, an error reply included) at `nowMs`. */
  answered(nowMs: number): OutageReport | undefined {
    this.lastAnswerMs = Math.max(this.lastAnswerMs, nowMs);
    if (this.sinceMs === undefined) return undefined;
    const report: OutageReport = { kind: 'ended', outageMs: Math.max(0, nowMs - this.sinceMs), unansweredAttempts: this.unansweredCount };
    this.sinceMs = undefined;
    this.unansweredCount = 0;
    return report;
  }

  /** An attempt started at `startedAtMs` got no answer, failing with `code` and `message`. */
  unanswered(startedAtMs: number, code: string, message: string): OutageReport | undefined {
    if (startedAtMs < this.lastAnswerMs) return undefined;
    this.unansweredCount++;
    if (this.sinceMs !== undefined) {
      this.sinceMs = Math.min(this.sinceMs, startedAtMs);
      return undefined;
    }
    this.sinceMs = startedAtMs;
    return { kind: 'started', code, message };
  }
}
