// The mediator's cluster logic, with the world injected: membership and heartbeats, replacing a
// crashed data server on a spare port and healing it, quorum reads and writes of file data, the
// redundancy service, orphan deletion and the figures status shows. It has no sockets, child
// processes or timers of its own: the clock, the random source, the channels to the metadata
// server and data servers, and how a data server is started come from the MediatorWorld. The
// process shell (mediator.ts) wires the real ones; the simulator wires simulated ones.

import type { Address } from '../common/address.js';
import { every, type Clock, type Timer } from '../common/clock.js';
import { codeOf, messageOf } from '../common/errors.js';
import { TaskQueue } from '../common/async.js';
import type { Logger } from '../common/logger.js';
import { limits } from '../common/limits.js';
import type { Random } from '../common/random.js';
import type { BlockRef, InodeAttr, OrphanBlock, StatFs } from '../common/types.js';
import { blockKey } from '../common/types.js';
import { blockCount } from '../core/block-math.js';
import { statFsWithSpace } from '../core/capacity.js';
import { initialMembership, keptMembership, liveServers, step, watchedServers, writableServers, type MembershipAction, type MembershipEvent, type MembershipState, type ServerRecord, type SpawnFailure } from '../core/membership.js';
import { copyVerdict } from '../core/repair-plan.js';
import type { ClusterEventKind } from '../core/event-log.js';
import type { LoadCounters } from '../core/load-history.js';
import { orphanDeletions } from '../core/replication-policy.js';
import { dataMethods } from '../protocol/data-messages.js';
import type { ServerStatus, StatusReport } from '../protocol/mediator-messages.js';
import { metaMethods } from '../protocol/meta-messages.js';
import { FileIo } from '../replication/file-io.js';
import { Replicator, type ReplicaTarget, type ReplicatorOptions } from '../replication/replicator.js';
import { VersionAllocator } from '../replication/version-allocator.js';
import type { ClosableChannel, RpcChannel } from '../transport/rpc-channel.js';
import { Redundancy } from './redundancy.js';
import { SpaceTracker } from './space-tracker.js';

/** A running data server this mediator started. */
export interface DataServerProcess {
  readonly pid: number;
  readonly alive: boolean;
  /** Resolves when it has exited, with how. */
  readonly exited: Promise<string>;
  /** Ends it as a crash would. */
  kill(signal: 'SIGKILL'): void;
}

export interface MediatorWorld<P extends DataServerProcess = DataServerProcess> {
  clock: Clock;
  random: Random;
  logger: Logger;
  /** The metadata server. */
  meta: RpcChannel;
  /** A channel to the data server at `address`, kept until the server is replaced. */
  connectData(address: Address): ClosableChannel;
  /** Starts a data server on `port` (`fresh`: on an empty directory); resolves once it serves.
   * Rejects ADDRESS_IN_USE if the port is taken (a replacement then moves to the next spare). */
  spawnData(port: number, fresh: boolean): Promise<P>;
  /** Stops a data server this mediator started, waiting for it to exit. */
  stopData(process: P): Promise<void>;
}

export interface MediatorCoreOptions {
  readQuorum: number;
  writeQuorum: number;
  host: string;
  dataPorts: number[];
  sparePorts: number[];
  heartbeatIntervalMs: number;
  healRateBytesPerSecond: number;
  scrubRateBytesPerSecond: number;
  /** 0: scrub only on demand. */
  scrubIntervalMs: number;
  /** Verified blocks kept in memory (default limits.mediatorBlockCacheBytes); 0 sends every
   * read to the replicas. */
  blockCacheBytes?: number;
  /** Told of each cluster event for the mediator's event log (core/event-log.ts). */
  onClusterEvent?: (kind: ClusterEventKind, message: string, server?: string) => void;
  /** Told of each data server's cumulative load counters, as its heartbeat reports them. */
  onLoadReported?: (id: string, load: LoadCounters) => void;
  /** Called once a replacement data server serves (the shell rewrites the owner credentials). */
  onReplacementStarted?: () => Promise<void>;
  /** The membership to start from instead of `dataPorts` (a leader taking over one kept in
   * etcd); none of its servers is spawned here. */
  membership?: MembershipState;
  /** Called with what to keep of the membership after each change (a leader keeps it in etcd). */
  onMembershipChanged?: (kept: ReturnType<typeof keptMembership>) => void;
  /** Writes wait, up to their deadline, for enough writable servers even when no replacement is
   * starting (servers join a cluster on etcd over time). */
  waitForServers?: boolean;
  /** Told how each quorum read and write of a block ended (metrics). */
  onQuorum?: ReplicatorOptions['onQuorum'];
}

