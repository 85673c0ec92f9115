// The mediator process shell: the one entry point for clients. It spawns and supervises the
// metadata server and the data servers and serves namespace, data and status calls over RPC.
// The cluster logic (membership, replacement, quorum reads and writes, repair) is in
// MediatorCore, to which this shell hands the real world: the system clock, Math.random, RPC
// clients and child processes. Sessions of mounts and the owner's credentials live here.

import { systemClock, every, type Timer } from '../common/clock.js';
import { formatAddress, type Address } from '../common/address.js';
import { messageOf, qfsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { limits } from '../common/limits.js';
import type { InodeAttr } from '../common/types.js';
import { mediatorAccess, mediatorMethods, type EventPageReply, type ServerStatus, type StatusReport } from '../protocol/mediator-messages.js';
import { EventLog, type ClusterEventKind } from '../core/event-log.js';
import { QUORUMFS_VERSION } from '../common/version.js';
import { CREATED_EVENT, ORPHANS_EVENT, createdEvent, metaMethods, namespaceMethods, orphansEvent } from '../protocol/meta-messages.js';
import type { Method } from '../protocol/method.js';
import type { Extent } from '../replication/file-io.js';
import { RpcClient } from '../transport/rpc-client.js';
import { PayloadReply, RpcServer, type RpcConnection, type RequestContext } from '../transport/rpc-server.js';
import { invalidationsFor } from '../core/invalidations.js';
import { INVALIDATE_EVENT } from '../protocol/mediator-messages.js';
import { namesToWire } from '../protocol/wire-names.js';
import type { ChildHandle } from './supervisor.js';
import type { HandlerRegistry } from '../transport/handler-registry.js';
import { MetaServerProcess, spawnDataServer, stopChild } from './child-servers.js';
import { MediatorCore, type MediatorCoreOptions } from './mediator-core.js';
import { EtcdCluster, type KeptMembership } from './etcd-cluster.js';
import { initialMembership, takenOverMembership } from '../core/membership.js';
import type { Fence } from '../stores/meta-store.js';
import { SessionTable } from '../core/session-table.js';
import path from 'node:path';
import { CLUSTER_SECRET_FILE } from '../common/cluster-secret.js';
import { removeClusterCredentials, writeClusterCredentials } from '../common/credential-store.js';
import type { Credential } from '../common/credentials.js';
import { MEDIATOR_IDENTITY, OWNER_IDENTITY, credentialFor, securityFrom } from './server-security.js';
import { LoadHistory, type LoadCounters } from '../core/load-history.js';
import { REVOKED_IDS_FILE, RevokedIds } from '../common/cluster-secret.js';
import { mayCall } from '../core/access-policy.js';
import { StatusPage, newSessionId } from './status-page.js';
import { WebSessions } from './web-sessions.js';
import type { Registry } from 'prom-client';
import { createProcessRegistry } from '../metrics/process-registry.js';
import { MediatorMetrics } from '../metrics/mediator-metrics.js';
import { MetricsEndpoint } from '../metrics/metrics-endpoint.js';
import { rpcMetrics } from '../metrics/rpc-metrics.js';
import { scrapeTargets, type MetricsProcess, type TargetGroup } from '../metrics/scrape-targets.js';
import type { QuorumOutcome } from '../replication/replicator.js';

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
  /** Metadata in etcd, shared with any other mediators given the same etcd and prefix: one of
   * them leads (and serves); the others answer NOT_LEADER until they take over. */
  etcd?: { endpoints: string[]; prefix: string; leaderTtlS: number };
  /** The web status page (services/status-page.ts); absent: none. Port 0: an ephemeral one. */
  http?: { host: string; port: number };
  /** Serve Prometheus metrics there (--metrics-port, --metrics-host), and run every child with
   * its own metrics on an ephemeral port of the same host, listed at /targets. */
  metricsAddress?: Address;
}

