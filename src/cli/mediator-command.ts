// `quorumfs mediator <Qr> <Qw> <meta_port> <data_port>...`: checks every argument before
// starting anything (bad usage is one line and exit 2), then runs the mediator in the foreground
// until SIGINT or SIGTERM, which stop it and all its children cleanly.

import path from 'node:path';
import { LOOPBACK, isUnspecifiedHost } from '../common/address.js';
import { createLogger } from '../common/logger.js';
import { limits } from '../common/limits.js';
import { checkQuorumConfig } from '../core/quorum.js';
import { Mediator, type MediatorOptions } from '../services/mediator.js';
import { checkPortFree, etcdArg, portArg, portRangeArg, positiveIntArg } from './arguments.js';
import { usage } from './usage-error.js';
import { DEFAULT_ETCD_PREFIX } from './server-commands.js';
import { ensureClusterSecret } from '../common/cluster-secret.js';
import { isLoopbackHost } from '../common/credentials.js';
import { listenHostArg, metricsArg, type MetricsFlags } from './metrics-flags.js';

export interface MediatorFlags extends MetricsFlags {
  port: string;
  sparePorts: string;
  dataDir: string;
  host: string;
  faultInjection?: boolean;
  healRateMibs: string;
  scrubRateMibs: string;
  scrubIntervalS: string;
  sessionGraceMs: string;
  insecureLoopback?: boolean;
  etcd?: string;
  etcdPrefix: string;
  leaderTtlS: string;
  httpPort?: string;
  httpHost?: string;
}

const DEFAULT_MEDIATOR_PORT = 51234;

export async function parseMediatorArgs(
  qr: string,
  qw: string,
  metaPortText: string,
  dataPortTexts: string[],
  flags: MediatorFlags,
): Promise<Omit<MediatorOptions, 'logger' | 'clusterSecret'> & { insecureLoopback: boolean }> {
  const readQuorum = positiveIntArg(qr, 'Qr');
  const writeQuorum = positiveIntArg(qw, 'Qw');
  const etcd = flags.etcd === undefined ? undefined : { ...etcdArg(flags.etcd, flags.etcdPrefix), leaderTtlS: positiveIntArg(flags.leaderTtlS, '--leader-ttl-s') };
  if (etcd && etcd.leaderTtlS < 2) usage("--leader-ttl-s must be at least 2 (etcd's shortest lease)");
  if (!etcd) {
    if (dataPortTexts.length === 0) usage('give at least one data server port');
    const problem = checkQuorumConfig({ readQuorum, writeQuorum, replicas: dataPortTexts.length });
    if (problem) usage(problem);
  } else {
    // Servers join over time: the quorums are checked against those that have (writes wait for
    // enough of them), not against the ports given here.
    if (writeQuorum < 1 || readQuorum < 1) usage('Qr and Qw must be at least 1');
    if (etcd && isUnspecifiedHost(flags.host)) usage(`with --etcd, --host is the address the other mediators and the mounts reach this one at, not ${flags.host}`);
  }
  const port = portArg(flags.port, 'mediator port');
  if (flags.insecureLoopback && !isLoopbackHost(flags.host)) usage(`--insecure-loopback needs a loopback --host, not ${flags.host}`);
  const metaPort = portArg(metaPortText, 'metadata server port');
  const dataPorts = dataPortTexts.map((p) => portArg(p, 'data server port'));
  const named = [port, metaPort, ...dataPorts];
  const duplicate = named.find((p, i) => named.indexOf(p) !== i);
  if (duplicate !== undefined) usage(`port ${duplicate} is given more than once`);
  const sparePorts = portRangeArg(flags.sparePorts, 'spare ports').filter((p) => !named.includes(p));
  // Loopback unless --metrics-host says otherwise, even for a mediator listening everywhere.
  const metricsAddress = await metricsArg(flags, [...named, ...sparePorts]);
  for (const [p, what] of [
    [port, 'mediator port'],
    [metaPort, 'metadata server port'],
    ...dataPorts.map((d) => [d, 'data server port'] as const),
  ] as const) {
    await checkPortFree(flags.host, p, what);
  }
  return {
    readQuorum,
    writeQuorum,
    host: flags.host,
    port,
    metaPort,
    dataPorts,
    sparePorts,
    dataDir: path.resolve(flags.dataDir),
    faultInjection: flags.faultInjection === true,
    healRateBytesPerSecond: positiveIntArg(flags.healRateMibs, '--heal-rate-mibs') * MiB,
    scrubRateBytesPerSecond: positiveIntArg(flags.scrubRateMibs, '--scrub-rate-mibs') * MiB,
    scrubIntervalMs: positiveIntArg(flags.scrubIntervalS, '--scrub-interval-s') * 1000,
    sessionGraceMs: positiveIntArg(flags.sessionGraceMs, '--session-grace-ms'),
    insecureLoopback: flags.insecureLoopback === true,
    ...(etcd ? { etcd } : {}),
    ...(await httpArgs(flags)),
    ...(metricsAddress ? { metricsAddress } : {}),
  };
}

/** `--http-port P [--http-host H]`: the web status page (port 0: an ephemeral one), on loopback
 * unless told otherwise; --http-host alone is a usage error. */
async function httpArgs(flags: MediatorFlags): Promise<{ http?: { host: string; port: number } }> {
  if (flags.httpPort === undefined) {
    if (flags.httpHost !== undefined) usage('--http-host goes with --http-port');
    return {};
  }
  const port = flags.httpPort === '0' ? 0 : portArg(flags.httpPort, '--http-port');
  const host = listenHostArg(flags.httpHost ?? LOOPBACK, '--http-host');
  if (flags.insecureLoopback && !isLoopbackHost(host)) usage(`--insecure-loopback serves the status page to anyone: it needs a loopback --http-host, not ${host}`);
  if (port !== 0) await checkPortFree(host, port, '--http-port');
  return { http: { host, port } };
}


export async function runMediator(parsed: Omit<MediatorOptions, 'logger' | 'clusterSecret'> & { insecureLoopback: boolean }): Promise<void> {
  const logger = createLogger('mediator');
  const { insecureLoopback, ...options } = parsed;
  // The secret is made at the first start and kept with the data; --insecure-loopback leaves it be.
  const clusterSecret = insecureLoopback ? undefined : await ensureClusterSecret(options.dataDir);
  if (insecureLoopback) logger.warn('--insecure-loopback: connections are neither authenticated nor encrypted');
  const mediator = new Mediator({ ...options, clusterSecret, logger });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string): void => {
    if (stopping) return;
    logger.info({ signal }, 'stopping');
    stopping = mediator.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    await mediator.start();
  } catch (err) {
    await mediator.stop();
    throw err;
  }
}

const MiB = 1024 * 1024;

export const MEDIATOR_DEFAULTS = {
  healRateMibs: '0',
  scrubRateMibs: '64',
  scrubIntervalS: '3600',
  sessionGraceMs: String(limits.sessionGraceMs),
  port: String(DEFAULT_MEDIATOR_PORT),
  sparePorts: '60000-60010',
  dataDir: '.quorumfs',
  host: LOOPBACK,
  etcdPrefix: DEFAULT_ETCD_PREFIX,
  leaderTtlS: String(limits.leaderLeaseTtlS),
};
