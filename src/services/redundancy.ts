// Keeps every block at full redundancy, for the mediator: heals servers that join or come back
// (one heal at a time per server, with progress and ETA), repairs replicas that writes missed
// as soon as their server answers, runs scrub passes on a schedule or on demand, and keeps the
// counts that status shows. The decisions are in core/repair-plan.ts; copies come from the
// Healer, which reads only verified replicas.

import type { Logger } from '../common/logger.js';
import { RateLimiter } from '../common/rate-limiter.js';
import { Healer, newProgress, type Progress } from '../replication/healer.js';
import type { Replicator } from '../replication/replicator.js';
import type { RpcClient } from '../transport/rpc-client.js';
import { parseBlockKey } from '../common/types.js';
import { delay } from '../common/async.js';
import { metaMethods } from '../protocol/meta-messages.js';

export interface RedundancyOptions {
  meta: RpcClient;
  replicator: Replicator;
  clientOf: (serverId: string) => RpcClient;
  /** Servers that should hold every block now (live and healing). */
  writableIds: () => string[];
  /** Called when a heal of a server completed: it holds every committed block. */
  onHealed: (serverId: string) => void;
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

const HEAL_CONCURRENCY = 16;
const MISS_REPAIR_INTERVAL_MS = 500;

export class Redundancy {
  private readonly healer: Healer;
  private readonly heals = new Map<string, { progress: Progress; done: Promise<void> }>();
  /** Replicas known to be missing: server → key → version. */
  private readonly missing = new Map<string, Map<string, number>>();
  private scrubProgress: Progress | undefined;
  private scrubRunning: Promise<void> | undefined;
  private readonly healLimiter: RateLimiter;
  readonly counters: RedundancyCounters = { corruptFound: 0, corruptRepaired: 0, healedBlocks: 0, scrubPasses: 0 };
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: RedundancyOptions) {
    this.healLimiter = new RateLimiter(options.healRateBytesPerSecond);
    this.healer = this.makeHealer(this.healLimiter);
  }