export class Mediator {
  private readonly meta: RpcClient;
  private readonly metaProcess: MetaServerProcess;
  private readonly rpc: RpcServer;
  /** The cluster logic: always, on one host; while this mediator leads, on etcd. */
  private leaderCore: MediatorCore<ChildHandle> | undefined;
  /** Leadership among mediators sharing one etcd (undefined on one host). */
  private readonly cluster: EtcdCluster | undefined;
  /** Mount sessions and their connections; a session gone past its grace loses its holds. */
  private readonly sessions: SessionTable<RpcConnection>;
  /** Releases of gone sessions' holds in flight; a call naming such a session waits for it. */
  private readonly expiring = new Map<string, Promise<void>>();
  private sessionTimer: Timer | undefined;
  private adoptTimer: Timer | undefined;
  private readonly sessionGraceMs: number;
  private stopping = false;
  private readonly startedAtMs = systemClock.nowMs();
  private boundAddress: Address | undefined;
  private credentialsWritten: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  /** Recent cluster events, kept across changes of leader; `events` calls read them. */
  private readonly eventLog = new EventLog(limits.maxEventsKept);
  /** `events` calls waiting for the next event: each is woken once, by it or by its timeout. */
  private readonly eventWaiters = new Set<() => void>();
  /** The cluster's throughput and latency over the last minutes, from the data servers' heartbeats. */
  private readonly loadHistory = new LoadHistory(limits.loadPointIntervalMs, limits.loadPointsKept, limits.loadServersTracked);
  private readonly statusPage: StatusPage | undefined;
  /** With --metrics-port: this process's registry, its figures, and its endpoint once serving. */
  private readonly metrics: { registry: Registry; figures: MediatorMetrics } | undefined;
  private metricsEndpoint: MetricsEndpoint | undefined;
  /** While this mediator leads on etcd: the joined data servers that serve metrics (from their
   * joins), listed at /targets by the leader alone so that no server is listed twice. */
  private joinedMetrics: MetricsProcess[] = [];
  /** The data servers this mediator started, by port, while they run (for /targets). */
  private readonly dataChildren = new Map<number, ChildHandle>();

  constructor(private readonly options: MediatorOptions) {
    this.log = options.logger;
    this.sessionGraceMs = options.sessionGraceMs ?? limits.sessionGraceMs;
    this.sessions = new SessionTable(this.sessionGraceMs);
    if (options.metricsAddress) {
      const registry = createProcessRegistry('mediator');
      this.metrics = { registry, figures: new MediatorMetrics(registry) };
    }
    const etcdArgs = options.etcd ? ['--etcd', options.etcd.endpoints.join(','), '--etcd-prefix', options.etcd.prefix] : [];
    this.metaProcess = new MetaServerProcess(options.host, options.metaPort, options.dataDir, this.log, options.clusterSecret === undefined, () => this.metaRestarted(), [...etcdArgs, ...this.childMetricsArgs()]);
    this.meta = new RpcClient(
      { host: options.host, port: options.metaPort },
      {
        peerName: 'metadata server',
        retryIdempotent: true,
        ...this.asServer(),
        onEvent: (event, data) => this.metaEvent(event, data),
        onReconnect: () => void this.watchOrphans(),
      },
    );
    if (options.etcd) {
      this.cluster = new EtcdCluster({
        ...options.etcd,
        id: formatAddress({ host: options.host, port: options.port }),
        logger: this.log,
        onElected: (fence, kept) => this.lead(fence, kept),
        onDeposed: () => this.stepDown(),
      });
    } else {
      this.leaderCore = this.makeCore();
    }
    this.rpc = new RpcServer({
      name: 'mediator',
      security: options.clusterSecret && securityFrom(options.clusterSecret, path.join(options.dataDir, CLUSTER_SECRET_FILE), mediatorAccess),
      onError: (op, code, message) => this.log.debug({ op, code }, message),
      ...(this.metrics ? { observer: rpcMetrics(this.metrics.registry) } : {}),
    });
    this.registerHandlers();
    if (options.http) this.statusPage = this.makeStatusPage(options.http);
  }

