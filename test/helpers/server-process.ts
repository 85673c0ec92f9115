// One quorumfs server process for tests that run several mediators (on etcd) and data servers
// that join them: started from the compiled CLI, optionally inside a network namespace (`wrap`),
// its log kept, stopped by its PID (SIGTERM, then SIGKILL), and signalled to crash or pause.

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CLUSTER_SECRET_FILE } from '../../src/common/cluster-secret.js';
import { CLI, waitFor } from './cluster.js';

export interface ServerProcessOptions {
  /** The CLI's arguments, e.g. ['mediator', '2', '2', '7001', '--etcd', url]. */
  args: string[];
  /** Argv prefix that runs it elsewhere (a host made of a network namespace). */
  wrap?: string[];
  env?: Record<string, string>;
  /** Spawn it through this function instead (a test harness that tracks processes per host). */
  spawnWith?: (argv: string[], env: NodeJS.ProcessEnv) => ChildProcess;
}

export class ServerProcess {
  private log = '';
  readonly exited: Promise<void>;

  private constructor(readonly child: ChildProcess, readonly args: string[]) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stderr!.setEncoding('utf8').on('data', (t: string) => {
      this.log = (this.log + t).slice(-2_000_000);
    });
  }

  static start(options: ServerProcessOptions): ServerProcess {
    const argv = [...(options.wrap ?? []), process.execPath, CLI, ...options.args];
    const env = { ...process.env, QFS_LOG_LEVEL: 'info', ...options.env };
    const child = options.spawnWith ? options.spawnWith(argv, env) : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
    return new ServerProcess(child, options.args);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stderr(): string {
    return this.log;
  }

  /** Waits until its log holds `text`; fails early if it exits. */
  async waitForLog(text: string, timeoutMs: number): Promise<number> {
    try {
      return await waitFor(() => {
        if (this.log.includes(text)) return true;
        if (!this.alive) throw new Error(`${this.args.join(' ')} exited before logging '${text}':\n${this.log.slice(-4000)}`);
        return false;
      }, timeoutMs, `'${text}' in the log of ${this.args.slice(0, 2).join(' ')}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}; its log ends:\n${this.log.slice(-3000)}`);
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGCONT'); // a paused process cannot act on SIGTERM
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Gives a second mediator's data directory the first one's cluster secret (what an operator
 * copies to each host). */
export async function shareClusterSecret(fromDataDir: string, toDataDir: string): Promise<void> {
  await mkdir(toDataDir, { recursive: true, mode: 0o700 });
  await copyFile(path.join(fromDataDir, CLUSTER_SECRET_FILE), path.join(toDataDir, CLUSTER_SECRET_FILE));
}
