// `quorumfs mount <mountpoint> [--mediator HOST:PORT[,HOST:PORT...]]` in the foreground, and
// `quorumfs unmount <mountpoint>`. The mount checks its arguments (exit 2), reaches a mediator once
// (exit 1 if it cannot), clears a stale mount left by a killed client, mounts with allow_other
// and default_permissions, and unmounts cleanly on SIGINT/SIGTERM. Every call to the mediator has
// a deadline (--timeout-ms), so an unreachable mediator means EIO, never a hang; the log says when
// the mediator stops answering and when it answers again, once each. Given several mediators,
// calls fail over to the one that leads; the session is attached again there, and the metadata
// server is the one that mediator names.

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { QuorumfsClient } from '../client/quorumfs-client.js';
import { credentialsOption, type CredentialsFlag } from './credentials-flag.js';
import { formatAddress } from '../common/address.js';
import { messageOf, qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { createLogger, type Logger } from '../common/logger.js';
import { PeerOutage, type OutageReport } from '../core/peer-outage.js';
import { FuseSession } from '../fuse/fuse-binding.js';
import { QuorumfsFs } from '../mount/quorumfs-fs.js';
import { DirectReader } from '../mount/direct-read.js';
import { DirectWriter } from '../mount/direct-write.js';
import { ReplicaReports } from '../mount/replica-reports.js';
import { ReplicaTargets } from '../mount/replica-targets.js';
import { RpcClient } from '../transport/rpc-client.js';
import { mountPoints } from '../fuse/mount-table.js';
import { setReadahead } from '../fuse/readahead.js';
import { isStaleMount } from '../fuse/stale-mount.js';
import { INVALIDATE_EVENT, invalidateEvent, mediatorMethods } from '../protocol/mediator-messages.js';
import { metaMethods } from '../protocol/meta-messages.js';
import { nowTimespec, systemClock } from '../common/clock.js';
import { READY_PREFIX } from '../services/supervisor.js';
import { addressListArg, positiveIntArg } from './arguments.js';
import { usage } from './usage-error.js';
import { metricsArg, type MetricsFlags } from './metrics-flags.js';
import { createProcessRegistry } from '../metrics/process-registry.js';
import { instrumentOperations, mountQuorumMetrics } from '../metrics/mount-metrics.js';
import { MetricsEndpoint } from '../metrics/metrics-endpoint.js';

interface MountFlags extends CredentialsFlag, MetricsFlags {
  mediator: string;
  timeoutMs: string;
  attrTimeout: string;
  readThroughMediator?: boolean;
  writeThroughMediator?: boolean;
}

export const MOUNT_DEFAULTS = { timeoutMs: '10000', attrTimeout: '1' };

async function checkMountpoint(mountpoint: string): Promise<string> {
  const full = path.resolve(mountpoint);
  if (await isStaleMount(full)) return full; // cleared by the session before mounting
  const info = await stat(full).catch(() => undefined);
  if (!info) usage(`mount point ${mountpoint} does not exist`);
  if (!info.isDirectory()) usage(`mount point ${mountpoint} is not a directory`);
  return full;
}

export async function runMount(mountpoint: string, flags: MountFlags): Promise<void> {
  const addresses = addressListArg(flags.mediator, '--mediator');
  const timeoutMs = positiveIntArg(flags.timeoutMs, '--timeout-ms');
  const attrTimeoutSec = Number(flags.attrTimeout);
  if (!Number.isFinite(attrTimeoutSec) || attrTimeoutSec < 0) usage(`--attr-timeout '${flags.attrTimeout}' is not a number of seconds`);
  const metricsAt = await metricsArg(flags, []);
  const full = await checkMountpoint(mountpoint);
  const logger = createLogger('mount', { mountpoint: full });
  const registry = metricsAt && createProcessRegistry('mount');
  const mediator = addresses.map(formatAddress).join(',');
  let session: FuseSession | undefined;
  let fsRef: QuorumfsFs | undefined;
  const outage = new PeerOutage();
  let unmounted = false;
  // Names this mount to the mediator: its holds on open files belong to it (docs/open-files.md).
  const sessionId = randomUUID();
  const attach = (): void => {
    void fsRef?.attachSession().then(
      (missing) => {
        if (missing.length > 0) logger.warn({ missing }, 'files open here were removed while the mediator could not be reached: their data is gone');
      },
      (err: unknown) => logger.debug({ err: messageOf(err) }, 'cannot attach the session yet'), // tried again at the next reconnect
    );
  };
  const credentials = await credentialsOption(flags);
  const client = new QuorumfsClient(addresses, {
    ...credentials,
    defaultTimeoutMs: timeoutMs,
    onAttempt: (attempt) => {
      // Before the mount, a failure to reach the mediator ends the command; after the unmount,
      // the mediator stopping too (Ctrl-C reaches both) is no outage worth a warning.
      if (!session || unmounted) return;
      const report = attempt.answered
        ? outage.answered(Date.now())
        : outage.unanswered(attempt.startedAtMs, attempt.error.code, attempt.error.message);
      if (report) logOutage(logger, 'mediator', formatAddress(client.rpc.address), report);
    },
    onEvent: (event, data) => invalidated(event, data),
    onReconnect: attach,
  });
  // What other mounts changed, reported by the mediator (file data) and by the metadata server
  // (names and attributes).
  const invalidated = (event: string, data: unknown): void => {
    if (event !== INVALIDATE_EVENT || !session) return;
    const change = invalidateEvent(data, 'event');
    for (const ino of change.inodes) {
      fs.changedElsewhere(ino);
      session.invalidateInode(ino).catch(() => undefined);
    }
    for (const e of change.entries) session.invalidateEntry(e.parent, e.name).catch(() => undefined);
  };
  try {
    await client.rpc.call(mediatorMethods.ping, {}, { timeoutMs: Math.min(timeoutMs, limits.mountPingTimeoutMs) });
  } catch (err) {
    client.close();
    throw qfsError('UNAVAILABLE', `cannot reach ${addresses.length === 1 ? 'the mediator' : 'any mediator'} at ${mediator}: ${messageOf(err)}`);
  }
  // Namespace calls go to the metadata server directly; its connection carries the reports of
  // other mounts' changes of names, so the names this mount knows follow its attempts.
  const metaOutage = new PeerOutage();
  const meta = await client
    .connectMetaServer({
      ...credentials,
      defaultTimeoutMs: timeoutMs,
      onAttempt: (attempt) => {
        if (attempt.answered) fsRef?.metaAnswered(attempt.startedAtMs);
        else fsRef?.reportsMayBeLost();
        if (!session || unmounted) return;
        const report = attempt.answered
          ? metaOutage.answered(Date.now())
          : metaOutage.unanswered(attempt.startedAtMs, attempt.error.code, attempt.error.message);
        if (report) logOutage(logger, 'metadata server', formatAddress(client.ns.address), report);
      },
      onEvent: (event, data) => invalidated(event, data),
      onReconnect: () => fsRef?.reportsMayBeLost(),
    })
    .catch((err: unknown) => {
      client.close();
      throw qfsError('UNAVAILABLE', `cannot find the metadata server through the mediator at ${mediator}: ${messageOf(err)}`);
    });
  // File data is read from the replicas and written to them directly; anything unusual is left
  // to the mediator.
  const targets = new ReplicaTargets({
    mediator: client.rpc,
    connect: (server) =>
      new RpcClient(server, { ...credentials, peerName: `data server ${formatAddress(server)}`, defaultTimeoutMs: limits.mountDirectReadTimeoutMs }),
    ttlMs: limits.mountReadTargetsTtlMs,
  });
  const directReader = flags.readThroughMediator
    ? undefined
    : new DirectReader({
        meta,
        targets,
        blockSizeBytes: limits.blockSizeBytes,
        cacheBytes: limits.mountBlockCacheBytes,
        random: Math.random,
        now: nowTimespec,
        mapTtlMs: attrTimeoutSec * 1000,
      });
  const reports = new ReplicaReports(client.rpc, systemClock);
  const directWriter = flags.writeThroughMediator
    ? undefined
    : new DirectWriter({ meta, targets, reports, blockSizeBytes: limits.blockSizeBytes, random: Math.random, clock: systemClock, ...(registry ? { onQuorum: mountQuorumMetrics(registry) } : {}) });
  const fs = new QuorumfsFs({
    client,
    directRead: directReader,
    directWrite: directWriter,
    attrTimeoutSec,
    entryTimeoutSec: attrTimeoutSec,
    now: nowTimespec,
    invalidateAttributes: (ino) => session?.invalidateInode(ino, -1) ?? Promise.resolve(),
    invalidateData: (ino, fromBytes) => session?.invalidateInode(ino, fromBytes) ?? Promise.resolve(),
    session: sessionId,
  });
  fsRef = fs;
  await fs.attachSession();
  // An idle mount would not notice a lost connection, and its session would end after the
  // mediator's grace period: reconnect (which attaches again) whenever it is down. While it is
  // up, a ping now and then keeps the mediator from closing it as idle
  // (limits.idleConnectionTimeoutMs): it carries the invalidations.
  // The metadata server's connection is kept the same way: it carries the reports of changes.
  const mediatorKeeper = new KeepAlive((t) => client.rpc.call(mediatorMethods.ping, {}, { timeoutMs: t, retry: false }));
  const metaKeeper = new KeepAlive((t) => meta.call(metaMethods.ping, {}, { timeoutMs: t, retry: false }));
  const keepalive = setInterval(() => {
    if (!mediatorKeeper.pinging && client.rpc.isConnected && fs.holdsStale) attach();
    else mediatorKeeper.tick(client.rpc.isConnected, timeoutMs);
    metaKeeper.tick(meta.isConnected, timeoutMs);
  }, limits.sessionKeepaliveMs);
  keepalive.unref();
  session = await FuseSession.mount({
    mountpoint: full,
    operations: registry ? instrumentOperations(fs, registry) : fs,
    mountOptions: ['allow_other', 'default_permissions', 'fsname=quorumfs', 'subtype=quorumfs'],
    conn: { maxWriteBytes: 1024 * 1024, handleKillpriv: false, writebackCache: false },
    handleSignals: true,
    onHandlerError: (info) => logger.warn({ op: info.op, errno: info.errno, err: messageOf(info.error) }, 'request failed'),
  });
  await setReadahead(full, limits.mountReadaheadBytes, session.initialized).catch((err: unknown) =>
    logger.warn({ err: messageOf(err) }, 'cannot raise the readahead: sequential reads will be slower'),
  );
  logger.info({ mediator }, 'mounted');
  const metrics = metricsAt && registry ? await MetricsEndpoint.start({ address: metricsAt, registry, logger }) : undefined;
  process.stdout.write(`${READY_PREFIX}${JSON.stringify({ mountpoint: full, ...(metrics ? { metricsPort: metrics.address.port } : {}) })}\n`);
  void session.closed.then(async () => {
    unmounted = true;
    logger.info('unmounted');
    clearInterval(keepalive);
    await fs.endSession().catch(() => undefined); // else the mediator ends it after its grace period
    client.close();
    targets.close();
    reports.close();
    await metrics?.close();
    process.exit(0);
  });
}

/** Pings a peer whose connection is down (reconnecting it) or idle for
 * limits.mountKeepAliveIntervalMs, one ping at a time. */
class KeepAlive {
  pinging = false;
  private lastPingMs = Date.now();

  constructor(private readonly ping: (timeoutMs: number) => Promise<unknown>) {}

  tick(connected: boolean, callTimeoutMs: number): void {
    if (this.pinging) return;
    if (!connected) this.send(limits.sessionKeepaliveMs);
    else if (Date.now() - this.lastPingMs >= limits.mountKeepAliveIntervalMs) this.send(Math.min(callTimeoutMs, limits.mountPingTimeoutMs));
  }

  private send(timeoutMs: number): void {
    this.pinging = true;
    this.lastPingMs = Date.now();
    void this.ping(timeoutMs)
      .catch(() => undefined)
      .finally(() => (this.pinging = false));
  }
}

function logOutage(logger: Logger, peer: 'mediator' | 'metadata server', address: string, report: OutageReport): void {
  const key = peer === 'mediator' ? 'mediator' : 'metaServer';
  switch (report.kind) {
    case 'started':
      logger.warn({ [key]: address, code: report.code, err: report.message }, `${peer} not answering: file system calls fail (EIO) until it is back`);
      return;
    case 'ended':
      logger.info({ [key]: address, outageMs: report.outageMs, unansweredAttempts: report.unansweredAttempts }, `${peer} answering again`);
      return;
    default: {
      const never: never = report;
      throw new Error(`unknown outage report ${JSON.stringify(never)}`);
    }
  }
}

export async function runUnmount(mountpoint: string, flags: { lazy?: boolean }): Promise<void> {
  const full = path.resolve(mountpoint);
  if (!(await mountPoints()).includes(full)) usage(`${mountpoint} is not mounted`);
  const args = flags.lazy ? ['-u', '-z', full] : ['-u', full];
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('fusermount3', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (text += t));
    child.once('error', reject);
    child.once('exit', (c) => resolve({ code: c, stderr: text }));
  });
  if (code !== 0) throw qfsError('INVALID', `cannot unmount ${mountpoint}: ${stderr.trim().replace(/^fusermount3: /, '')}`);
}