  private makeStatusPage(http: { host: string; port: number }): StatusPage {
    const secret = this.options.clusterSecret;
    const revoked = new RevokedIds(path.join(this.options.dataDir, REVOKED_IDS_FILE));
    const sessions = secret && new WebSessions({
      clusterSecret: secret,
      isRevoked: (identity) => revoked.isRevoked(identity),
      mayView: (role) => mayCall(mediatorAccess, mediatorMethods.status.name, role),
      newSessionId,
    });
    return new StatusPage({
      ...http,
      logger: this.log,
      sessions,
      nowMs: () => systemClock.nowMs(),
      source: {
        status: () => this.status(),
        recentEvents: (max) => this.eventLog.after(Math.max(0, this.eventLog.newestSeq - max), max).events,
        loadPoints: () => this.loadHistory.points(),
      },
    });
  }

  /** The history feeds only the status page: without one, nothing is kept. */
  private loadReported(serverId: string, load: LoadCounters): void {
    if (this.statusPage) this.statusPage.publishLoad(this.loadHistory.report(serverId, systemClock.nowMs(), load));
  }

  private makeCore(extra: Pick<MediatorCoreOptions, 'membership' | 'onMembershipChanged' | 'waitForServers'> = {}): MediatorCore<ChildHandle> {
    const o = this.options;
    return new MediatorCore(
      {
        readQuorum: o.readQuorum,
        writeQuorum: o.writeQuorum,
        host: o.host,
        dataPorts: extra.membership ? [] : o.dataPorts,
        sparePorts: o.sparePorts,
        heartbeatIntervalMs: o.heartbeatIntervalMs ?? limits.heartbeatIntervalMs,
        healRateBytesPerSecond: o.healRateBytesPerSecond,
        scrubRateBytesPerSecond: o.scrubRateBytesPerSecond,
        scrubIntervalMs: o.scrubIntervalMs,
        onReplacementStarted: () => this.writeOwnerCredentials(),
        onClusterEvent: (kind, message, server) => this.recordEvent(kind, message, server),
        onLoadReported: (id, load) => this.loadReported(id, load),
        ...(this.metrics ? { onQuorum: (op: 'read' | 'write', outcome: QuorumOutcome) => this.metrics?.figures.quorumOutcome(op, outcome) } : {}),
        ...extra,
      },
      {
        clock: systemClock,
        random: Math.random,
        logger: this.log,
        meta: this.meta,
        connectData: (address) => new RpcClient(address, { peerName: `data server ${formatAddress(address)}`, ...this.asServer() }),
        spawnData: (port, fresh) => this.spawnData(port, fresh),
        stopData: (child) => stopChild(child),
      },
    );
  }

  /** The cluster logic, if this mediator leads; NOT_LEADER (nothing done) if not. */
  private get core(): MediatorCore<ChildHandle> {
    if (this.leaderCore) return this.leaderCore;
    const leader = this.cluster?.leaderId;
    throw qfsError('NOT_LEADER', leader ? `this mediator does not lead; the leader is ${leader}` : 'this mediator does not lead, and no mediator leads yet');
  }

  /** Starts the metadata server and the data servers, then serves clients. */
  async start(): Promise<Address> {
    await this.writeOwnerCredentials();
    await this.metaProcess.start();
    await this.watchOrphans();
    if (this.cluster) await this.startOnEtcd();
    else await this.core.start();
    this.boundAddress = await this.rpc.listen({ host: this.options.host, port: this.options.port });
    if (this.statusPage) {
      const url = await this.statusPage.start();
      this.log.info({ url }, `status page at ${url}`);
    }
    if (this.metrics && this.options.metricsAddress) {
      this.metricsEndpoint = await MetricsEndpoint.start({
        address: this.options.metricsAddress,
        registry: this.metrics.registry,
        logger: this.log,
        refresh: () => this.refreshMetrics(),
        targets: () => this.scrapeTargets(),
      });
    }
    // On etcd, serving waits for the election: until this mediator leads, it answers NOT_LEADER.
    await this.cluster?.start();
    // Mounts that held files before this start get their grace period from when they can reach us.
    await this.adoptHoldSessions();
    this.sessionTimer = every(systemClock, Math.max(20, Math.min(1_000, this.sessionGraceMs / 4)), () => this.expireSessions());
    // A mount creates files (and holds them) at the metadata server directly: a session this
    // mediator has forgotten can gain holds there; adopting it again lets it expire.
    this.adoptTimer = every(systemClock, Math.max(1_000, this.sessionGraceMs), () => void this.adoptHoldSessions());
    this.log.info(
      { address: formatAddress(this.boundAddress), readQuorum: this.options.readQuorum, writeQuorum: this.options.writeQuorum },
      'mediator serving',
    );
    return this.boundAddress;
  }

