// The mediator's log of recent cluster events (a server down, a replacement, a heal, a repair,
// a scrub pass, a change of leader): a ring of at most `capacity` events, numbered from 1 in the
// order they happened. The oldest are dropped; the numbers keep growing, so a reader that asks
// for events after a number the ring no longer holds is told how many it missed. Pure: the time
// of each event comes from the caller.

export const CLUSTER_EVENT_KINDS = [
  'server-down',
  'replacement-started',
  'standby-promoted',
  'server-joined',
  'heal-started',
  'heal-done',
  'heal-incomplete',
  'corruption-found',
  'corruption-repaired',
  'scrub-done',
  'scrub-incomplete',
  'leader-elected',
  'leader-deposed',
] as const;

export type ClusterEventKind = (typeof CLUSTER_EVENT_KINDS)[number];

export interface ClusterEvent {
  seq: number;
  timeMs: number;
  kind: ClusterEventKind;
  message: string;
  /** The data server it is about (host:port), when it is about one. */
  server?: string;
}

export interface EventPage {
  /** Oldest first, at most the page size asked for. */
  events: ClusterEvent[];
  /** The number of the newest event recorded (0: none yet). */
  lastSeq: number;
  /** Events after the reader's `afterSeq` that the ring dropped before it asked. */
  missed?: number;
}

export class EventLog {
  private readonly ring: Array<ClusterEvent | undefined>;
  private lastSeq = 0;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`event log capacity ${capacity}`);
    this.ring = new Array<ClusterEvent | undefined>(capacity);
  }

  /** Records an event; returns it with its number. */
  append(event: Omit<ClusterEvent, 'seq'>): ClusterEvent {
    const recorded: ClusterEvent = { seq: ++this.lastSeq, ...event };
    this.ring[(recorded.seq - 1) % this.capacity] = recorded;
    return recorded;
  }

  get newestSeq(): number {
    return this.lastSeq;
  }

  /** The number of the oldest event still held (lastSeq + 1 when none is). */
  get oldestSeq(): number {
    return Math.max(1, this.lastSeq - this.capacity + 1);
  }

  /** Up to `maxEvents` events numbered above `afterSeq`, oldest first. Without `afterSeq`: from
   * the oldest held, and nothing counts as missed. */
  after(afterSeq: number | undefined, maxEvents: number): EventPage {
    const oldest = this.oldestSeq;
    const from = afterSeq === undefined ? oldest : Math.max(afterSeq + 1, oldest);
    const missed = afterSeq === undefined ? 0 : Math.max(0, Math.min(oldest, this.lastSeq + 1) - afterSeq - 1);
    const events: ClusterEvent[] = [];
    for (let seq = from; seq <= this.lastSeq && events.length < maxEvents; seq++) {
      events.push(this.ring[(seq - 1) % this.capacity]!);
    }
    return missed > 0 ? { events, lastSeq: this.lastSeq, missed } : { events, lastSeq: this.lastSeq };
  }
}
