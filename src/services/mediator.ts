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
import { mediatorAccess, mediatorMethods, type ServerStatus, type StatusReport } from '../protocol/mediator-messages.js';
import { CREATED_EVENT, ORPHANS_EVENT, createdEvent, metaMethods, namespaceMethods, orphansEvent } from '../protocol/meta-messages.js';
import type { Method } from '../protocol/method.js';
import type { Extent } from '../replication/file-io.js';
import { RpcClient } from '../transport/rpc-client.js';
import { PayloadReply, RpcServer, type RpcConnection, type RequestContext } from '../transport/rpc-server.js';
import { invalidationsFor } from '../core/invalidations.js';
import { INVALIDATE_EVENT } from '../protocol/mediator-messages.js';
import { namesToWire } from '../protocol/wire-names.js';
import type { ChildHandle } from './supervisor.js';
import { MetaServerProcess, spawnDataServer, stopChild } from './child-servers.js';
import { MediatorCore } from './mediator-core.js';
import { SessionTable } from '../core/session-table.js';
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

export class Mediator {
  private readonly meta: RpcClient;
  private readonly metaProcess: MetaServerProcess;
  private readonly rpc: RpcServer;
  private readonly core: MediatorCore<ChildHandle>;
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

  constructor(private readonly options: MediatorOptions) {
    this.log = options.logger;
    this.sessionGraceMs = options.sessionGraceMs ?? limits.sessionGraceMs;
    this.sessions = new SessionTable(this.sessionGraceMs);
    this.metaProcess = new MetaServerProcess(options.host, options.metaPort, options.dataDir, this.log, options.clusterSecret === undefined, () => void this.adoptHoldSessions());
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
    this.core = new MediatorCore(
      {
        readQuorum: options.readQuorum,
        writeQuorum: options.writeQuorum,
        host: options.host,
        dataPorts: options.dataPorts,
        sparePorts: options.sparePorts,
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? limits.heartbeatIntervalMs,
        healRateBytesPerSecond: options.healRateBytesPerSecond,
        scrubRateBytesPerSecond: options.scrubRateBytesPerSecond,
        scrubIntervalMs: options.scrubIntervalMs,
        onReplacementStarted: () => this.writeOwnerCredentials(),
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
    await this.watchOrphans();
    await this.core.start();
    this.boundAddress = await this.rpc.listen({ host: this.options.host, port: this.options.port });
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
    this.sessionTimer?.cancel();
    this.adoptTimer?.cancel();
    await this.rpc.close();
    await removeClusterCredentials({ host: this.options.host, port: this.options.port }, process.pid);
    this.meta.close();
    await Promise.all([this.metaProcess.stop(), this.core.stop()]);
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
    const ports = this.core.serverPorts;
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

  private spawnData(port: number, fresh: boolean): Promise<ChildHandle> {
    const o = this.options;
    const insecureLoopback = o.clusterSecret === undefined;
    return spawnDataServer({ host: o.host, port, dataDir: o.dataDir, faultInjection: o.faultInjection, insecureLoopback, fresh, log: this.log });
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
        this.core.deleteOrphans(orphans);
        for (const ino of new Set(orphans.map((o) => o.ino))) this.core.fileIo.forget(ino); // removed or cut
      } else if (event === CREATED_EVENT) this.core.fileIo.created(createdEvent(data, 'event').attr);
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

  private registerHandlers(): void {
    for (const m of Object.values(namespaceMethods)) {
      if (m !== namespaceMethods.statfs) this.forward(m as Method<unknown, unknown>);
    }
    const io = this.core.fileIo;
    const counters = this.core.counters;
    const redundancy = this.core.redundancy;
    this.rpc
      .register(mediatorMethods.read, async (a, ctx) => {
        counters.reads++;
        const { data, atimeUpdated } = await io.read(a.ino, a.offset, Math.min(a.size, limits.maxPayloadBytes), ctx.deadlineMs);
        if (atimeUpdated) this.broadcastChange('setattr', a, undefined, ctx.connection);
        return new PayloadReply({ atimeUpdated }, data);
      })
      .register(mediatorMethods.write, async (a, ctx) => {
        counters.writes++;
        const attr = await io.write(a.ino, a.offset, ctx.payload, ctx.deadlineMs, a.time);
        this.broadcastChange('write', a, attr, ctx.connection);
        return attr;
      })
      .register(mediatorMethods.writev, async (a, ctx) => {
        counters.writes++;
        const attr = await io.writeExtents(a.ino, splitPayload(a.extents, ctx.payload), ctx.deadlineMs, a.time);
        this.broadcastChange('write', a, attr, ctx.connection);
        return attr;
      })
      .register(mediatorMethods.setattr, async (a, ctx) => {
        const attr = await io.setattr(a.ino, a.attr, ctx.deadlineMs);
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
        const pass = redundancy.healAll();
        return a.wait ? pass : { complete: false, reason: 'started' };
      })
      .register(mediatorMethods.scrub, async (a) => {
        const pass = redundancy.scrub();
        return a.wait ? pass : { complete: false, reason: 'started' };
      })
      .register(mediatorMethods.explain, (a, ctx) => this.core.explain(a.ino, a.fromIndex ?? 0, ctx.deadlineMs))
      .register(mediatorMethods.ping, () => ({ pid: process.pid }))
      .register(mediatorMethods.open, (a, ctx) => this.openFile(a, ctx))
      .register(mediatorMethods.close, (a, ctx) => this.closeFile(a, ctx))
      .register(mediatorMethods.attachSession, (a, ctx) => this.attachSession(a, ctx));
  }

  /** Serves a namespace method by forwarding it to the metadata server, which tells the mounts
   * what changed and this mediator what it freed (metaEvent). */
  private forward(m: Method<unknown, unknown>): void {
    this.rpc.register(m, async (args, ctx) => {
      const session = (args as { session?: unknown }).session; // create's hold for an O_CREAT open
      const wait = typeof session === 'string' ? this.bindSession(session, ctx.connection) : undefined;
      if (wait) await wait;
      const result = await this.meta.call(m, args, { timeoutMs: ctx.deadlineMs - systemClock.nowMs() });
      // What FileIo knows of written files: a new one is known empty.
      if (m === namespaceMethods.create) this.core.fileIo.created(result as InodeAttr);
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
    const counts = await this.meta.call(metaMethods.counts, {}, { timeoutMs: 2_000 }).catch(() => undefined);
    const core = this.core;
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
    };
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