  /** Stops serving and stops every child, waiting for them to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.eventWaiters]) wake(); // long polls answer now, not at their timeout
    this.sessionTimer?.cancel();
    this.adoptTimer?.cancel();
    await this.metricsEndpoint?.close();
    await this.rpc.close();
    await this.statusPage?.stop();
    await removeClusterCredentials({ host: this.options.host, port: this.options.port }, process.pid);
    await this.cluster?.stop();
    this.meta.close();
    await Promise.all([this.metaProcess.stop(), this.leaderCore?.stop(), ...this.localData.map((c) => stopChild(c))]);
  }

  // ---- several mediators on etcd ----

  /** Data servers given on this mediator's command line: its children, joined to the cluster
   * (whichever mediator leads watches them). */
  private readonly localData: ChildHandle[] = [];
  private joinsTimer: Timer | undefined;
  /** The fence of this mediator's leadership, while it leads. */
  private fence: Fence | undefined;

  private async startOnEtcd(): Promise<void> {
    const o = this.options;
    for (const port of o.dataPorts) {
      const child = await this.spawnData(port, false);
      this.localData.push(child);
      void child.exited.then((how) => {
        if (!this.stopping) this.log.error({ port, how }, 'a data server of this host exited; the leader replaces it');
      });
      await this.cluster!.join({ host: o.host, port, spare: false });
    }
  }

  /** Elected: the metadata server commits under this mediator's fence, the membership kept in
   * etcd is taken over (or begun), and the control plane runs. */
  private async lead(fence: Fence, kept: KeptMembership | undefined): Promise<void> {
    const o = this.options;
    this.fence = fence;
    this.recordEvent('leader-elected', `mediator ${this.cluster!.leaderId ?? formatAddress({ host: o.host, port: o.port })} elected leader`);
    await this.meta.call(metaMethods.fence, { key: fence.key, createRevision: fence.createRevision }, { timeoutMs: limits.defaultCallTimeoutMs });
    const misses = limits.heartbeatMissesBeforeDown;
    const membership = kept
      ? takenOverMembership(kept, o.sparePorts, misses, o.host)
      : initialMembership([], o.sparePorts, misses, { host: o.host, replaceRemote: true });
    const core = this.makeCore({ membership, waitForServers: true, onMembershipChanged: (k) => void this.cluster!.saveMembership(k) });
    try {
      await core.start();
      await this.cluster!.saveMembership(core.keptMembership);
      await this.readJoins(core);
    } catch (err) {
      await core.stop(); // the leadership is given up (leadership.ts): nothing of this term runs on
      throw err;
    }
    this.leaderCore = core;
    this.joinsTimer = every(systemClock, limits.joinsPollMs, () => void this.readJoins(core));
    // What the last leader knew was missing (its write misses, its heal in progress) went with
    // it: one heal pass finds every copy a server lacks.
    if (kept) void core.redundancy.healAll();
    await this.adoptHoldSessions();
    this.log.info({ servers: core.keptMembership.servers.length }, 'leading: serving clients and running the control plane');
  }

  /** Deposed (or stopping): nothing more is committed or decided here. */
  private async stepDown(): Promise<void> {
    this.joinsTimer?.cancel();
    this.joinsTimer = undefined;
    this.joinedMetrics = [];
    const core = this.leaderCore;
    this.leaderCore = undefined;
    if (this.fence) this.recordEvent('leader-deposed', `mediator ${formatAddress({ host: this.options.host, port: this.options.port })} no longer leads`);
    this.fence = undefined;
    await this.meta.call(metaMethods.fence, {}, { timeoutMs: limits.defaultCallTimeoutMs }).catch(() => undefined);
    await core?.stop();
  }