interface Counters {
  reads: number;
  writes: number;
  writeMisses: number;
  replacements: number;
}

interface ServerRuntime<P> {
  client: ClosableChannel;
  child?: P;
  blocks?: number;
  bytes?: number;
  heartbeatInFlight: boolean;
  /** When a call to the server last came back with a result (any method). */
  lastAnswerMs: number;
}

export class MediatorCore<P extends DataServerProcess = DataServerProcess> {
  private membership: MembershipState;
  private readonly runtime = new Map<string, ServerRuntime<P>>();
  readonly replicator: Replicator;
  readonly fileIo: FileIo;
  readonly redundancy: Redundancy;
  private readonly space = new SpaceTracker(limits.dataServerSpaceReserveBytes);
  readonly counters: Counters = { reads: 0, writes: 0, writeMisses: 0, replacements: 0 };
  private heartbeatTimer: Timer | undefined;
  private readonly orphanTimers = new Set<Timer>();
  /** Deletions of freed block versions, one block key at a time each, a bounded number at once. */
  private readonly orphanDeletes = new TaskQueue(limits.orphanDeletesInFlight);
  private stopping = false;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(
    private readonly options: MediatorCoreOptions,
    private readonly world: MediatorWorld<P>,
  ) {
    this.log = world.logger;
    this.clock = world.clock;
    const servers = options.dataPorts.map((port) => ({ host: options.host, port, local: true }));
    this.membership = options.membership ?? initialMembership(servers, options.sparePorts, limits.heartbeatMissesBeforeDown);
    this.replicator = new Replicator({
      readQuorum: options.readQuorum,
      writeQuorum: options.writeQuorum,
      random: world.random,
      clock: world.clock,
      liveTargets: () => this.targets(liveServers(this.membership)),
      writableTargets: () => this.targets(writableServers(this.membership)),
      awaitWriteTargets: (count, deadlineMs) => this.awaitLive(count, deadlineMs),
      onReadVote: (key, expected, result) => {
        if (result.bad.length === 0) return;
        this.redundancy.counters.corruptFound += result.bad.length;
        for (const bad of result.bad) this.event('corruption-found', `bad copy of ${key} v${expected.version} on ${bad.server} (${bad.verdict}, found on read)`, bad.server);
        this.log.warn({ key, version: expected.version, bad: result.bad }, 'bad replicas found on read');
      },
      onReadRepair: (key, version, serverId, verdict, ok) => {
        if (ok) {
          this.redundancy.counters.corruptRepaired++;
          this.redundancy.recordRepaired(serverId, key, version);
          this.event('corruption-repaired', `repaired ${key} v${version} on ${serverId} (read repair)`, serverId);
        }
        this.log.info({ key, version, server: serverId, verdict, ok }, 'read repair');
      },
      onWriteMiss: (key, version, serverId, reason) => {
        this.counters.writeMisses++;
        this.redundancy.recordMiss(serverId, key, version);
        this.log.warn({ key, version, server: serverId, reason }, 'write missed a replica');
      },
      onPutSettled: (serverId, code) => this.space.putSettled(serverId, code),
      ...(options.onQuorum ? { onQuorum: options.onQuorum } : {}),
    });
    this.redundancy = new Redundancy({
      meta: world.meta,
      replicator: this.replicator,
      clientOf: (id) => this.runtimeOf(id).client,
      clock: world.clock,
      writableIds: () => writableServers(this.membership).map((s) => s.id),
      configuredServers: () => watchedServers(this.membership).length,
      onHealed: (id) => {
        this.event('heal-done', `heal of ${id} done: it holds every committed block`, id);
        this.apply({ type: 'healed', id });
      },
      onEvent: (kind, message, server) => this.event(kind, message, server),
      healRateBytesPerSecond: options.healRateBytesPerSecond,
      scrubRateBytesPerSecond: options.scrubRateBytesPerSecond,
      scrubIntervalMs: options.scrubIntervalMs,
      orphanMinAgeMs: limits.orphanMinAgeMs,
      logger: this.log,
    });
    const versions = new VersionAllocator(async (count) => (await world.meta.call(metaMethods.reserveVersions, { count })).first);
    this.fileIo = new FileIo({
      meta: world.meta,
      replicator: this.replicator,
      versions,
      blockSizeBytes: limits.blockSizeBytes,
      cacheBytes: options.blockCacheBytes ?? limits.mediatorBlockCacheBytes,
      clock: world.clock,
      onOrphans: (orphans) => this.deleteOrphans(orphans),
    });
  }

