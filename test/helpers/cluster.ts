// Starts a real quorumfs cluster for a test: the mediator as a child process (which spawns the
// metadata and data servers itself) on free loopback ports, with a temporary data directory.
// stop() stops it by PID and waits for every process it started to exit.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import type { StatusReport } from '../../src/protocol/mediator-messages.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface ClusterOptions {
  readQuorum: number;
  writeQuorum: number;
  dataServers: number;
  faultInjection?: boolean;
  /** e.g. '60000-60010' (the default of the mediator) */
  sparePorts?: string;
  extraArgs?: string[];
  /** Ports to use instead of free ones picked here, e.g. so a test can prepare the directory of
   * a data server (`<dataDir>/data-<port>`) before it starts. */
  ports?: { mediator: number; meta: number; data: number[] };
  /** A data directory the caller made and removes itself (stop() leaves it); by default a new
   * temporary one that stop() removes. */
  dataDir?: string;
  /** Extra environment for the mediator and so its servers (e.g. QFS_TEST_* bounds). */
  env?: Record<string, string>;
}

export interface Cluster {
  mediatorPort: number;
  metaPort: number;
  dataPorts: number[];
  dataDir: string;
  process: ChildProcess;
  client: QuorumfsClient;
  /** Everything the mediator wrote to stderr so far. */
  stderr(): string;
  status(): Promise<StatusReport>;
  /** Stops the mediator (and so its servers); with keepData the data directory stays. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /** Starts the mediator again with the same arguments and data (after stop({ keepData })). */
  restart(): Promise<Cluster>;
}

/** Ports that were free a moment ago (bound to port 0 and released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { ports } = options;
  const [mediatorPort, metaPort, ...dataPorts] = ports ? [ports.mediator, ports.meta, ...ports.data] : await freePorts(2 + options.dataServers);
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'qfs-cluster-')));
  return launch(options, mediatorPort!, metaPort!, dataPorts, dataDir);
}

async function launch(options: ClusterOptions, mediatorPort: number, metaPort: number, dataPorts: number[], dataDir: string): Promise<Cluster> {
  const args = [
    CLI,
    'mediator',
    String(options.readQuorum),
    String(options.writeQuorum),
    String(metaPort),
    ...dataPorts.map(String),
    '--port',
    String(mediatorPort),
    '--data-dir',
    dataDir,
    ...(options.faultInjection ? ['--fault-injection'] : []),
    ...(options.sparePorts ? ['--spare-ports', options.sparePorts] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, QFS_LOG_LEVEL: 'info', ...options.env } });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const client = new QuorumfsClient({ host: '127.0.0.1', port: mediatorPort }, { defaultTimeoutMs: 10_000 });
  const cluster: Cluster = {
    mediatorPort,
    metaPort,
    dataPorts,
    dataDir,
    process: child,
    client,
    stderr: () => stderr,
    status: () => client.status(),
    async stop(stopOptions = {}) {
      client.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      if (!stopOptions.keepData && options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
    restart: () => launch(options, mediatorPort, metaPort, dataPorts, dataDir),
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`mediator exited early: ${stderr}`);
      const status = await client.status().catch(() => undefined);
      return status !== undefined && status.servers.filter((s) => s.role === 'data' && s.state === 'live').length === options.dataServers;
    }, 15_000, 'cluster to start');
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** The first port of the mediator's default spare range (60000-60010). */
export const DEFAULT_FIRST_SPARE_PORT = 60000;

/** Waits until the data server that replaced the one on `crashedPort` is live (healed); returns
 * its port and the wait. That is the first spare port that was free: 60000 with the default range
 * unless something held it (the range lies inside Linux's ephemeral ports, so any process's
 * connection may), and then each port skipped must have been logged as in use. */
export async function awaitReplacement(c: Cluster, crashedPort: number, timeoutMs: number, firstSparePort = DEFAULT_FIRST_SPARE_PORT): Promise<{ port: number; tookMs: number }> {
  let port = 0;
  const tookMs = await waitFor(async () => {
    const servers = (await c.status()).servers;
    const by = servers.find((s) => s.role === 'data' && s.port === crashedPort)?.replacedBy;
    const replacement = servers.find((s) => s.role === 'data' && s.id === by);
    if (replacement?.state !== 'live') return false;
    port = replacement.port;
    return true;
  }, timeoutMs, `the replacement of ${crashedPort} to be live`);
  assert.ok(port >= firstSparePort, `replacement on ${port}, below the first spare port ${firstSparePort}`);
  for (let skipped = firstSparePort; skipped < port; skipped++) {
    assert.ok(c.stderr().includes(`spare port ${skipped} is in use`), `replacement on ${port}, but spare port ${skipped} was not logged as in use`);
  }
  return { port, tookMs };
}

/** Polls `check` every 25 ms until it returns true; fails after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the quorumfs CLI as a child process and collects its output. */
export function runCli(args: string[], timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`quorumfs ${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