  private async readJoins(core: MediatorCore<ChildHandle>): Promise<void> {
    try {
      const joins = await this.cluster!.joins();
      for (const { host, port, spare } of joins) core.joined({ host, port, spare });
      this.joinedMetrics = joins.flatMap(({ host, port, metrics }) => (metrics ? [{ role: 'data' as const, server: formatAddress({ host, port }), metricsHost: metrics.host, metricsPort: metrics.port }] : []));
    } catch (err) {
      this.log.warn({ err: messageOf(err) }, 'cannot read the data servers that joined; trying again');
    }
  }

  /** A restarted metadata server has forgotten the fence and the sessions it held. */
  private metaRestarted(): void {
    void this.adoptHoldSessions();
    const fence = this.fence;
    if (!fence) return;
    this.meta.call(metaMethods.fence, { key: fence.key, createRevision: fence.createRevision }, { timeoutMs: limits.defaultCallTimeoutMs }).catch((err: unknown) => {
      this.log.error({ err: messageOf(err) }, 'cannot give the restarted metadata server the fence: it commits nothing until this mediator is elected again');
    });
  }

  // ---- the event log ----

  private recordEvent(kind: ClusterEventKind, message: string, server?: string): void {
    const text = message.length > limits.maxEventMessageChars ? `${message.slice(0, limits.maxEventMessageChars - 1)}…` : message;
    const recorded = this.eventLog.append({ timeMs: systemClock.nowMs(), kind, message: text, ...(server === undefined ? {} : { server }) });
    const waiters = [...this.eventWaiters];
    this.eventWaiters.clear();
    for (const wake of waiters) wake();
    this.statusPage?.publishEvent(recorded);
  }