  start(): void {
    this.timers.push(setInterval(() => void this.repairMisses(), MISS_REPAIR_INTERVAL_MS));
    if (this.options.scrubIntervalMs > 0) {
      this.timers.push(setInterval(() => void this.scrub().catch(() => undefined), this.options.scrubIntervalMs));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }

  /** Starts healing a server unless a heal of it is running; resolves when it ends. */
  heal(serverId: string): Promise<void> {
    const running = this.heals.get(serverId);
    if (running && running.progress.endedMs === undefined) return running.done;
    const progress = newProgress();
    const done = this.healer
      .heal(serverId, progress, () => !this.stopped && this.options.writableIds().includes(serverId))
      .then(
        () => {
          if (!this.options.writableIds().includes(serverId)) return;
          if (progress.failedBlocks === 0) {
            this.missing.delete(serverId); // it now holds every committed block
            this.options.onHealed(serverId);
          }
          this.options.logger.info({ server: serverId, blocks: progress.doneBlocks, failed: progress.failedBlocks, ms: Date.now() - progress.startedMs }, 'heal finished');
        },
        (err: unknown) => {
          progress.endedMs = Date.now();
          this.options.logger.error({ server: serverId, err: String(err) }, 'heal failed');
        },
      );
    this.heals.set(serverId, { progress, done });
    return done;
  }

  /** Heals every writable server now (a catch-up compare of each). */
  async healAll(): Promise<void> {
    await Promise.all(this.options.writableIds().map((id) => this.heal(id)));
  }

  /** Runs one scrub pass (or joins the one running). */
  scrub(): Promise<void> {
    if (this.scrubRunning) return this.scrubRunning;
    const progress = newProgress();
    this.scrubProgress = progress;
    const limiter = new RateLimiter(this.options.scrubRateBytesPerSecond);
    this.scrubRunning = this.makeHealer(limiter)
      .scrub(this.options.writableIds(), progress, () => !this.stopped, this.options.orphanMinAgeMs)
      .then(() => {
        this.counters.scrubPasses++;
      })
      .finally(() => {
        progress.endedMs ??= Date.now();
        this.scrubRunning = undefined;
      });
    return this.scrubRunning;
  }

  /** A write did not reach this replica: remember it until repaired. */
  recordMiss(serverId: string, key: string, version: number): void {
    const byKey = this.missing.get(serverId) ?? new Map<string, number>();
    byKey.set(key, Math.max(version, byKey.get(key) ?? 0));
    this.missing.set(serverId, byKey);
  }

  recordRepaired(serverId: string, key: string, version: number): void {
    const byKey = this.missing.get(serverId);
    if (byKey && (byKey.get(key) ?? Infinity) <= version) byKey.delete(key);
  }

  /** A server left the cluster for good (replaced): what it missed no longer matters. */
  forgetServer(serverId: string): void {
    this.missing.delete(serverId);
  }

  /** Distinct blocks with at least one replica known to be missing or still being healed. */
  underReplicated(): number {
    const keys = new Set<string>();
    for (const byKey of this.missing.values()) for (const key of byKey.keys()) keys.add(key);
    let healing = 0;
    for (const { progress } of this.heals.values()) {
      if (progress.endedMs === undefined) healing = Math.max(healing, progress.totalBlocks - progress.doneBlocks);
    }
    return Math.max(keys.size, healing);
  }

  healProgress(serverId: string): (Progress & { etaMs?: number }) | undefined {
    const heal = this.heals.get(serverId);
    return heal ? withEta(heal.progress) : undefined;
  }

  scrubState(): (Progress & { etaMs?: number; running: boolean }) | undefined {
    return this.scrubProgress ? { ...withEta(this.scrubProgress), running: this.scrubRunning !== undefined } : undefined;
  }

  /** Copies recorded misses to servers that answer again. */
  private async repairMisses(): Promise<void> {
    if (this.stopped) return;
    const writable = new Set(this.options.writableIds());
    for (const [serverId, byKey] of this.missing) {
      const healing = this.heals.get(serverId)?.progress.endedMs === undefined && this.heals.has(serverId);
      if (!writable.has(serverId) || healing) continue; // a heal in progress copies these too
      for (const [key, version] of [...byKey]) {
        const parsed = parseBlockKey(key);
        if (!parsed) continue;
        const current = await this.currentBlock(parsed.ino, parsed.index);
        if (!current || current.version > version) {
          byKey.delete(key); // superseded or deleted since: nothing to copy
          continue;
        }
        if (await this.healer.repairBlock(serverId, { ino: parsed.ino, ...current }, 'write miss')) byKey.delete(key);
        await delay(0);
      }
    }
  }

  private async currentBlock(ino: number, index: number) {
    try {
      const { blocks } = await this.options.meta.call(metaMethods.getBlocks, { ino, fromIndex: index, toIndex: index + 1 });
      return blocks[0];
    } catch {
      return undefined;
    }
  }

  private makeHealer(limiter: RateLimiter): Healer {
    return new Healer({
      meta: this.options.meta,
      replicator: this.options.replicator,
      clientOf: this.options.clientOf,
      limiter,
      concurrency: HEAL_CONCURRENCY,
      onRepaired: (serverId, key, version, why) => {
        this.recordRepaired(serverId, key, version);
        if (why === 'heal') this.counters.healedBlocks++;
        else if (why.startsWith('scrub')) this.counters.corruptRepaired++;
      },
      onBadCopy: (serverId, key, version, why) => {
        this.counters.corruptFound++;
        this.options.logger.warn({ server: serverId, key, version, why }, 'bad replica found by scrub');
      },
      log: (message, fields) => this.options.logger.warn(fields, message),
    });
  }
}

function withEta(p: Progress): Progress & { etaMs?: number } {
  if (p.endedMs !== undefined || p.doneBytes === 0) return { ...p };
  const elapsedMs = Date.now() - p.startedMs;
  return { ...p, etaMs: Math.round((elapsedMs / p.doneBytes) * (p.totalBytes - p.doneBytes)) };
}
