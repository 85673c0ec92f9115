// Mounts quorumfs for a test: `quorumfs mount` as a child process on a temporary directory,
// driven from the test process with async fs calls (never fs.*Sync: the mount is served by
// another process, but a sync call would still block this test's own timers). stop() unmounts
// with SIGTERM and waits for the process; a mount left behind is detached by fusermount3 -z.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mountPoints } from '../../src/fuse/mount-table.js';
import { CLI, waitFor } from './cluster.js';

export interface Mount {
  dir: string;
  process: ChildProcess;
  /** Settles when the mount process has exited. */
  exited: Promise<void>;
  stderr(): string;
  /** SIGTERM, wait for exit; the directory is removed unless keepDir. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
  /** kill -9: leaves a stale mount behind on purpose. */
  kill(): Promise<void>;
}

export async function isMounted(dir: string): Promise<boolean> {
  return (await mountPoints()).includes(dir);
}

export function run(command: string, args: string[], options: { uid?: number; gid?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], uid: options.uid, gid: options.gid, ...(options.env ? { env: options.env } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin!.on('error', () => {}); // EPIPE when the child exits without reading its input
    child.stdin!.end(options.input ?? '');
  });
}

export async function startMount(
  /** The mediator's port on loopback, or the whole --mediator value (host:port,...). */
  mediator: number | string,
  options: {
    dir?: string;
    timeoutMs?: number;
    attrTimeoutSec?: number;
    /** QFS_LOG_LEVEL; default warn */ logLevel?: string;
    /** More flags of `quorumfs mount`. */ flags?: string[];
    /** Runs it elsewhere (a host made of a network namespace): spawns the argv given. */
    spawnWith?: (argv: string[], env: NodeJS.ProcessEnv) => ChildProcess;
  } = {},
): Promise<Mount> {
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'qfs-mnt-')));
  const args = [CLI, 'mount', dir, '--mediator', typeof mediator === 'number' ? `127.0.0.1:${mediator}` : mediator];
  if (options.timeoutMs !== undefined) args.push('--timeout-ms', String(options.timeoutMs));
  if (options.attrTimeoutSec !== undefined) args.push('--attr-timeout', String(options.attrTimeoutSec));
  args.push(...(options.flags ?? []));
  const env = { ...process.env, QFS_LOG_LEVEL: options.logLevel ?? 'warn' };
  const child = options.spawnWith ? options.spawnWith([process.execPath, ...args], env) : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const detach = async (): Promise<void> => {
    if (await isMounted(dir)) await run('fusermount3', ['-u', '-z', dir]);
  };
  const mount: Mount = {
    dir,
    process: child,
    exited,
    stderr: () => stderr,
    async stop(stopOptions = {}) {
      if (alive()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await detach();
      if (!stopOptions.keepDir) await rm(dir, { recursive: true, force: true });
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
  try {
    await waitFor(async () => {
      if (!alive()) throw new Error(`mount exited early: ${stderr}`);
      // The mount says READY once its own session is mounted (a stale mount looks mounted too).
      return stdout.includes('READY ') && (await isMounted(dir));
    }, 15_000, `mount at ${dir}`);
  } catch (err) {
    await mount.stop();
    throw err;
  }
  return mount;
}
