// `quorumfs data-server` and `quorumfs meta-server`: run one server in the foreground. Once it
// listens it prints `READY {"host":…,"port":…}` on stdout (the mediator waits for that line), with
// `metricsPort` when it serves metrics (the mediator lists it in its /targets).
// SIGINT/SIGTERM close it cleanly; with --exit-with-parent it also exits when stdin closes.

import { mkdir } from 'node:fs/promises';
import { createLogger } from '../common/logger.js';
import { DataServer } from '../services/data-server.js';
import { MetaServer } from '../services/meta-server.js';
import { READY_PREFIX, exitWithParent } from '../services/supervisor.js';
import { checkPortFree, portArg } from './arguments.js';
import { isLoopbackHost } from '../common/credentials.js';
import type { AccessPolicy } from '../core/access-policy.js';
import { dataAccess } from '../protocol/data-messages.js';
import { metaAccess } from '../protocol/meta-messages.js';
import { defaultSecretFile, loadServerSecurity } from '../services/server-security.js';
import type { ServerSecurity } from '../transport/secure-socket.js';
import { usage } from './usage-error.js';
import { addressListArg, etcdArg } from './arguments.js';
import { formatAddress, isUnspecifiedHost, type Address } from '../common/address.js';
import { delay } from '../common/async.js';
import { messageOf } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { mediatorMethods } from '../protocol/mediator-messages.js';
import { credentialFor } from '../services/server-security.js';
import { RpcClient } from '../transport/rpc-client.js';
import { metricsArg, type MetricsFlags } from './metrics-flags.js';
import { createProcessRegistry } from '../metrics/process-registry.js';
import { MetricsEndpoint } from '../metrics/metrics-endpoint.js';

export interface ServerFlags extends MetricsFlags {
  port: string;
  dir: string;
  host: string;
  faultInjection?: boolean;
  exitWithParent?: boolean;
  clusterSecret?: string;
  insecureLoopback?: boolean;
  /** data-server: mediators to join (host:port, comma-separated), and as a standby. */
  join?: string;
  spare?: boolean;
  /** meta-server: keep the metadata in etcd (client URLs, comma-separated) under this prefix. */
  etcd?: string;
  etcdPrefix?: string;
}

interface Closable {
  close(): Promise<void>;
  readonly address: { host: string; port: number };
}

export async function runDataServer(flags: ServerFlags): Promise<void> {
  const port = portArg(flags.port, 'port');
  const mediators = flags.join === undefined ? undefined : addressListArg(flags.join, '--join');
  if (flags.spare && !mediators) usage('--spare is for a data server that joins a cluster: give --join');
  if (mediators && isUnspecifiedHost(flags.host)) usage(`with --join, --host is the address the cluster reaches this server at, not ${flags.host}`);
  if (mediators && flags.insecureLoopback) usage('--join needs the cluster secret (--cluster-secret), not --insecure-loopback');
  const metricsAt = await metricsArg(flags, [port]);
  await checkPortFree(flags.host, port, 'port');
  await mkdir(flags.dir, { recursive: true });
  const logger = createLogger('data-server', { port });
  const security = await securityOf(flags, dataAccess);
  const registry = metricsAt && createProcessRegistry('data');
  const server = await DataServer.start({
    address: { host: flags.host, port },
    dir: flags.dir,
    faultInjection: flags.faultInjection === true,
    logger,
    security,
    ...(registry ? { metrics: registry } : {}),
  });
  const endpoint = metricsAt && registry ? await MetricsEndpoint.start({ address: metricsAt, registry, logger, refresh: () => server.metrics?.refresh() ?? Promise.resolve() }) : undefined;
  serveUntilSignal(server, flags.exitWithParent === true, endpoint);
  // The cluster's scraper reaches this server's metrics at its --host when they listen on every address.
  const metrics = endpoint && { host: isUnspecifiedHost(endpoint.address.host) ? flags.host : endpoint.address.host, port: endpoint.address.port };
  if (mediators) void joinCluster(mediators, { host: flags.host, port, spare: flags.spare === true, ...(metrics ? { metrics } : {}) }, security!, logger);
}

/** Names this server to the mediators until one has recorded it (any of them does; the leader
 * makes it a member or a standby). Tried again every limits.joinRetryMs, logged once. */
async function joinCluster(mediators: Address[], self: { host: string; port: number; spare: boolean; metrics?: Address }, security: ServerSecurity, logger: Logger): Promise<void> {
  // An identity's id is letters, digits, - and _: the address spelled with them.
  const credentials = credentialFor(security.clusterSecret, `server.data-${formatAddress(self).replace(/[^A-Za-z0-9]/g, '_')}`);
  let warned = false;
  for (;;) {
    for (const address of mediators) {
      const client = new RpcClient(address, { credentials, peerName: `mediator ${formatAddress(address)}` });
      try {
        await client.call(mediatorMethods.join, self, { timeoutMs: limits.defaultCallTimeoutMs });
        logger.info({ mediator: formatAddress(address), spare: self.spare }, 'joined the cluster');
        return;
      } catch (err) {
        if (!warned) logger.warn({ mediator: formatAddress(address), err: messageOf(err) }, 'cannot join the cluster yet; trying again');
        warned = true;
      } finally {
        client.close();
      }
    }
    await delay(limits.joinRetryMs);
  }
}

export async function runMetaServer(flags: ServerFlags): Promise<void> {
  const port = portArg(flags.port, 'port');
  const etcd = flags.etcd === undefined ? undefined : etcdArg(flags.etcd, flags.etcdPrefix ?? DEFAULT_ETCD_PREFIX);
  const metricsAt = await metricsArg(flags, [port]);
  await checkPortFree(flags.host, port, 'port');
  await mkdir(flags.dir, { recursive: true });
  const logger = createLogger('meta-server', { port });
  const security = await securityOf(flags, metaAccess);
  const registry = metricsAt && createProcessRegistry('meta');
  const server = await MetaServer.start({ address: { host: flags.host, port }, dir: flags.dir, logger, security, ...(etcd ? { etcd } : {}), ...(registry ? { metrics: registry } : {}) });
  const endpoint = metricsAt && registry ? await MetricsEndpoint.start({ address: metricsAt, registry, logger }) : undefined;
  serveUntilSignal(server, flags.exitWithParent === true, endpoint);
}

export const DEFAULT_ETCD_PREFIX = '/quorumfs/';


/** The cluster secret (by default beside the server's directory in its mediator's data
 * directory), or none with --insecure-loopback, which only a loopback address may use. */
async function securityOf(flags: ServerFlags, access: AccessPolicy): Promise<ServerSecurity | undefined> {
  if (flags.insecureLoopback) {
    if (!isLoopbackHost(flags.host)) usage(`--insecure-loopback needs a loopback --host, not ${flags.host}`);
    return undefined;
  }
  return loadServerSecurity(flags.clusterSecret ?? defaultSecretFile(flags.dir), access);
}

function serveUntilSignal(server: Closable, withParent: boolean, metrics: MetricsEndpoint | undefined): void {
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    void Promise.all([server.close(), metrics?.close()]).finally(() => process.exit(0));
  };
  process.on('SIGTERM', close);
  if (withParent) {
    // Ctrl-C reaches the whole process group; the parent decides when its children stop, so a
    // supervised server must not die first and be mistaken for a crash.
    process.on('SIGINT', () => {});
    exitWithParent(close);
  } else {
    process.on('SIGINT', close);
  }
  const ready = metrics ? { ...server.address, metricsPort: metrics.address.port } : server.address;
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(ready)}\n`);
}