  /** Starts the data servers, waits for one heartbeat round, then watches them. */
  async start(): Promise<void> {
    await Promise.all(
      this.membership.servers.filter((s) => s.local && s.state !== 'replaced').map(async (server) => {
        const child = await this.world.spawnData(server.port, false);
        this.runtimeOf(server.id).child = child;
        this.watchExit(server.id, child);
      }),
    );
    await this.heartbeatAll();
    this.redundancy.start();
    this.heartbeatTimer = every(this.clock, this.options.heartbeatIntervalMs, () => void this.heartbeatAll());
  }

  /** Stops watching, closes every channel and stops every data server, waiting for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.heartbeatTimer?.cancel();
    for (const t of this.orphanTimers) t.cancel();
    this.redundancy.stop();
    const children = [...this.runtime.values()].map((r) => r.child).filter((c): c is P => c !== undefined && c.alive);
    for (const runtime of this.runtime.values()) runtime.client.close();
    await Promise.all(children.map((c) => this.world.stopData(c)));
  }

  /** Every address in use (data servers not replaced) and the spare ports left. */
  get serverPorts(): { inUse: number[]; spare: number[] } {
    return { inUse: this.membership.servers.map((s) => s.port), spare: this.membership.sparePorts };
  }

  // ---- membership ----

  private event(kind: ClusterEventKind, message: string, server?: string): void {
    this.options.onClusterEvent?.(kind, message, server);
  }

  private watchExit(id: string, child: P): void {
    void child.exited.then((how) => {
      if (!this.stopping) this.apply({ type: 'processExited', id, reason: how });
    });
  }

  private apply(event: MembershipEvent): void {
    const { state, actions } = step(this.membership, event);
    const changed = state !== this.membership;
    this.membership = state;
    for (const action of actions) this.carryOut(action);
    if (changed) this.options.onMembershipChanged?.(keptMembership(state));
  }

  /** A data server joined the cluster (joins kept in etcd, read by the leader). */
  joined(server: { host: string; port: number; spare: boolean }): void {
    if (this.stopping) return;
    this.apply({ type: 'joined', id: `${server.host}:${server.port}`, ...server });
  }

  /** Every server as kept, for the first write of a leader's term. */
  get keptMembership(): ReturnType<typeof keptMembership> {
    return keptMembership(this.membership);
  }

