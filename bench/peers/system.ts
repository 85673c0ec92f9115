// Host plumbing for the peer file systems: run a command with a deadline (a failure is one line
// naming the step), install Debian packages when missing, and stop a daemon by its pid.
// Nothing here finds processes by name: every process we stop is one whose pid we know.

import { spawn } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import net from 'node:net';
import { mountPoints } from '../../src/fuse/mount-table.js';

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface CommandOptions {
  timeoutMs: number;
  /** Resolve with the result instead of throwing when the command exits non-zero. */
  allowFailure?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** A peer set-up or tear-down step that failed; the message is one line and names the step. */
export class PeerStepError extends Error {
  constructor(
    readonly step: string,
    detail: string,
  ) {
    super(`${step}: ${oneLine(detail)}`);
  }
}

/** The last non-empty line of a command's output, trimmed to a readable length. */
function oneLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const line = lines[lines.length - 1] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** How long a daemonizing command may keep our pipes open after it exited (its child inherits them). */
const PIPE_GRACE_MS = 200;

/**
 * Runs `command args` and resolves with its exit code and output. Throws a PeerStepError when it
 * cannot be started, outlives `timeoutMs` (it is then killed) or, unless allowFailure, exits
 * non-zero. Resolves on exit, not on pipe close: daemons started by the command may hold the pipes.
 */
export function runCommand(step: string, command: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      settle(() => reject(new PeerStepError(step, `\`${command} ${args.join(' ')}\` did not finish within ${options.timeoutMs} ms`)));
    }, options.timeoutMs);
    child.once('error', (err) => settle(() => reject(new PeerStepError(step, `cannot run ${command}: ${err.message}`))));
    child.once('exit', (code, signal) => {
      const finish = (): void =>
        settle(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          const result = { code: code ?? 128, stdout, stderr };
          if (result.code === 0 || options.allowFailure) resolve(result);
          else reject(new PeerStepError(step, `\`${command} ${args.join(' ')}\` exited with ${signal ?? code}: ${oneLine(stderr) || oneLine(stdout)}`));
        });
      const grace = setTimeout(finish, PIPE_GRACE_MS);
      child.once('close', () => {
        clearTimeout(grace);
        finish();
      });
    });
  });
}

