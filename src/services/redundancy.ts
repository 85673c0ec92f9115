// Keeps every block at full redundancy, for the mediator: heals servers that join or come back
// (one heal at a time per server, with progress and ETA, tried again with backoff until it
// completes or the server leaves), repairs replicas that writes missed as soon as their server
// answers, runs scrub passes on a schedule or on demand, and says how much lacks a good copy —
// unknown when it cannot know, never 0. Decisions are in core/repair-plan.ts; copies come from
// the Healer, which reads only verified replicas. Memory is bounded: misses are remembered up
// to limits.maxRecordedMissesPerServer per server, past which that server gets a full compare.

import type { Logger } from '../common/logger.js';
import { limits } from '../common/limits.js';
import { codeOf, messageOf } from '../common/errors.js';
import { RateLimiter } from '../common/rate-limiter.js';
import { Healer, newProgress, type PassOutcome, type Progress } from '../replication/healer.js';
import type { Replicator } from '../replication/replicator.js';
import type { RpcChannel } from '../transport/rpc-channel.js';
import { every, type Clock, type Timer } from '../common/clock.js';
import { parseBlockKey } from '../common/types.js';
import { healRetryDelayMs, redundancySummary, type RedundancySummary } from '../core/repair-plan.js';
import { metaMethods } from '../protocol/meta-messages.js';

export interface RedundancyOptions {
  meta: RpcChannel;
  replicator: Replicator;
  clientOf: (serverId: string) => RpcChannel;
  clock: Clock;
  /** Servers that should hold every block now (live and healing): the ones heals fill and
   * scrubs verify. */
  writableIds: () => string[];
  /** Data servers the cluster is meant to have now (N: the members not replaced; on etcd, those
   * that have joined). */
  configuredServers: () => number;
  /** Called when a heal of a server completed: it holds every committed block. */
  onHealed: (serverId: string) => void;
  /** Told of what the mediator's event log keeps: heals incomplete, bad copies found and
   * repaired, scrub passes ended. */
  onEvent?: (kind: 'heal-incomplete' | 'corruption-found' | 'corruption-repaired' | 'scrub-done' | 'scrub-incomplete', message: string, serverId?: string) => void;
  healRateBytesPerSecond: number;
  scrubRateBytesPerSecond: number;
  /** 0: no scheduled scrub, only on demand. */
  scrubIntervalMs: number;
  orphanMinAgeMs: number;
  logger: Logger;
}

export interface RedundancyCounters {
  corruptFound: number;
  corruptRepaired: number;
  healedBlocks: number;
  scrubPasses: number;
}

export interface HealReport extends Progress {
  etaMs?: number;
  /** Blocks the server still lacks; null until this attempt's compare is done. */
  lackingBlocks: number | null;
  attempts: number;
  lastError?: string;
  nextRetryMs?: number;
}

interface HealState {
  progress: Progress;
  attempts: number;
  /** Failed attempts in a row. */
  failures: number;
  /** The last attempt completed: until this one's compare says otherwise, it still holds all. */
  completeBefore: boolean;
  running: Promise<PassOutcome> | undefined;
  retryTimer: Timer | undefined;
  nextRetryMs: number | undefined;
  lastError: string | undefined;
}


export class Redundancy {
  private readonly healer: Healer;
  private readonly heals = new Map<string, HealState>();
  /** Replicas known to be missing: server → key → (version, the miss's sequence number). */
  private readonly missing = new Map<string, Map<string, { version: number; seq: number }>>();
  private missSeq = 0;
  private scrubProgress: Progress | undefined;
  private scrubRunning: Promise<PassOutcome> | undefined;
  private lastScrub: PassOutcome | undefined;
  private readonly healLimiter: RateLimiter;
  /** Servers whose last miss repair failed: failures in a row and when to try again. */
  private readonly missBackoff = new Map<string, { failures: number; nextMs: number }>();
  /** What scrub passes saw of orphans, kept from pass to pass (the two-pass rule needs it). */
  private readonly orphanSightings = new Map<string, Map<string, number>>();
  readonly counters: RedundancyCounters = { corruptFound: 0, corruptRepaired: 0, healedBlocks: 0, scrubPasses: 0 };
  private stopped = false;
  private repairingMisses = false;
  private timers: Timer[] = [];

  constructor(private readonly options: RedundancyOptions) {
    this.healLimiter = new RateLimiter(options.healRateBytesPerSecond, options.clock);
    this.healer = this.makeHealer(this.healLimiter);
  }