  private carryOut(action: MembershipAction): void {
    switch (action.type) {
      case 'serverDown':
        this.log.warn({ server: action.id, reason: action.reason }, 'data server down');
        this.event('server-down', `data server ${action.id} down: ${action.reason}`, action.id);
        this.forgetFigures(action.id);
        return;
      case 'serverLive':
        this.log.info({ server: action.id }, 'data server live');
        return;
      case 'startHeal':
        this.log.info({ server: action.id }, 'healing data server');
        this.event('heal-started', `healing data server ${action.id}`, action.id);
        void this.redundancy.heal(action.id);
        return;
      case 'stopProcess': {
        this.redundancy.forgetServer(action.id);
        this.forgetFigures(action.id);
        const runtime = this.runtime.get(action.id);
        runtime?.child?.kill('SIGKILL');
        runtime?.client.close();
        return;
      }
      case 'spawnReplacement':
        void this.replace(action.replaces, action.port);
        return;
      case 'promoteStandby':
        this.counters.replacements++;
        this.log.info({ replaces: action.replaces, server: action.id }, 'a standby data server replaces a failed one');
        this.event('standby-promoted', `standby data server ${action.id} replaces ${action.replaces}`, action.id);
        void this.heartbeat(action.id);
        return;
      case 'serverJoined':
        this.log.info({ server: action.id, spare: action.spare, members: watchedServers(this.membership).length, readQuorum: this.options.readQuorum, writeQuorum: this.options.writeQuorum }, action.spare ? 'a standby data server joined' : 'a data server joined');
        this.event('server-joined', `${action.spare ? 'standby data server' : 'data server'} ${action.id} joined`, action.id);
        if (!action.spare) void this.heartbeat(action.id);
        return;
      case 'replacementMoved': {
        const { replaces, failure, toPort } = action;
        const fields = { replaces, port: failure.port, next: toPort, ...(failure.portInUse ? {} : { err: failure.reason }) };
        // A taken spare port is expected (the default range is inside the ephemeral range): a
        // warning. A replacement that failed for another reason is an error.
        if (failure.portInUse) this.log.warn(fields, `spare port ${failure.port} is in use; starting the replacement of ${replaces} on spare port ${toPort}`);
        else this.log.error(fields, `the replacement of ${replaces} could not start on spare port ${failure.port} (${failure.reason}); trying spare port ${toPort}`);
        return;
      }
      case 'sparesExhausted': {
        const { replaces, lastFailure } = action;
        this.log.error(
          { replaces, live: liveServers(this.membership).length, ...(lastFailure ? { port: lastFailure.port, err: lastFailure.reason } : {}) },
          `no spare port left to replace ${replaces}${lastFailure ? ` (${describeFailure(lastFailure)})` : ''}; serving with the remaining data servers`,
        );
        return;
      }
      default: {
        const never: never = action;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }

  private async replace(replaces: string, port: number): Promise<void> {
    const id = `${this.options.host}:${port}`;
    let child: P;
    try {
      child = await this.world.spawnData(port, true);
    } catch (err) {
      // Logged as the membership carries it out: one line, the move to the next spare or the end.
      if (!this.stopping) this.apply({ type: 'spawnFailed', id, reason: messageOf(err), portInUse: codeOf(err) === 'ADDRESS_IN_USE' });
      return;
    }
    if (this.stopping) return child.kill('SIGKILL');
    await this.options.onReplacementStarted?.().catch((err: unknown) => this.log.error({ err: messageOf(err) }, 'cannot rewrite the owner credentials'));
    this.runtimeOf(id).child = child;
    this.watchExit(id, child);
    this.counters.replacements++;
    this.log.info({ replaces, server: id, pid: child.pid }, 'replacement data server started');
    this.event('replacement-started', `replacement data server ${id} (pid ${child.pid}) started for ${replaces}`, id);
    await this.heartbeat(id);
  }

  private async heartbeatAll(): Promise<void> {
    // A replacement still being spawned has no process yet; its misses would count against it.
    const due = watchedServers(this.membership).filter((s) => !s.local || this.runtime.get(s.id)?.child);
    await Promise.all(due.map((s) => this.heartbeat(s.id)));
  }

  private async heartbeat(id: string): Promise<void> {
    const runtime = this.runtimeOf(id);
    if (runtime.heartbeatInFlight || this.stopping) return;
    runtime.heartbeatInFlight = true;
    const sentMs = this.clock.nowMs();
    try {
      const info = await runtime.client.call(dataMethods.heartbeat, {}, { timeoutMs: this.options.heartbeatIntervalMs * 2 });
      runtime.blocks = info.blocks;
      runtime.bytes = info.bytes;
      this.space.reported(id, { capacityBytes: info.totalBytes, freeBytes: info.freeBytes });
      if (info.load) this.options.onLoadReported?.(id, info.load);
      if (!this.stopping) this.apply({ type: 'heartbeatOk', id });
    } catch (err) {
      // A server that refuses for being busy answered: it is alive (its figures wait). So is one
      // whose heartbeat reply is late while it answers other calls (under load, behind them).
      const code = codeOf(err);
      if (code === 'TOO_MANY_REQUESTS' || (code === 'TIMEOUT' && runtime.lastAnswerMs >= sentMs)) {
        if (!this.stopping) this.apply({ type: 'heartbeatOk', id });
        return;
      }
      // A server that answers nothing is missing heartbeats only once it has been silent a
      // while: on two loaded cores a healthy one can be for over a second. A dead process's
      // connection is refused at once, which counts straight away.
      if (code === 'TIMEOUT' && this.clock.nowMs() - runtime.lastAnswerMs < limits.silenceBeforeMissesMs) return;
      if (!this.stopping) this.apply({ type: 'heartbeatFailed', id, reason: messageOf(err) });
    } finally {
      runtime.heartbeatInFlight = false;
    }
  }

  /** A server that is down or gone has no current figures: its last ones are not shown as now
   * (its next heartbeat, if it comes back, reports them again). */
  private forgetFigures(id: string): void {
    const runtime = this.runtime.get(id);
    if (runtime) {
      runtime.blocks = undefined;
      runtime.bytes = undefined;
    }
    this.space.forget(id);
  }

  private runtimeOf(id: string): ServerRuntime<P> {
    let runtime = this.runtime.get(id);
    if (!runtime) {
      const record = this.membership.servers.find((s) => s.id === id);
      const address = record ? { host: record.host, port: record.port } : parseId(id);
      const created: ServerRuntime<P> = { client: this.world.connectData(address), heartbeatInFlight: false, lastAnswerMs: -Infinity };
      created.client = answersNoted(created.client, () => (created.lastAnswerMs = this.clock.nowMs()));
      runtime = created;
      this.runtime.set(id, runtime);
    }
    return runtime;
  }

  /** Waits while fewer than `count` data servers are live and a replacement is starting. */
  private async awaitLive(count: number, deadlineMs: number): Promise<boolean> {
    for (;;) {
      if (writableServers(this.membership).length >= count) return true;
      const replacing = this.options.waitForServers || this.membership.servers.some((s) => s.state === 'starting');
      if (!replacing || this.stopping || this.clock.nowMs() + limits.liveWaitPollMs >= deadlineMs) return false;
      await this.clock.sleep(limits.liveWaitPollMs);
    }
  }

  private targets(servers: ServerRecord[]): ReplicaTarget[] {
    return servers.map((s) => ({ id: s.id, client: this.runtimeOf(s.id).client }));
  }

  /** Replicas a mount found lacking (reportReplicas): repaired as this mediator's own write
   * misses are. Reports naming a server that takes no writes (down, replaced, unknown) are
   * dropped: a heal or a replacement restores that server whole. */
  replicasReported(replicas: Array<{ key: string; version: number; server: string; kind: 'missed' | 'bad' }>): void {
    const writable = new Set(writableServers(this.membership).map((s) => s.id));
    for (const { key, version, server, kind } of replicas) {
      if (!writable.has(server)) continue;
      if (kind === 'missed') this.counters.writeMisses++;
      else this.redundancy.counters.corruptFound++;
      this.redundancy.recordMiss(server, key, version);
      this.log.warn({ key, version, server, reason: kind === 'missed' ? 'a mount\'s write missed it' : 'a mount\'s read found it bad' }, kind === 'missed' ? 'write missed a replica' : 'bad replica found on read');
    }
  }

  /** Deletes unreferenced block versions after a grace period, so a read that fetched the old
   * block map just before a commit can still finish. */
  deleteOrphans(orphans: OrphanBlock[]): void {
    if (orphans.length === 0 || this.stopping) return;
    const timer = this.clock.setTimer(
      limits.orphanGraceMs,
      () => {
        this.orphanTimers.delete(timer);
        // A bounded number at a time: an unlinked 1 GiB file frees 1,024 versions at once, and a
        // burst of deletes must not crowd out a server's writes and heartbeats.
        for (const { key, versions } of orphanDeletions(orphans)) {
          this.orphanDeletes.add(() => this.replicator.deleteVersions(key, versions, this.clock.nowMs() + limits.defaultCallTimeoutMs));
        }
      },
      true,
    );
    this.orphanTimers.add(timer);
  }

  // ---- what the shell serves ----

  /** One page of a file's block map from `fromIndex`: at most `maxBlocks` blocks (holes cost
   * nothing) and the index the next page starts at, absent at the end. */
  async blockMapPage(ino: number, fromIndex: number, maxBlocks: number, deadlineMs: number): Promise<{ attr: InodeAttr; blocks: BlockRef[]; nextIndex?: number }> {
    const end = Number.MAX_SAFE_INTEGER;
    const r = await this.world.meta.call(metaMethods.getBlocks, { ino, fromIndex, toIndex: end }, { timeoutMs: deadlineMs - this.clock.nowMs() });
    // A full answer from the metadata server, or more than this page takes, may have more after it.
    const more = r.blocks.length > maxBlocks || r.blocks.length === limits.maxBlocksPerCall;
    const blocks = r.blocks.slice(0, maxBlocks);
    const nextIndex = more ? blocks[blocks.length - 1]!.index + 1 : undefined;
    return nextIndex !== undefined && nextIndex < blockCount(r.attr.size, limits.blockSizeBytes) ? { attr: r.attr, blocks, nextIndex } : { attr: r.attr, blocks };
  }

  /** Each block of a file and which servers hold a good copy, verified where it is stored. */
  async explain(ino: number, fromIndex: number, deadlineMs: number) {
    const { attr, blocks, nextIndex } = await this.blockMapPage(ino, fromIndex, limits.maxExplainBlocksPerPage, deadlineMs);
    const servers = writableServers(this.membership);
    // One verifyMany per server for the page: each server reads and checks its copies in place.
    const asked = blocks.map((b) => ({ key: blockKey(ino, b.index), version: b.version }));
    const perServer = await Promise.all(
      servers.map(async (s) => {
        const r = await this.runtimeOf(s.id)
          .client.call(dataMethods.verifyMany, { blocks: asked }, { timeoutMs: Math.max(1, deadlineMs - this.clock.nowMs()) })
          .catch(() => undefined);
        return { server: s.id, results: r?.results };
      }),
    );
    const explained = blocks.map((block, i) => {
      const verdicts = perServer.map(({ server, results }) => {
        return { server, status: copyVerdict(results?.[i], block.checksum) };
      });
      return { ...block, good: verdicts.filter((v) => v.status === 'ok').map((v) => v.server), bad: verdicts.filter((v) => v.status !== 'ok') };
    });
    return nextIndex === undefined ? { attr, blocks: explained } : { attr, blocks: explained, nextIndex };
  }

  /** statfs: inode counts from the metadata server, space from the data servers (the metadata
   * server's disk says nothing about how much file data fits). */
  async statfs(deadlineMs: number): Promise<StatFs> {
    const meta = await this.world.meta.call(metaMethods.statfs, {}, { timeoutMs: deadlineMs - this.clock.nowMs() });
    return statFsWithSpace(meta, this.usableSpace());
  }

  usableSpace(): { capacityBytes: number; freeBytes: number } {
    return this.space.usable(writableServers(this.membership).map((s) => s.id), this.options.writeQuorum);
  }

  /** What a mount reads from and writes to itself (replicaTargets): the quorums and every
   * writable server, `live` where reads count on it. */
  replicaTargets(): { readQuorum: number; writeQuorum: number; servers: Array<{ id: string; host: string; port: number; live: boolean }> } {
    return {
      readQuorum: this.options.readQuorum,
      writeQuorum: this.options.writeQuorum,
      servers: writableServers(this.membership).map(({ id, host, port, state }) => ({ id, host, port, live: state === 'live' })),
    };
  }

  /** The data servers as status shows them. */
  dataServerStatus(): ServerStatus[] {
    return this.membership.servers.map((s) => {
      const runtime = this.runtime.get(s.id);
      return {
        id: s.id,
        host: s.host,
        port: s.port,
        role: 'data',
        state: s.state,
        local: s.local,
        pid: runtime?.child?.alive ? runtime.child.pid : undefined,
        blocks: runtime?.blocks,
        bytes: runtime?.bytes,
        replaces: s.replaces,
        replacedBy: s.replacedBy,
        downReason: s.downReason,
        ...(s.state === 'live' || s.state === 'healing' ? { lackingBlocks: this.redundancy.lackingBlocks(s.id) } : {}),
        heal: this.redundancy.healReport(s.id),
        ...this.space.statusOf(s.id),
      };
    });
  }

  /** The ids of the servers reads count on and of those writes go to. */
  serverIds(): { live: string[]; writable: string[] } {
    return { live: liveServers(this.membership).map((s) => s.id), writable: writableServers(this.membership).map((s) => s.id) };
  }

  scrubStatus(): StatusReport['scrub'] {
    const state = this.redundancy.scrubState();
    if (!state) return undefined;
    const { running, complete, reason, ...progress } = state;
    return { running, progress, ...(complete === undefined ? {} : { complete }), ...(reason === undefined ? {} : { reason }) };
  }
}

/** The channel, telling `answered` each time a call through it comes back with a result. */
function answersNoted(channel: ClosableChannel, answered: () => void): ClosableChannel {
  return {
    call: async (m, args, options) => {
      const result = await channel.call(m, args, options);
      answered();
      return result;
    },
    callWithPayload: async (m, args, options) => {
      const reply = await channel.callWithPayload(m, args, options);
      answered();
      return reply;
    },
    close: () => channel.close(),
  };
}

/** Why the last spare port tried did not do, for the exhaustion error. */
function describeFailure(failure: SpawnFailure): string {
  return failure.portInUse ? `spare port ${failure.port} is in use` : `spare port ${failure.port}: ${failure.reason}`;
}

function parseId(id: string): Address {
  const colon = id.lastIndexOf(':');
  return { host: id.slice(0, colon), port: Number(id.slice(colon + 1)) };
}