  /** Served on any mediator, leading or not: each keeps its own log. A long poll waits short of
   * the call's deadline, so its empty answer arrives before the caller gives up. */
  private async events(a: { afterSeq?: number; waitMs?: number }, deadlineMs: number): Promise<EventPageReply> {
    const page = (): EventPageReply => this.eventLog.after(a.afterSeq, limits.maxEventsPerPage);
    const first = page();
    const waitMs = Math.min(a.waitMs ?? 0, limits.maxEventWaitMs, deadlineMs - systemClock.nowMs() - limits.eventWaitMarginMs);
    if (first.events.length > 0 || first.missed !== undefined || waitMs <= 0 || this.stopping) return first;
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        timer.cancel();
        this.eventWaiters.delete(wake);
        resolve();
      };
      const timer = systemClock.setTimer(waitMs, wake);
      this.eventWaiters.add(wake);
    });
    return page();
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
    const ports = this.leaderCore?.serverPorts ?? { inUse: o.dataPorts, spare: o.sparePorts };
    const inUse = [o.port, o.metaPort, ...ports.inUse];
    const owner = o.clusterSecret ? credentialFor(o.clusterSecret, OWNER_IDENTITY) : { identity: OWNER_IDENTITY, key: Buffer.alloc(32) };
    const addressOf = (port: number): string => formatAddress({ host: o.host, port });
    await writeClusterCredentials({ host: o.host, port: o.port }, {
      ...owner,
      addresses: inUse.map(addressOf),
      spareAddresses: ports.spare.map(addressOf),
      plaintext: o.clusterSecret === undefined,
      pid: process.pid,
      dataDir: o.dataDir,
    });
  }

  // ---- children ----

  private async spawnData(port: number, fresh: boolean): Promise<ChildHandle> {
    const o = this.options;
    const insecureLoopback = o.clusterSecret === undefined;
    const child = await spawnDataServer({ host: o.host, port, dataDir: o.dataDir, faultInjection: o.faultInjection, insecureLoopback, fresh, log: this.log, extraArgs: this.childMetricsArgs() });
    this.dataChildren.set(port, child);
    void child.exited.then(() => {
      if (this.dataChildren.get(port) === child) this.dataChildren.delete(port);
    });
    return child;
  }

  // ---- metrics ----

  /** A child serves its metrics on an ephemeral port of the mediator's metrics host. */
  private childMetricsArgs(): string[] {
    const at = this.options.metricsAddress;
    return at ? ['--metrics-port', '0', '--metrics-host', at.host] : [];
  }

  /** The figures of a scrape: the status report, as `quorumfs status` shows it; none while this
   * mediator does not lead (or status fails), so nothing stale or made up is shown. */
  private async refreshMetrics(): Promise<void> {
    const figures = this.metrics?.figures;
    if (!figures) return;
    figures.update(undefined, this.leaderCore !== undefined);
    if (!this.leaderCore) return;
    figures.update(await this.status(), true);
  }

  /** /targets: this mediator, its metadata server, every data server it runs now and, while it
   * leads, every joined data server that named a metrics address. */
  private scrapeTargets(): TargetGroup[] {
    const o = this.options;
    const at = o.metricsAddress;
    if (!at || !this.metricsEndpoint) return [];
    const processes: MetricsProcess[] = [{ role: 'mediator', server: formatAddress({ host: o.host, port: o.port }), metricsHost: at.host, metricsPort: this.metricsEndpoint.address.port }];
    const metaPort = this.metaProcess.metricsPort;
    if (metaPort !== undefined) processes.push({ role: 'meta', server: formatAddress({ host: o.host, port: o.metaPort }), metricsHost: at.host, metricsPort: metaPort });
    for (const [port, child] of [...this.dataChildren].sort(([a], [b]) => a - b)) {
      if (child.alive && child.metricsPort !== undefined) processes.push({ role: 'data', server: formatAddress({ host: o.host, port }), metricsHost: at.host, metricsPort: child.metricsPort });
    }
    const listed = new Set(processes.map((p) => p.server));
    processes.push(...this.joinedMetrics.filter((p) => !listed.has(p.server)));
    return scrapeTargets(processes, o.host, limits.maxScrapeTargets);
  }

  // ---- the metadata server's reports ----

  /** Asks the metadata server for the block versions every call there frees, and the files
   * mounts create (at start and on every new connection: a restarted metadata server has
   * forgotten). */
  private async watchOrphans(): Promise<void> {
    try {
      await this.meta.call(metaMethods.watchOrphans, {}, { timeoutMs: limits.defaultCallTimeoutMs });
    } catch (err) {
      this.log.warn({ err: messageOf(err) }, 'cannot watch for freed blocks yet; the scrubber collects what mounts free meanwhile');
    }
  }

  private metaEvent(event: string, data: unknown): void {
    try {
      if (event === ORPHANS_EVENT) {
        const { orphans } = orphansEvent(data, 'event');
        const core = this.leaderCore; // not leading: the scrubber collects them
        core?.deleteOrphans(orphans);
        for (const ino of new Set(orphans.map((o) => o.ino))) core?.fileIo.forget(ino); // removed or cut
      } else if (event === CREATED_EVENT) this.leaderCore?.fileIo.created(createdEvent(data, 'event').attr);
    } catch (err) {
      this.log.warn({ event, err: messageOf(err) }, 'a malformed report from the metadata server');
    }
  }

  // ---- sessions and holds ----

  /** A call on `connection` named `session`: the session is attached to it. Returns the release
   * of that session's holds if one is in flight (it was gone): the call must wait for it, or its
   * hold could land before the release and be dropped by it. Undefined otherwise, so the caller
   * can forward at once, in the order calls arrived. */
  private bindSession(session: string, connection: RpcConnection): Promise<void> | undefined {
    if (this.sessions.attach(session, connection)) {
      if (connection.socket.destroyed) this.sessions.connectionClosed(connection, systemClock.nowMs());
      else connection.socket.once('close', () => this.sessions.connectionClosed(connection, systemClock.nowMs()));
    }
    return this.expiring.get(session);
  }

  /** Sessions holding inodes in the metadata store that this mediator does not know start their
   * grace period: at start, and after a metadata-server restart. */
  private async adoptHoldSessions(): Promise<void> {
    try {
      const { sessions } = await this.meta.call(metaMethods.holdSessions, {}, { timeoutMs: limits.defaultCallTimeoutMs });
      this.sessions.adopt(sessions, systemClock.nowMs());
    } catch (err) {
      this.log.warn({ err: messageOf(err) }, 'cannot list the sessions holding open files; their holds stay until the next restart');
    }
  }

  /** Releases the holds of sessions gone past their grace; a failed release is tried again at
   * the next tick. */
  private expireSessions(): void {
    if (!this.leaderCore) return; // another mediator leads: its sessions are its own
    for (const session of this.sessions.expired(systemClock.nowMs())) {
      if (this.expiring.has(session) || this.stopping) continue;
      const release = this.meta
        .call(metaMethods.setHolds, { session, inos: [] })
        .then(
          () => {
            this.sessions.forget(session); // what it frees is reported as for any call (metaEvent)
            this.log.info({ session }, 'session gone: its holds on open files released');
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
    return this.meta.call(metaMethods.hold, a, { timeoutMs: ctx.deadlineMs - systemClock.nowMs() });
  }

  private async closeFile(a: { ino: number; session: string }, ctx: RequestContext): Promise<Record<string, never>> {
    const wait = this.bindSession(a.session, ctx.connection);
    if (wait) await wait;
    await this.meta.call(metaMethods.release, a, { timeoutMs: ctx.deadlineMs - systemClock.nowMs() });
    return {};
  }

  private async attachSession(a: { session: string; inos: number[] }, ctx: RequestContext): Promise<{ missing: number[] }> {
    const wait = this.bindSession(a.session, ctx.connection);
    if (wait) await wait;
    const { missing } = await this.meta.call(metaMethods.setHolds, a, { timeoutMs: ctx.deadlineMs - systemClock.nowMs() });
    if (missing.length > 0) this.log.warn({ session: a.session, missing }, 'a mount came back holding files that are gone');
    return { missing };
  }

  // ---- serving ----

  /** Where every method is bound: while another mediator leads, each is refused NOT_LEADER
   * before anything is done, but for those any mediator answers (ping, join, events). */
  private get served(): HandlerRegistry<RequestContext> {
    const rpc = this.rpc;
    const mediator = this;
    return {
      register(m, handler) {
        rpc.register(m, (args, ctx) => {
          if (!ANY_MEDIATOR_ANSWERS.has(m.name)) void mediator.core; // throws NOT_LEADER
          return handler(args, ctx);
        });
        return this;
      },
    };
  }

  private registerHandlers(): void {
    for (const m of Object.values(namespaceMethods)) {
      if (m !== namespaceMethods.statfs) this.forward(m as Method<unknown, unknown>);
    }
    this.served
      .register(mediatorMethods.read, async (a, ctx) => {
        this.core.counters.reads++;
        const { data, atimeUpdated } = await this.core.fileIo.read(a.ino, a.offset, Math.min(a.size, limits.maxPayloadBytes), ctx.deadlineMs);
        if (atimeUpdated) this.broadcastChange('setattr', a, undefined, ctx.connection);
        return new PayloadReply({ atimeUpdated }, data);
      })
      .register(mediatorMethods.write, async (a, ctx) => {
        this.core.counters.writes++;
        const attr = await this.core.fileIo.write(a.ino, a.offset, ctx.payload, ctx.deadlineMs, a.time);
        this.broadcastChange('write', a, attr, ctx.connection);
        return attr;
      })
      .register(mediatorMethods.writev, async (a, ctx) => {
        this.core.counters.writes++;
        const attr = await this.core.fileIo.writeExtents(a.ino, splitPayload(a.extents, ctx.payload), ctx.deadlineMs, a.time);
        this.broadcastChange('write', a, attr, ctx.connection);
        return attr;
      })
      .register(mediatorMethods.setattr, async (a, ctx) => {
        const attr = await this.core.fileIo.setattr(a.ino, a.attr, ctx.deadlineMs);
        this.broadcastChange('setattr', a, attr, ctx.connection);
        return attr;
      })
      .register(mediatorMethods.blockMap, (a, ctx) => this.core.blockMapPage(a.ino, a.fromIndex ?? 0, limits.maxBlocksPerCall, ctx.deadlineMs))
      .register(mediatorMethods.statfs, (_a, ctx) => this.core.statfs(ctx.deadlineMs))
      .register(mediatorMethods.status, () => this.status())
      .register(mediatorMethods.metaServer, () => ({ host: this.options.host, port: this.options.metaPort }))
      .register(mediatorMethods.replicaTargets, () => this.core.replicaTargets())
      .register(mediatorMethods.reportReplicas, (a) => {
        this.core.replicasReported(a.replicas);
        return {};
      })
      .register(mediatorMethods.heal, async (a) => {
        const pass = this.core.redundancy.healAll();
        return a.wait ? pass : { complete: false, reason: 'started' };
      })
      .register(mediatorMethods.scrub, async (a) => {
        const pass = this.core.redundancy.scrub();
        return a.wait ? pass : { complete: false, reason: 'started' };
      })
      .register(mediatorMethods.explain, (a, ctx) => this.core.explain(a.ino, a.fromIndex ?? 0, ctx.deadlineMs))
      .register(mediatorMethods.events, (a, ctx) => this.events(a, ctx.deadlineMs))
      .register(mediatorMethods.ping, () => ({ pid: process.pid }))
      .register(mediatorMethods.join, async (a) => {
        if (!this.cluster) throw qfsError('NOT_SUPPORTED', 'data servers join a cluster whose mediators keep it in etcd (--etcd); this one runs its own');
        await this.cluster.join(a);
        return {};
      })
      .register(mediatorMethods.open, (a, ctx) => this.openFile(a, ctx))
      .register(mediatorMethods.close, (a, ctx) => this.closeFile(a, ctx))
      .register(mediatorMethods.attachSession, (a, ctx) => this.attachSession(a, ctx));
  }

  /** Serves a namespace method by forwarding it to the metadata server, which tells the mounts
   * what changed and this mediator what it freed (metaEvent). */
  private forward(m: Method<unknown, unknown>): void {
    this.served.register(m, async (args, ctx) => {
      const session = (args as { session?: unknown }).session; // create's hold for an O_CREAT open
      const wait = typeof session === 'string' ? this.bindSession(session, ctx.connection) : undefined;
      if (wait) await wait;
      const core = this.core;
      const result = await this.meta.call(m, args, { timeoutMs: ctx.deadlineMs - systemClock.nowMs() });
      // What FileIo knows of written files: a new one is known empty.
      if (m === namespaceMethods.create) core.fileIo.created(result as InodeAttr);
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

  private async status(): Promise<StatusReport> {
    const core = this.core;
    const counts = await this.meta.call(metaMethods.counts, {}, { timeoutMs: 2_000 }).catch(() => undefined);
    const redundancy = core.redundancy.summary(counts?.blocks ?? null);
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
      ...core.dataServerStatus(),
    ];
    return {
      mediator: {
        address: this.boundAddress ? formatAddress(this.boundAddress) : '',
        pid: process.pid,
        readQuorum: this.options.readQuorum,
        writeQuorum: this.options.writeQuorum,
        uptimeMs: systemClock.nowMs() - this.startedAtMs,
        version: QUORUMFS_VERSION,
      },
      servers,
      sparePortsLeft: core.serverPorts.spare,
      counters: {
        inodes: counts?.inodes ?? null,
        blocks: counts?.blocks ?? null,
        bytes: counts?.bytes ?? null,
        ...core.counters,
        metaRestarts: this.metaProcess.restarts,
        ...core.redundancy.counters,
        ...core.fileIo.counters,
        underReplicated: redundancy.underReplicated,
      },
      fullyReplicated: redundancy.fullyReplicated,
      scrub: core.scrubStatus(),
      space: core.usableSpace(),
      ...(this.cluster ? { leader: this.cluster.leaderId, mediators: await this.cluster.mediators().catch(() => undefined) } : {}),
      ...(this.statusPage?.url ? { statusPage: this.statusPage.url } : {}),
    };
  }
}

/** Methods every mediator answers, leading or not. */
const ANY_MEDIATOR_ANSWERS: ReadonlySet<string> = new Set([mediatorMethods.ping.name, mediatorMethods.join.name, mediatorMethods.events.name]);

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