  start(): void {
    const clock = this.options.clock;
    this.timers.push(every(clock, limits.missRepairIntervalMs, () => void this.repairMisses()));
    if (this.options.scrubIntervalMs > 0) {
      this.timers.push(every(clock, this.options.scrubIntervalMs, () => void this.scrub().catch(() => undefined)));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    for (const heal of this.heals.values()) heal.retryTimer?.cancel();
  }

  /** Starts a heal attempt of a server unless one is running; resolves with that attempt's
   * outcome. A failed attempt is followed by others, with backoff, while the server stays. */
  heal(serverId: string): Promise<PassOutcome> {
    const state = this.heals.get(serverId) ?? { progress: newProgress(this.options.clock.nowMs()), attempts: 0, failures: 0, running: undefined, retryTimer: undefined, nextRetryMs: undefined, lastError: undefined, completeBefore: false };
    this.heals.set(serverId, state);
    if (state.running) return state.running;
    state.retryTimer?.cancel();
    state.retryTimer = undefined;
    state.nextRetryMs = undefined;
    const progress = newProgress(this.options.clock.nowMs());
    state.progress = progress;
    state.attempts++;
    const startSeq = this.missSeq;
    const stillWanted = (): boolean => !this.stopped && this.options.writableIds().includes(serverId);
    const run = this.healer.heal(serverId, progress, stillWanted).catch((err: unknown): PassOutcome => {
      progress.endedMs = this.options.clock.nowMs();
      return { complete: false, reason: messageOf(err) };
    });
    state.running = run.then((outcome) => {
      state.running = undefined;
      if (this.heals.get(serverId) !== state || !stillWanted()) return outcome;
      const fields = { server: serverId, copied: progress.doneBlocks, failed: progress.failedBlocks, ms: this.options.clock.nowMs() - progress.startedMs };
      state.completeBefore = outcome.complete;
      if (outcome.complete) {
        state.failures = 0;
        state.lastError = undefined;
        this.forgetMissesBefore(serverId, startSeq); // it now holds every block committed before
        this.options.logger.info(fields, 'heal finished');
        this.options.onHealed(serverId);
      } else {
        state.failures++;
        state.lastError = outcome.reason;
        const waitMs = healRetryDelayMs(state.failures, limits.healRetryFirstDelayMs, limits.healRetryMaxDelayMs);
        state.nextRetryMs = this.options.clock.nowMs() + waitMs;
        state.retryTimer = this.options.clock.setTimer(waitMs, () => void this.heal(serverId));
        this.options.logger.error({ ...fields, reason: outcome.reason, attempt: state.attempts, retryInMs: waitMs }, 'heal incomplete; will try again');
        this.options.onEvent?.('heal-incomplete', `heal of ${serverId} incomplete (${outcome.reason ?? 'unknown'}); trying again in ${Math.ceil(waitMs / 1000)} s`, serverId);
      }
      return outcome;
    });
    return state.running;
  }

  /** Heals every writable server now (a catch-up compare of each); complete only if each is. */
  async healAll(): Promise<PassOutcome> {
    const ids = this.options.writableIds();
    const outcomes = await Promise.all(ids.map(async (id) => ({ id, outcome: await this.heal(id) })));
    const failed = outcomes.filter((o) => !o.outcome.complete);
    if (failed.length === 0) return { complete: true };
    return { complete: false, reason: failed.map((o) => `${o.id}: ${o.outcome.reason ?? 'incomplete'}`).join('; ') };
  }

  /** Runs one scrub pass (or joins the one running). */
  scrub(): Promise<PassOutcome> {
    if (this.scrubRunning) return this.scrubRunning;
    const progress = newProgress(this.options.clock.nowMs());
    this.scrubProgress = progress;
    const limiter = new RateLimiter(this.options.scrubRateBytesPerSecond, this.options.clock);
    // Every server writes go to, those being healed included: a heal compares indexes, not
    // bytes, so rot on a server whose heal cannot finish would otherwise never be found.
    const ids = this.options.writableIds();
    const pass = this.committedBlocks()
      .then((expected) => {
        const beingFilled = new Set(ids.filter((id) => this.isIncomplete(id)));
        return this.makeHealer(limiter).scrub(ids, progress, () => !this.stopped, this.options.orphanMinAgeMs, expected ?? 0, beingFilled);
      })
      .catch((err: unknown): PassOutcome => ({ complete: false, reason: messageOf(err) }))
      .then((outcome) => {
        progress.endedMs ??= this.options.clock.nowMs();
        if (outcome.complete) {
          this.counters.scrubPasses++;
          this.options.onEvent?.('scrub-done', `scrub pass done: ${progress.doneBlocks} block copies checked, ${progress.failedBlocks} failed`);
        } else {
          this.options.logger.error({ reason: outcome.reason }, 'scrub pass incomplete');
          this.options.onEvent?.('scrub-incomplete', `scrub pass incomplete: ${outcome.reason ?? 'unknown'}`);
        }
        this.lastScrub = outcome;
        this.scrubRunning = undefined;
        return outcome;
      });
    this.scrubRunning = pass;
    return pass;
  }

  /** A write did not reach this replica: remember it until repaired. */
  recordMiss(serverId: string, key: string, version: number): void {
    const byKey = this.missing.get(serverId) ?? new Map<string, { version: number; seq: number }>();
    this.missing.set(serverId, byKey);
    if (!byKey.has(key) && byKey.size >= limits.maxRecordedMissesPerServer) {
      // Too many to remember one by one: a full compare finds them all instead.
      this.options.logger.warn({ server: serverId, misses: byKey.size }, 'too many write misses to track; healing the server by a full compare');
      this.missing.delete(serverId);
      void this.heal(serverId);
      return;
    }
    byKey.set(key, { version: Math.max(version, byKey.get(key)?.version ?? 0), seq: ++this.missSeq });
  }

  recordRepaired(serverId: string, key: string, version: number): void {
    const byKey = this.missing.get(serverId);
    const miss = byKey?.get(key);
    if (byKey && miss && miss.version <= version) byKey.delete(key);
  }

  /** A server left the cluster for good (replaced): what it missed no longer matters. */
  forgetServer(serverId: string): void {
    this.missing.delete(serverId);
    const heal = this.heals.get(serverId);
    heal?.retryTimer?.cancel();
    this.heals.delete(serverId);
    this.orphanSightings.delete(serverId);
    this.missBackoff.delete(serverId);
  }

  /** How much lacks a good copy now, given the committed block count (null if unknown). */
  summary(committedBlocks: number | null): RedundancySummary {
    const writable = this.options.writableIds();
    const healRemaining = writable.filter((id) => this.isIncomplete(id)).map((id) => lacking(this.heals.get(id)!));
    const keys = new Set<string>();
    for (const [serverId, byKey] of this.missing) {
      if (!writable.includes(serverId)) continue;
      for (const key of byKey.keys()) keys.add(key);
    }
    return redundancySummary({ configuredServers: this.options.configuredServers(), writableServers: writable.length, committedBlocks, healRemaining, missedBlocks: keys.size });
  }

  /** Blocks this server lacks: 0 when complete but for recorded misses; null while not known. */
  lackingBlocks(serverId: string): number | null {
    const missed = this.missing.get(serverId)?.size ?? 0;
    if (!this.isIncomplete(serverId)) return missed;
    const remaining = lacking(this.heals.get(serverId)!);
    return remaining === null ? null : remaining + missed;
  }

  healReport(serverId: string): HealReport | undefined {
    const heal = this.heals.get(serverId);
    if (!heal) return undefined;
    return {
      ...withEta(heal.progress, this.options.clock.nowMs()),
      lackingBlocks: this.lackingBlocks(serverId),
      attempts: heal.attempts,
      ...(heal.lastError === undefined ? {} : { lastError: heal.lastError }),
      ...(heal.nextRetryMs === undefined ? {} : { nextRetryMs: Math.max(0, heal.nextRetryMs - this.options.clock.nowMs()) }),
    };
  }

  scrubState(): (Progress & { etaMs?: number; running: boolean; complete?: boolean; reason?: string }) | undefined {
    if (!this.scrubProgress) return undefined;
    const last = this.scrubRunning ? undefined : this.lastScrub;
    return { ...withEta(this.scrubProgress, this.options.clock.nowMs()), running: this.scrubRunning !== undefined, ...(last ? { complete: last.complete, ...(last.reason ? { reason: last.reason } : {}) } : {}) };
  }

  /** A heal of the server is running, waiting to retry, or ended incomplete. */
  private isIncomplete(serverId: string): boolean {
    const heal = this.heals.get(serverId);
    return heal !== undefined && (heal.running !== undefined || heal.retryTimer !== undefined || heal.failures > 0);
  }

  private forgetMissesBefore(serverId: string, seq: number): void {
    const byKey = this.missing.get(serverId);
    if (!byKey) return;
    for (const [key, miss] of byKey) if (miss.seq <= seq) byKey.delete(key);
  }

  private async committedBlocks(): Promise<number | null> {
    try {
      return (await this.options.meta.call(metaMethods.counts, {}, { timeoutMs: limits.defaultCallTimeoutMs })).blocks;
    } catch {
      return null;
    }
  }

  /** Copies recorded misses to servers that answer again. */
  private async repairMisses(): Promise<void> {
    if (this.stopped || this.repairingMisses) return;
    this.repairingMisses = true;
    try {
      const writable = new Set(this.options.writableIds());
      for (const [serverId, byKey] of this.missing) {
        // A heal in progress copies these too.
        if (!writable.has(serverId) || this.heals.get(serverId)?.running) continue;
        const backoff = this.missBackoff.get(serverId);
        if (backoff && this.options.clock.nowMs() < backoff.nextMs) continue;
        for (const [key, { version }] of [...byKey]) {
          if (this.stopped) return;
          const parsed = parseBlockKey(key);
          if (!parsed) {
            byKey.delete(key);
            continue;
          }
          const current = await this.currentBlock(parsed.ino, parsed.index);
          if (current === null) return; // the metadata server did not answer: later
          if (!current || current.version > version) {
            this.recordRepaired(serverId, key, version); // superseded or deleted since
            continue;
          }
          if (!(await this.healer.repairBlock(serverId, { ino: parsed.ino, ...current }, 'write miss'))) {
            // The server cannot take it yet (full, failing): try again later, less and less
            // often, rather than every tick.
            const failures = (backoff?.failures ?? 0) + 1;
            const waitMs = healRetryDelayMs(failures, limits.missRepairIntervalMs, limits.healRetryMaxDelayMs);
            this.missBackoff.set(serverId, { failures, nextMs: this.options.clock.nowMs() + waitMs });
            break;
          }
          this.missBackoff.delete(serverId);
          await this.options.clock.sleep(0);
        }
      }
    } finally {
      this.repairingMisses = false;
    }
  }

  /** The committed block, undefined if there is none, null if the metadata server failed. */
  private async currentBlock(ino: number, index: number) {
    try {
      const { blocks } = await this.options.meta.call(metaMethods.getBlocks, { ino, fromIndex: index, toIndex: index + 1 });
      return blocks[0];
    } catch (err) {
      return codeOf(err) === 'NOT_FOUND' ? undefined : null;
    }
  }

  private makeHealer(limiter: RateLimiter): Healer {
    return new Healer({
      meta: this.options.meta,
      replicator: this.options.replicator,
      clientOf: this.options.clientOf,
      clock: this.options.clock,
      limiter,
      concurrency: limits.healConcurrency,
      onRepaired: (serverId, key, version, why) => {
        this.recordRepaired(serverId, key, version);
        if (why === 'heal') this.counters.healedBlocks++;
        else if (why.startsWith('scrub')) {
          this.counters.corruptRepaired++;
          this.options.onEvent?.('corruption-repaired', `repaired ${key} v${version} on ${serverId} (${why})`, serverId);
        }
      },
      onBadCopy: (serverId, key, version, why) => {
        this.counters.corruptFound++;
        this.options.logger.warn({ server: serverId, key, version, why }, 'bad replica found by scrub');
        this.options.onEvent?.('corruption-found', `bad copy of ${key} v${version} on ${serverId} (${why})`, serverId);
      },
      log: (message, fields) => this.options.logger.warn(fields, message),
      orphanSightings: this.orphanSightings,
    });
  }
}

/** What a heal attempt has left to copy: null before its compare is done, unless the server
 * was complete before it (a catch-up compare of a complete server does not make it unknown). */
function lacking(heal: HealState): number | null {
  const p = heal.progress;
  if (!p.compared) return heal.completeBefore ? 0 : null;
  return Math.max(0, p.totalBlocks - p.doneBlocks);
}

function withEta(p: Progress, nowMs: number): Progress & { etaMs?: number } {
  if (p.endedMs !== undefined || p.doneBytes === 0) return { ...p };
  const elapsedMs = nowMs - p.startedMs;
  return { ...p, etaMs: Math.round((elapsedMs / p.doneBytes) * (p.totalBytes - p.doneBytes)) };
}
