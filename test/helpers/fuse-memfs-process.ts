// Starts the memfs reference file system as a child process on a fresh temporary mount point
// and stops it again, by PID: SIGTERM and wait, then SIGKILL and a lazy fusermount3 unmount if
// it did not go cleanly. Also reads /proc/self/mountinfo, which never touches the mount.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { run } from './fuse-commands.js';

const MOUNT_WAIT_MS = 10_000;
const STOP_WAIT_MS = 10_000;
const POLL_MS = 20;

/** dist/test/helpers → dist/ → dist/memfs/main.js */
const MEMFS_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'memfs', 'main.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface MountInfo {
  /** Unique per mount (never reused while the system runs). */
  mountId: string;
  fstype: string;
  /** major:minor of the mounted file system. */
  device: string;
}

/** The topmost mount at `path`, if any. */
export async function mountInfo(path: string): Promise<MountInfo | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let found: MountInfo | undefined;
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const mountPoint = (fields[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mountPoint === path) found = { mountId: fields[0] ?? '', fstype: right.split(' ')[0] ?? '', device: fields[2] ?? '' };
  }
  return found;
}

export async function isMounted(path: string): Promise<boolean> {
  return (await mountInfo(path)) !== undefined;
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

interface MemfsOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Reuse this mount point instead of a fresh one (stale-mount tests). */
  mountpoint?: string;
}

export interface MemfsProcess {
  readonly mountpoint: string;
  readonly dir: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** stderr so far: memfs's structured log (started with --verbose). */
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, wait for a clean exit and unmount; forces both if needed. Removes the temp dir. */
  stop(): Promise<void>;
}

export async function startMemfs(options: MemfsOptions = {}): Promise<MemfsProcess> {
  const dir = options.mountpoint ? dirname(options.mountpoint) : await mkdtemp(join(tmpdir(), 'qfs-fuse-'));
  const mountpoint = options.mountpoint ?? join(dir, 'mnt');
  // A stale mount point fails every access with ENOTCONN: leave it as it is.
  if (!options.mountpoint) await mkdir(mountpoint, { recursive: true });
  // mkdtemp makes the directory 0700; other users (identity tests) must reach the mount.
  if (!options.mountpoint) await chmod(dir, 0o755);
  // memfs logs a "mounted" event with --verbose: that is the readiness signal (mount IDs and
  // device numbers are reused, so /proc cannot tell a new mount from a stale one).
  const child = spawn(process.execPath, [MEMFS_MAIN, mountpoint, '--verbose', ...(options.args ?? [])], {
    env: { ...process.env, ...(options.env ?? {}) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | string>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit(code ?? signal ?? -1));
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const pid = child.pid;
  if (pid === undefined) throw new Error('memfs did not start');

  const stop = async (): Promise<void> => {
    if (!hasExited) {
      process.kill(pid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), STOP_WAIT_MS)));
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (result === 'timeout') {
        process.kill(pid, 'SIGKILL');
        await exited;
      }
    }
    if (await isMounted(mountpoint)) await run('fusermount3', ['-u', '-z', mountpoint]);
    if (!options.mountpoint) await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitFor(
      async () => {
        if (hasExited) throw new Error(`memfs exited early: ${stderr}`);
        if (!stderr.includes('"event":"mounted"')) return false;
        return (await mountInfo(mountpoint))?.fstype === 'fuse.memfs';
      },
      MOUNT_WAIT_MS,
      `memfs mount at ${mountpoint}`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { mountpoint, dir, child, pid, stderr: () => stderr, exited, stop };
}
