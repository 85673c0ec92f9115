// `quorumfs data-server` and `quorumfs meta-server`: run one server in the foreground. Once it
// listens it prints `READY {"host":…,"port":…}` on stdout (the mediator waits for that line).
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

export interface ServerFlags {
  port: string;
  dir: string;
  host: string;
  faultInjection?: boolean;
  exitWithParent?: boolean;
  clusterSecret?: string;
  insecureLoopback?: boolean;
}

interface Closable {
  close(): Promise<void>;
  readonly address: { host: string; port: number };
}

export async function runDataServer(flags: ServerFlags): Promise<void> {
  const port = portArg(flags.port, 'port');
  await checkPortFree(flags.host, port, 'port');
  await mkdir(flags.dir, { recursive: true });
  const logger = createLogger('data-server', { port });
  const server = await DataServer.start({
    address: { host: flags.host, port },
    dir: flags.dir,
    faultInjection: flags.faultInjection === true,
    logger,
    security: await securityOf(flags, dataAccess),
  });
  serveUntilSignal(server, flags.exitWithParent === true);
}

export async function runMetaServer(flags: ServerFlags): Promise<void> {
  const port = portArg(flags.port, 'port');
  await checkPortFree(flags.host, port, 'port');
  await mkdir(flags.dir, { recursive: true });
  const logger = createLogger('meta-server', { port });
  const security = await securityOf(flags, metaAccess);
  const server = await MetaServer.start({ address: { host: flags.host, port }, dir: flags.dir, logger, security });
  serveUntilSignal(server, flags.exitWithParent === true);
}

/** The cluster secret (by default beside the server's directory in its mediator's data
 * directory), or none with --insecure-loopback, which only a loopback address may use. */
async function securityOf(flags: ServerFlags, access: AccessPolicy): Promise<ServerSecurity | undefined> {
  if (flags.insecureLoopback) {
    if (!isLoopbackHost(flags.host)) usage(`--insecure-loopback needs a loopback --host, not ${flags.host}`);
    return undefined;
  }
  return loadServerSecurity(flags.clusterSecret ?? defaultSecretFile(flags.dir), access);
}

function serveUntilSignal(server: Closable, withParent: boolean): void {
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    void server.close().finally(() => process.exit(0));
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
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(server.address)}\n`);
}
