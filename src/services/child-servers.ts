// The servers a mediator runs as its children: the metadata server, kept running on its port
// with its data (restarted with backoff after a crash), and data servers, each on its own port
// and directory (a replacement starts blank). A data server's port is probed first: a taken one
// (a spare port inside the ephemeral range can be held by any process's connection) is refused
// as ADDRESS_IN_USE before its directory is wiped or a process spawned. Process mechanics are in
// supervisor.ts.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { delay } from '../common/async.js';
import { CLUSTER_SECRET_FILE } from '../common/cluster-secret.js';
import { messageOf, qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { portProblem } from '../transport/port-probe.js';
import { spawnServer, type ChildHandle } from './supervisor.js';

export class MetaServerProcess {
  private child: ChildHandle | undefined;
  private stopping = false;
  /** Restarts after crashes so far. */
  restarts = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly dataDir: string,
    private readonly log: Logger,
    private readonly insecureLoopback: boolean,
    /** Called after each restart that followed a crash (not the first start). */
    private readonly onRestarted: () => void = () => {},
    /** More arguments (the etcd engine's, where to serve metrics). */
    private readonly extraArgs: string[] = [],
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return this.child?.alive === true;
  }

  /** Where the running metadata server serves metrics (its READY line); undefined if it does
   * not, or is not running. */
  get metricsPort(): number | undefined {
    return this.child?.alive ? this.child.metricsPort : undefined;
  }

  async start(): Promise<void> {
    this.child = await spawnServer({
      name: `metadata server on port ${this.port}`,
      args: ['meta-server', '--host', this.host, '--port', String(this.port), '--dir', path.join(this.dataDir, 'meta'), ...securityArgs(this.dataDir, this.insecureLoopback), ...this.extraArgs],
      readyTimeoutMs: limits.childReadyTimeoutMs,
      logger: this.log,
    });
    void this.child.exited.then((how) => this.restart(how));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child?.alive) await stopChild(this.child);
  }

  /** A crashed metadata server is restarted on its port with its data, with backoff. */
  private async restart(how: string): Promise<void> {
    if (this.stopping) return;
    this.log.error({ how }, 'metadata server exited; restarting it');
    for (let attempt = 0; !this.stopping; attempt++) {
      await delay(limits.metaRestartBackoffMs[Math.min(attempt, limits.metaRestartBackoffMs.length - 1)]!);
      if (this.stopping) return;
      try {
        await this.start();
        this.restarts++;
        this.log.info({ pid: this.child?.pid }, 'metadata server restarted');
        this.onRestarted();
        return;
      } catch (err) {
        this.log.error({ err: messageOf(err) }, 'metadata server restart failed');
      }
    }
  }
}

interface DataServerSpawn {
  host: string;
  port: number;
  dataDir: string;
  faultInjection: boolean;
  insecureLoopback: boolean;
  /** A replacement: leftovers of an earlier run on this port are not trusted. */
  fresh: boolean;
  log: Logger;
  /** More arguments (where to serve metrics). */
  extraArgs?: string[];
}

/** Starts a data server and resolves once it serves. Rejects ADDRESS_IN_USE, having started and
 * wiped nothing, if its port is taken now; UNAVAILABLE or TIMEOUT if the process does not get
 * ready (a port taken in the moment between the probe and the child's own bind ends up here). */
export async function spawnDataServer(o: DataServerSpawn): Promise<ChildHandle> {
  const dir = path.join(o.dataDir, `data-${o.port}`);
  if ((await portProblem(o.host, o.port)) === 'EADDRINUSE') throw qfsError('ADDRESS_IN_USE', `port ${o.port} is already in use`);
  if (o.fresh) await rm(dir, { recursive: true, force: true });
  const args = ['data-server', '--host', o.host, '--port', String(o.port), '--dir', dir];
  if (o.faultInjection) args.push('--fault-injection');
  args.push(...securityArgs(o.dataDir, o.insecureLoopback), ...(o.extraArgs ?? []));
  return spawnServer({ name: `data server on port ${o.port}`, args, readyTimeoutMs: limits.childReadyTimeoutMs, logger: o.log });
}

/** Children read the cluster secret from the mediator's data directory (or run without TLS). */
function securityArgs(dataDir: string, insecureLoopback: boolean): string[] {
  return insecureLoopback ? ['--insecure-loopback'] : ['--cluster-secret', path.join(dataDir, CLUSTER_SECRET_FILE)];
}

/** SIGTERM, then SIGKILL if the child has not exited within the grace period. */
export async function stopChild(child: ChildHandle): Promise<void> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), limits.childStopGraceMs);
  await child.exited;
  clearTimeout(timer);
}
