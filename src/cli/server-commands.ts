// `quorumfs data-server` and `quorumfs meta-server`: run one server in the foreground. Once it
// listens it prints `READY {"host":…,"port":…}` on stdout (the mediator waits for that line).
// SIGINT/SIGTERM close it cleanly; with --exit-with-parent it also exits when stdin closes.

import { mkdir } from 'node:fs/promises';
import { createLogger } from '../common/logger.js';
import { DataServer } from '../services/data-server.js';
import { MetaServer } from '../services/meta-server.js';
import { READY_PREFIX, exitWithParent } from '../services/supervisor.js';
import { checkPortFree, portArg } from './arguments.js';

export interface ServerFlags {
  port: string;
  dir: string;
  host: string;
  faultInjection?: boolean;
  exitWithParent?: boolean;
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
  });
  serveUntilSignal(server, flags.exitWithParent === true);
}

export async function runMetaServer(flags: ServerFlags): Promise<void> {
  const port = portArg(flags.port, 'port');
  await checkPortFree(flags.host, port, 'port');
  await mkdir(flags.dir, { recursive: true });
  const logger = createLogger('meta-server', { port });
  const server = await MetaServer.start({ address: { host: flags.host, port }, dir: flags.dir, logger });
  serveUntilSignal(server, flags.exitWithParent === true);
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
