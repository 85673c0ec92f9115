// The mediator process shell: the one entry point for clients. It spawns and supervises the
// metadata server and the data servers, feeds heartbeats and exits into the membership state
// machine and carries out its actions (replace a crashed data server on a spare port, restart
// the metadata server), and serves namespace, data and status calls, with the quorum logic in
// the replication library.

import { delay } from '../common/async.js';
import { nowTimespec } from '../common/clock.js';
import { formatAddress, type Address } from '../common/address.js';
import { messageOf, qfsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { limits } from '../common/limits.js';
import { blockKey, type BlockRef, type InodeAttr, type OrphanBlock } from '../common/types.js';
import { blockCount } from '../core/block-math.js';
import { initialMembership, liveServers, step, watchedServers, writableServers, type ServerRecord, type MembershipAction, type MembershipEvent, type MembershipState } from '../core/membership.js';
import { dataMethods } from '../protocol/data-messages.js';
import { mediatorAccess, mediatorMethods, type ServerStatus, type StatusReport } from '../protocol/mediator-messages.js';
import { metaMethods, namespaceMethods } from '../protocol/meta-messages.js';
import type { Method } from '../protocol/method.js';
import { FileIo, type Extent } from '../replication/file-io.js';
import { Replicator, type ReplicaTarget } from '../replication/replicator.js';
import { VersionAllocator } from '../replication/version-allocator.js';
import { RpcClient } from '../transport/rpc-client.js';
import { PayloadReply, RpcServer, type RpcConnection, type RequestContext } from '../transport/rpc-server.js';
import { invalidationsFor } from '../core/invalidations.js';
import { INVALIDATE_EVENT } from '../protocol/mediator-messages.js';
import { namesToWire } from '../protocol/wire-names.js';
import type { ChildHandle } from './supervisor.js';
import { MetaServerProcess, spawnDataServer, stopChild } from './child-servers.js';
import { Redundancy } from './redundancy.js';
import { copyVerdict } from '../core/repair-plan.js';
import { SessionTable } from '../core/session-table.js';
import { SpaceTracker } from './space-tracker.js';
import { statFsWithSpace } from '../core/capacity.js';
import type { StatFs } from '../common/types.js';
import path from 'node:path';
import { CLUSTER_SECRET_FILE } from '../common/cluster-secret.js';
import { removeClusterCredentials, writeClusterCredentials } from '../common/credential-store.js';
import type { Credential } from '../common/credentials.js';
import { MEDIATOR_IDENTITY, OWNER_IDENTITY, credentialFor, securityFrom } from './server-security.js';

export interface MediatorOptions {
  readQuorum: number;
  writeQuorum: number;
  host: string;
  port: number;
  metaPort: number;
  dataPorts: number[];
  sparePorts: number[];
  dataDir: string;
  faultInjection: boolean;
  logger: Logger;
  /** The cluster secret (from `<dataDir>/cluster.secret`); undefined runs every connection
   * without TLS or roles (--insecure-loopback, loopback only). */
  clusterSecret: Buffer | undefined;
  /** Milliseconds between heartbeats to each data server. */
  heartbeatIntervalMs?: number;
  /** Background copying (heal) and verifying (scrub) budgets; 0 means unlimited. */
  healRateBytesPerSecond: number;
  scrubRateBytesPerSecond: number;
  /** A scrub pass starts this often; 0: only on demand. */
  scrubIntervalMs: number;
  /** How long a mount's session survives its connection closing (default limits.sessionGraceMs). */
  sessionGraceMs?: number;
}

const ORPHAN_GRACE_MS = 1_000;
const LIVE_POLL_MS = 20;

interface Counters {
  reads: number;
  writes: number;
  writeMisses: number;
  replacements: number;
}

interface ServerRuntime {
  client: RpcClient;
  child?: ChildHandle;
  blocks?: number;
  bytes?: number;
  heartbeatInFlight: boolean;
}

export class Mediator {
  private membership: MembershipState;
  private readonly runtime = new Map<string, ServerRuntime>();
  private readonly meta: RpcClient;
  private readonly metaProcess: MetaServerProcess;
  private readonly rpc: RpcServer;
  private readonly replicator: Replicator;
  private readonly fileIo: FileIo;
  private readonly redundancy: Redundancy;
  private readonly space = new SpaceTracker(limits.dataServerSpaceReserveBytes);
  private readonly counters: Counters = { reads: 0, writes: 0, writeMisses: 0, replacements: 0 };
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Mount sessions and their connections; a session gone past its grace loses its holds. */
  private readonly sessions: SessionTable<RpcConnection>;
  /** Releases of gone sessions' holds in flight; a call naming such a session waits for it. */
  private readonly expiring = new Map<string, Promise<void>>();
  private sessionTimer: NodeJS.Timeout | undefined;
  private readonly sessionGraceMs: number;
  private stopping = false;
  private readonly startedAtMs = Date.now();
  private boundAddress: Address | undefined;
  private credentialsWritten: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly options: MediatorOptions) {
    this.log = options.logger;
    const servers = options.dataPorts.map((port) => ({ host: options.host, port, local: true }));
    this.membership = initialMembership(servers, options.sparePorts, limits.heartbeatMissesBeforeDown);
    this.sessionGraceMs = options.sessionGraceMs ?? limits.sessionGraceMs;
    this.sessions = new SessionTable(this.sessionGraceMs);
    this.metaProcess = new MetaServerProcess(options.host, options.metaPort, options.dataDir, this.log, options.clusterSecret === undefined, () => void this.adoptHoldSessions());
    this.meta = new RpcClient({ host: options.host, port: options.metaPort }, { peerName: 'metadata server', retryIdempotent: true, ...this.asServer() });
    this.replicator = new Replicator({
      readQuorum: options.readQuorum,
      writeQuorum: options.writeQuorum,
      random: Math.random,
      liveTargets: () => this.targets(liveServers(this.membership)),
      writableTargets: () => this.targets(writableServers(this.membership)),
      awaitWriteTargets: (count, deadlineMs) => this.awaitLive(count, deadlineMs),
      onReadVote: (key, expected, result) => {
        if (result.bad.length === 0) return;
        this.redundancy.counters.corruptFound += result.bad.length;
        this.log.warn({ key, version: expected.version, bad: result.bad }, 'bad replicas found on read');
      },
      onReadRepair: (key, version, serverId, verdict, ok) => {
        if (ok) {
          this.redundancy.counters.corruptRepaired++;
          this.redundancy.recordRepaired(serverId, key, version);
        }
        this.log.info({ key, version, server: serverId, verdict, ok }, 'read repair');
      },
      onWriteMiss: (key, version, serverId, reason) => {
        this.counters.writeMisses++;
        this.redundancy.recordMiss(serverId, key, version);
        this.log.warn({ key, version, server: serverId, reason }, 'write missed a replica');
      },
      onPutSettled: (serverId, code) => this.space.putSettled(serverId, code),
    });
    this.redundancy = new Redundancy({
      meta: this.meta,
      replicator: this.replicator,
      clientOf: (id) => this.runtimeOf(id).client,
      writableIds: () => writableServers(this.membership).map((s) => s.id),
      liveIds: () => liveServers(this.membership).map((s) => s.id),
      configuredServers: options.dataPorts.length,
      onHealed: (id) => this.apply({ type: 'healed', id }),
      healRateBytesPerSecond: options.healRateBytesPerSecond,
      scrubRateBytesPerSecond: options.scrubRateBytesPerSecond,
      scrubIntervalMs: options.scrubIntervalMs,
      orphanMinAgeMs: limits.orphanMinAgeMs,
      logger: this.log,
    });
    const versions = new VersionAllocator(async (count) => (await this.meta.call(metaMethods.reserveVersions, { count })).first);
    this.fileIo = new FileIo({
      meta: this.meta,
      replicator: this.replicator,
      versions,
      blockSizeBytes: limits.blockSizeBytes,
      cacheBytes: limits.mediatorBlockCacheBytes,
      now: nowTimespec,
      onOrphans: (orphans) => this.deleteOrphans(orphans),
    });
    this.rpc = new RpcServer({
      name: 'mediator',
      security: options.clusterSecret && securityFrom(options.clusterSecret, path.join(options.dataDir, CLUSTER_SECRET_FILE), mediatorAccess),
      onError: (op, code, message) => this.log.debug({ op, code }, message),
    });
    this.registerHandlers();
  }

  /** Starts the metadata server and the data servers, then serves clients. */
  async start(): Promise<Address> {
    await this.writeOwnerCredentials();
    await this.metaProcess.start();
    await Promise.all(
      this.membership.servers.map(async (server) => {
        const child = await this.spawnData(server.port, false);
        this.runtimeOf(server.id).child = child;
        this.watchExit(server.id, child);
      }),
    );
    await this.heartbeatAll();
    this.redundancy.start();
    this.heartbeatTimer = setInterval(() => void this.heartbeatAll(), this.options.heartbeatIntervalMs ?? limits.heartbeatIntervalMs);
    this.boundAddress = await this.rpc.listen({ host: this.options.host, port: this.options.port });
    // Mounts that held files before this start get their grace period from when they can reach us.
    await this.adoptHoldSessions();
    this.sessionTimer = setInterval(() => this.expireSessions(), Math.max(20, Math.min(1_000, this.sessionGraceMs / 4)));
    this.log.info(
      { address: formatAddress(this.boundAddress), readQuorum: this.options.readQuorum, writeQuorum: this.options.writeQuorum },
      'mediator serving',
    );
    return this.boundAddress;
  }

  /** Stops serving and stops every child, waiting for them to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sessionTimer);
    this.redundancy.stop();
    await this.rpc.close();
    await removeClusterCredentials({ host: this.options.host, port: this.options.port }, process.pid);
    this.meta.close();
    const children = [...this.runtime.values()].map((r) => r.child).filter((c): c is ChildHandle => c !== undefined && c.alive);
    for (const runtime of this.runtime.values()) runtime.client.close();
    await Promise.all([this.metaProcess.stop(), ...children.map((c) => stopChild(c))]);
  }

  // ---- credentials ----

  /** How this mediator authenticates to its own servers. */
  private asServer(): { credentials: Credential } | { plaintext: true } {
    const secret = this.options.clusterSecret;
    return secret ? { credentials: credentialFor(secret, MEDIATOR_IDENTITY) } : { plaintext: true };
  }

  /** Leaves admin credentials for the user who started the cluster in the standard place, for
   * every address of the cluster: the servers in use, and the spare ports still unused apart
   * (several clusters on a host may share a spare range; one in use wins a lookup). Rewritten
   * when a replacement starts on a spare. */
  private writeOwnerCredentials(): Promise<void> {
    // One write at a time, so a later membership is never overwritten by an earlier one.
    this.credentialsWritten = this.credentialsWritten.catch(() => undefined).then(() => this.writeOwnerCredentialsNow());
    return this.credentialsWritten;
  }

  private async writeOwnerCredentialsNow(): Promise<void> {
    const o = this.options;
    const inUse = [o.port, o.metaPort, ...this.membership.servers.map((s) => s.port)];
    const owner = o.clusterSecret ? credentialFor(o.clusterSecret, OWNER_IDENTITY) : { identity: OWNER_IDENTITY, key: Buffer.alloc(32) };
    const addressOf = (port: number): string => formatAddress({ host: o.host, port });
    await writeClusterCredentials({ host: o.host, port: o.port }, {
      ...owner,
      addresses: inUse.map(addressOf),
      spareAddresses: this.membership.sparePorts.map(addressOf),
      plaintext: o.clusterSecret === undefined,
      pid: process.pid,
      dataDir: o.dataDir,
    });
  }

  // ---- children ----

  private spawnData(port: number, fresh: boolean): Promise<ChildHandle> {
    const o = this.options;
    const insecureLoopback = o.clusterSecret === undefined;
    return spawnDataServer({ host: o.host, port, dataDir: o.dataDir, faultInjection: o.faultInjection, insecureLoopback, fresh, log: this.log });
  }

  private watchExit(id: string, child: ChildHandle): void {
    void child.exited.then((how) => {
      if (!this.stopping) this.apply({ type: 'processExited', id, reason: how });
    });
  }

  // ---- membership ----

  private apply(event: MembershipEvent): void {
    const { state, actions } = step(this.membership, event);
    this.membership = state;
    for (const action of actions) this.carryOut(action);
  }

  private carryOut(action: MembershipAction): void {
    switch (action.type) {
      case 'serverDown':
        this.log.warn({ server: action.id, reason: action.reason }, 'data server down');
        this.forgetFigures(action.id);
        return;
      case 'serverLive':
        this.log.info({ server: action.id }, 'data server live');
        return;
      case 'startHeal':
        this.log.info({ server: action.id }, 'healing data server');
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
      case 'sparesExhausted':
        this.log.error(
          { replaces: action.replaces, live: liveServers(this.membership).length },
          `no spare port left to replace ${action.replaces}; serving with the remaining data servers`,
        );
        return;
      default: {
        const never: never = action;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }

  private async replace(replaces: string, port: number): Promise<void> {
    const id = `${this.options.host}:${port}`;
    try {
      const child = await this.spawnData(port, true);
      if (this.stopping) return child.kill('SIGKILL');
      await this.writeOwnerCredentials().catch((err: unknown) => this.log.error({ err: messageOf(err) }, 'cannot rewrite the owner credentials'));
      this.runtimeOf(id).child = child;
      this.watchExit(id, child);
      this.counters.replacements++;
      this.log.info({ replaces, server: id, pid: child.pid }, 'replacement data server started');
      await this.heartbeat(id);
    } catch (err) {
      this.log.error({ replaces, port, err: messageOf(err) }, 'replacement data server failed to start');
      if (!this.stopping) this.apply({ type: 'spawnFailed', id, reason: messageOf(err) });
    }
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
    try {
      const info = await runtime.client.call(dataMethods.heartbeat, {}, { timeoutMs: limits.heartbeatIntervalMs * 2 });
      runtime.blocks = info.blocks;
      runtime.bytes = info.bytes;
      this.space.reported(id, { capacityBytes: info.totalBytes, freeBytes: info.freeBytes });
      if (!this.stopping) this.apply({ type: 'heartbeatOk', id });
    } catch (err) {
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

  private runtimeOf(id: string): ServerRuntime {
    let runtime = this.runtime.get(id);
    if (!runtime) {
      const record = this.membership.servers.find((s) => s.id === id);
      const address = record ? { host: record.host, port: record.port } : parseId(id);
      runtime = { client: new RpcClient(address, { peerName: `data server ${id}`, ...this.asServer() }), heartbeatInFlight: false };
      this.runtime.set(id, runtime);
    }
    return runtime;
  }

  /** Waits while fewer than `count` data servers are live and a replacement is starting. */
  private async awaitLive(count: number, deadlineMs: number): Promise<boolean> {
    for (;;) {
      if (writableServers(this.membership).length >= count) return true;
      const replacing = this.membership.servers.some((s) => s.state === 'starting');
      if (!replacing || this.stopping || Date.now() + LIVE_POLL_MS >= deadlineMs) return false;
      await delay(LIVE_POLL_MS);
    }
  }

  private targets(servers: ServerRecord[]): ReplicaTarget[] {
    return servers.map((s) => ({ id: s.id, client: this.runtimeOf(s.id).client }));
  }

  /** Deletes unreferenced block versions after a grace period, so a read that fetched the old
   * block map just before a commit can still finish. */
  private deleteOrphans(orphans: OrphanBlock[]): void {
    setTimeout(() => {
      const byKey = new Map<string, number[]>();
      for (const o of orphans) {
        const key = blockKey(o.ino, o.index);
        byKey.set(key, [...(byKey.get(key) ?? []), o.version]);
      }
      for (const [key, versions] of byKey) {
        void this.replicator.deleteVersions(key, versions, Date.now() + limits.defaultCallTimeoutMs);
      }
    }, ORPHAN_GRACE_MS).unref();
  }

  // ---- sessions and holds ----

  /** A call on `connection` named `session`: the session is attached to it. Returns the release
   * of that session's holds if one is in flight (it was gone): the call must wait for it, or its
   * hold could land before the release and be dropped by it. Undefined otherwise, so the caller
   * can forward at once, in the order calls arrived. */
  private bindSession(session: string, connection: RpcConnection): Promise<void> | undefined {
    if (this.sessions.attach(session, connection)) {
      if (connection.socket.destroyed) this.sessions.connectionClosed(connection, Date.now());
      else connection.socket.once('close', () => this.sessions.connectionClosed(connection, Date.now()));
    }
    return this.expiring.get(session);
  }

  /** Sessions holding inodes in the metadata store that this mediator does not know start their
   * grace period: at start, and after a metadata-server restart. */
  private async adoptHoldSessions(): Promise<void> {
    try {
      const { sessions } = await this.meta.call(metaMethods.holdSessions, {}, { timeoutMs: limits.defaultCallTimeoutMs });
      this.sessions.adopt(sessions, Date.now());
    } catch (err) {
      this.log.warn({ err: messageOf(err) }, 'cannot list the sessions holding open files; their holds stay until the next restart');
    }
  }

  /** Releases the holds of sessions gone past their grace; a failed release is tried again at
   * the next tick. */
  private expireSessions(): void {
    for (const session of this.sessions.expired(Date.now())) {
      if (this.expiring.has(session) || this.stopping) continue;
      const release = this.meta
        .call(metaMethods.setHolds, { session, inos: [] })
        .then(
          ({ orphans }) => {
            this.sessions.forget(session);
            if (orphans.length > 0) this.deleteOrphans(orphans);
            this.log.info({ session, freedBlocks: orphans.length }, 'session gone: its holds on open files released');
          },
          (err: unknown) => this.log.warn({ session, err: messageOf(err) }, 'cannot release the holds of a gone session yet'),
        )
        .finally(() => this.expiring.delete(session));
      this.expiring.set(session, release);
    }
  }

  private async openFile(a: { ino: number; session: string }, ctx: RequestContext): Promise<InodeAttr> {
    const wait = this.bindSession(a.session, ctx.connection);
    if (wait) await wait;
    return this.meta.call(metaMethods.hold, a, { timeoutMs: ctx.deadlineMs - Date.now() });
  }

  private async closeFile(a: { ino: number; session: string }, ctx: RequestContext): Promise<Record<string, never>> {
    const wait = this.bindSession(a.session, ctx.connection);
    if (wait) await wait;
    const { orphans } = await this.meta.call(metaMethods.release, a, { timeoutMs: ctx.deadlineMs - Date.now() });
    if (orphans.length > 0) this.deleteOrphans(orphans);
    return {};
  }

  private async attachSession(a: { session: string; inos: number[] }, ctx: RequestContext): Promise<{ missing: number[] }> {
    const wait = this.bindSession(a.session, ctx.connection);
    if (wait) await wait;
    const { orphans, missing } = await this.meta.call(metaMethods.setHolds, a, { timeoutMs: ctx.deadlineMs - Date.now() });
    if (orphans.length > 0) this.deleteOrphans(orphans);
    if (missing.length > 0) this.log.warn({ session: a.session, missing }, 'a mount came back holding files that are gone');
    return { missing };
  }

  // ---- serving ----

  private registerHandlers(): void {
    for (const m of Object.values(namespaceMethods)) {
      if (m !== namespaceMethods.statfs) this.forward(m as Method<unknown, unknown>);
    }
    const io = this.fileIo;
    this.rpc
      .register(mediatorMethods.read, async (a, ctx) => {
        this.counters.reads++;
        const { data, atimeUpdated } = await io.read(a.ino, a.offset, Math.min(a.size, limits.maxPayloadBytes), ctx.deadlineMs);
        if (atimeUpdated) this.broadcastChange('setattr', a, undefined, ctx.connection);
        return new PayloadReply({ atimeUpdated }, data);
      })
      .register(mediatorMethods.write, async (a, ctx) => {
        this.counters.writes++;
        const attr = await io.write(a.ino, a.offset, ctx.payload, ctx.deadlineMs, a.time);
        this.broadcastChange('write', a, attr, ctx.connection);
        return attr;
      })
      .register(mediatorMethods.writev, async (a, ctx) => {
        this.counters.writes++;
        const attr = await io.writeExtents(a.ino, splitPayload(a.extents, ctx.payload), ctx.deadlineMs, a.time);
        this.broadcastChange('write', a, attr, ctx.connection);
        return attr;
      })
      .register(mediatorMethods.setattr, async (a, ctx) => {
        const attr = await io.setattr(a.ino, a.attr, ctx.deadlineMs);
        this.broadcastChange('setattr', a, attr, ctx.connection);
        return attr;
      })
      .register(mediatorMethods.blockMap, (a, ctx) => this.blockMapPage(a.ino, a.fromIndex ?? 0, limits.maxBlocksPerCall, ctx.deadlineMs))
      .register(mediatorMethods.statfs, (_a, ctx) => this.statfs(ctx.deadlineMs))
      .register(mediatorMethods.status, () => this.status())
      .register(mediatorMethods.heal, async (a) => {
        const pass = this.redundancy.healAll();
        return a.wait ? pass : { complete: false, reason: 'started' };
      })
      .register(mediatorMethods.scrub, async (a) => {
        const pass = this.redundancy.scrub();
        return a.wait ? pass : { complete: false, reason: 'started' };
      })
      .register(mediatorMethods.explain, (a, ctx) => this.explain(a.ino, a.fromIndex ?? 0, ctx.deadlineMs))
      .register(mediatorMethods.ping, () => ({ pid: process.pid }))
      .register(mediatorMethods.open, (a, ctx) => this.openFile(a, ctx))
      .register(mediatorMethods.close, (a, ctx) => this.closeFile(a, ctx))
      .register(mediatorMethods.attachSession, (a, ctx) => this.attachSession(a, ctx));
  }

  /** Serves a namespace method by forwarding it to the metadata server; block versions it
   * frees are deleted from the data servers. */
  private forward(m: Method<unknown, unknown>): void {
    this.rpc.register(m, async (args, ctx) => {
      const session = (args as { session?: unknown }).session; // create's hold for an O_CREAT open
      const wait = typeof session === 'string' ? this.bindSession(session, ctx.connection) : undefined;
      if (wait) await wait;
      const result = await this.meta.call(m, args, { timeoutMs: ctx.deadlineMs - Date.now() });
      const orphans = orphansIn(result);
      if (orphans.length > 0) this.deleteOrphans(orphans);
      this.broadcastChange(m.name, args, result, ctx.connection);
      return result;
    });
  }

  /** Tells every other client which of its cached attributes and entries the call made stale.
   * Sent before the caller's reply, so a mount that opens the file after the caller's close
   * has already been told (close-to-open). */
  private broadcastChange(method: string, args: unknown, result: unknown, origin: RpcConnection): void {
    const change = invalidationsFor(method, args as Record<string, unknown>, result);
    if (!change) return;
    for (const connection of this.rpc.openConnections) {
      if (connection !== origin) connection.sendEvent(INVALIDATE_EVENT, namesToWire(change));
    }
  }

  /** One page of a file's block map from `fromIndex`: at most `maxBlocks` blocks (holes cost
   * nothing) and the index the next page starts at, absent at the end. */
  private async blockMapPage(ino: number, fromIndex: number, maxBlocks: number, deadlineMs: number): Promise<{ attr: InodeAttr; blocks: BlockRef[]; nextIndex?: number }> {
    const end = Number.MAX_SAFE_INTEGER;
    const r = await this.meta.call(metaMethods.getBlocks, { ino, fromIndex, toIndex: end }, { timeoutMs: deadlineMs - Date.now() });
    // A full answer from the metadata server, or more than this page takes, may have more after it.
    const more = r.blocks.length > maxBlocks || r.blocks.length === limits.maxBlocksPerCall;
    const blocks = r.blocks.slice(0, maxBlocks);
    const nextIndex = more ? blocks[blocks.length - 1]!.index + 1 : undefined;
    return nextIndex !== undefined && nextIndex < blockCount(r.attr.size, limits.blockSizeBytes) ? { attr: r.attr, blocks, nextIndex } : { attr: r.attr, blocks };
  }

  private async status(): Promise<StatusReport> {
    const counts = await this.meta.call(metaMethods.counts, {}, { timeoutMs: 2_000 }).catch(() => undefined);
    const redundancy = this.redundancy.summary(counts?.blocks ?? null);
    const servers: ServerStatus[] = [
      {
        id: `${this.options.host}:${this.options.metaPort}`,
        host: this.options.host,
        port: this.options.metaPort,
        role: 'meta',
        state: this.metaProcess.alive ? 'live' : 'down',
        local: true,
        pid: this.metaProcess.pid,
      },
      ...this.membership.servers.map((s) => {
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
      }),
    ];
    return {
      mediator: {
        address: this.boundAddress ? formatAddress(this.boundAddress) : '',
        pid: process.pid,
        readQuorum: this.options.readQuorum,
        writeQuorum: this.options.writeQuorum,
        uptimeMs: Date.now() - this.startedAtMs,
      },
      servers,
      sparePortsLeft: this.membership.sparePorts,
      counters: {
        inodes: counts?.inodes ?? null,
        blocks: counts?.blocks ?? null,
        bytes: counts?.bytes ?? null,
        ...this.counters,
        metaRestarts: this.metaProcess.restarts,
        ...this.redundancy.counters,
        underReplicated: redundancy.underReplicated,
      },
      fullyReplicated: redundancy.fullyReplicated,
      scrub: this.scrubStatus(),
      space: this.usableSpace(),
    };
  }

  /** statfs: inode counts from the metadata server, space from the data servers (the metadata
   * server's disk says nothing about how much file data fits). */
  private async statfs(deadlineMs: number): Promise<StatFs> {
    const meta = await this.meta.call(metaMethods.statfs, {}, { timeoutMs: deadlineMs - Date.now() });
    return statFsWithSpace(meta, this.usableSpace());
  }

  private usableSpace(): { capacityBytes: number; freeBytes: number } {
    return this.space.usable(writableServers(this.membership).map((s) => s.id), this.options.writeQuorum);
  }

  private scrubStatus(): StatusReport['scrub'] {
    const state = this.redundancy.scrubState();
    if (!state) return undefined;
    const { running, complete, reason, ...progress } = state;
    return { running, progress, ...(complete === undefined ? {} : { complete }), ...(reason === undefined ? {} : { reason }) };
  }

  /** Each block of a file and which servers hold a good copy, verified where it is stored. */
  private async explain(ino: number, fromIndex: number, deadlineMs: number) {
    const { attr, blocks, nextIndex } = await this.blockMapPage(ino, fromIndex, limits.maxExplainBlocksPerPage, deadlineMs);
    const servers = writableServers(this.membership);
    // One verifyMany per server for the page: each server reads and checks its copies in place.
    const asked = blocks.map((b) => ({ key: blockKey(ino, b.index), version: b.version }));
    const perServer = await Promise.all(
      servers.map(async (s) => {
        const r = await this.runtimeOf(s.id)
          .client.call(dataMethods.verifyMany, { blocks: asked }, { timeoutMs: Math.max(1, deadlineMs - Date.now()) })
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
}

/** The payload of a writev cut into its extents; the lengths must add up to the payload's. */
function splitPayload(extents: Array<{ offset: number; length: number }>, payload: Buffer): Extent[] {
  let position = 0;
  const out = extents.map(({ offset, length }) => {
    const data = payload.subarray(position, position + length);
    position += length;
    return { offset, data };
  });
  if (position !== payload.length) throw qfsError('INVALID', `writev extents hold ${position} bytes, the payload ${payload.length}`);
  return out;
}

function orphansIn(result: unknown): OrphanBlock[] {
  if (typeof result !== 'object' || result === null) return [];
  const r = result as { orphans?: OrphanBlock[]; replaced?: { orphans?: OrphanBlock[] } };
  return r.orphans ?? r.replaced?.orphans ?? [];
}

function parseId(id: string): Address {
  const colon = id.lastIndexOf(':');
  return { host: id.slice(0, colon), port: Number(id.slice(colon + 1)) };
}