/** Polls `check` every `intervalMs` until it returns true; throws a PeerStepError after `timeoutMs`. */
export async function waitUntil(step: string, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (performance.now() > deadline) throw new PeerStepError(step, `not ready within ${timeoutMs} ms${last ? ` (${last})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const APT_INSTALL_TIMEOUT_MS = 600_000;
const APT_UPDATE_TIMEOUT_MS = 300_000;
const DPKG_TIMEOUT_MS = 30_000;
/** Debian's `fuse` (FUSE 2) conflicts with `fuse3`, which quorumfs and both peers need. */
const FORBIDDEN_PACKAGES = new Set(['fuse']);

async function isInstalled(pkg: string): Promise<boolean> {
  const r = await runCommand(`dpkg -s ${pkg}`, 'dpkg-query', ['-W', '-f=${Status}', pkg], { timeoutMs: DPKG_TIMEOUT_MS, allowFailure: true });
  return r.code === 0 && r.stdout.trim() === 'install ok installed';
}

async function aptInstall(packages: string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  const args = ['install', '-y', '--no-install-recommends', ...packages];
  // Dry run first: refuse anything that would remove a package (fuse3 above all).
  const dry = await runCommand('apt-get install (dry run)', 'apt-get', ['-s', ...args], { timeoutMs: DPKG_TIMEOUT_MS * 4, env, allowFailure: true });
  if (dry.code !== 0) return dry;
  const removals = dry.stdout.split('\n').filter((l) => l.startsWith('Remv ')).map((l) => l.split(' ')[1]);
  if (removals.length) throw new PeerStepError('apt-get install', `installing ${packages.join(' ')} would remove ${removals.join(' ')}; refusing`);
  return runCommand('apt-get install', 'apt-get', args, { timeoutMs: APT_INSTALL_TIMEOUT_MS, env, allowFailure: true });
}

/**
 * Installs those of `packages` that dpkg does not list as installed (apt-get update once when the
 * first install fails), then checks that fusermount3 survived.
 */
export async function ensureDebianPackages(packages: string[], log: (message: string) => void): Promise<void> {
  for (const pkg of packages) if (FORBIDDEN_PACKAGES.has(pkg)) throw new PeerStepError('apt-get install', `package ${pkg} would remove fuse3; refusing`);
  const missing: string[] = [];
  for (const pkg of packages) if (!(await isInstalled(pkg))) missing.push(pkg);
  if (missing.length === 0) return;
  log(`installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = await aptInstall(missing, env);
  if (r.code !== 0) {
    await runCommand('apt-get update', 'apt-get', ['update'], { timeoutMs: APT_UPDATE_TIMEOUT_MS, env });
    r = await aptInstall(missing, env);
  }
  if (r.code !== 0) throw new PeerStepError('apt-get install', `exited with ${r.code}: ${oneLine(r.stderr) || oneLine(r.stdout)}`);
  for (const pkg of missing) if (!(await isInstalled(pkg))) throw new PeerStepError('apt-get install', `${pkg} is still not installed`);
  try {
    await access('/usr/bin/fusermount3', constants.X_OK);
  } catch {
    throw new PeerStepError('apt-get install', 'fusermount3 is gone after installing; reinstall fuse3');
  }
}

/** Whether a process with this pid exists (and is not a zombie we could reap). */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Reads a pid file (a number, maybe followed by other text); undefined when absent or unreadable. */
export async function readPidFile(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const STOP_GRACE_MS = 10_000;

/** SIGTERM, wait up to 10 s, then SIGKILL and wait again. Resolves once the pid is gone. */
export async function stopPid(step: string, pid: number): Promise<void> {
  if (!(await isAlive(pid))) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  try {
    await waitUntil(step, async () => !(await isAlive(pid)), STOP_GRACE_MS, 100);
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    await waitUntil(step, async () => !(await isAlive(pid)), STOP_GRACE_MS, 100);
  }
}

/** Whether `dir` is a mount point right now. */
export async function isMountPoint(dir: string): Promise<boolean> {
  return (await mountPoints()).includes(dir);
}

const UMOUNT_TIMEOUT_MS = 30_000;

/** Unmounts `dir` if mounted; lazily when busy, so a stuck client cannot keep it. */
export async function unmount(step: string, dir: string): Promise<void> {
  if (!(await isMountPoint(dir))) return;
  const r = await runCommand(step, 'umount', [dir], { timeoutMs: UMOUNT_TIMEOUT_MS, allowFailure: true });
  if (r.code !== 0 && (await isMountPoint(dir))) await runCommand(step, 'umount', ['-l', dir], { timeoutMs: UMOUNT_TIMEOUT_MS });
}

/** Runs every clean-up step even when some fail; throws one error listing the failures. */
export async function cleanUp(what: string, steps: [string, () => Promise<void>][]): Promise<void> {
  const failures: string[] = [];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err instanceof PeerStepError ? err.message : `${name}: ${(err as Error).message}`);
    }
  }
  if (failures.length) throw new Error(`${what} stop: ${failures.join('; ')}`);
}

/** Throws a PeerStepError naming the first of `ports` that something already listens on at 127.0.0.1. */
export async function assertPortsFree(step: string, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    const server = net.createServer();
    const error = await new Promise<Error | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen(port, '127.0.0.1', () => resolve(undefined));
    });
    if (error) throw new PeerStepError(step, `port ${port} is in use (${(error as NodeJS.ErrnoException).code ?? error.message}); is another instance running?`);
    await new Promise((r) => server.close(r));
  }
}
