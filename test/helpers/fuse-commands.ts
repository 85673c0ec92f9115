// Asynchronous command helpers for FUSE tests: run a program (optionally as another user via
// setpriv) and capture its output, and call renameat2/utimensat through python3's ctypes
// (Node has neither). Never synchronous: the mount under test may be served by this process.

import { spawn } from 'node:child_process';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: string;
}

const DEFAULT_TIMEOUT_MS = 20_000;

export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} timed out`));
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    // A program that exits without reading its input must not fail the caller with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a command as uid/gid with no supplementary groups. */
export function runAs(uid: number, gid: number, command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', command, ...args], options);
}

/** Runs a short python3 program; argv[1..] are `args`. */
export function python(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run('python3', ['-c', program, ...args], options);
}

const RENAMEAT2 = `
import ctypes, os, sys, errno
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
r = libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD, sys.argv[2].encode(), int(sys.argv[3]))
print('OK' if r == 0 else errno.errorcode[ctypes.get_errno()])
`;

/** renameat2(old, new, flags): resolves 'OK' or the errno name. */
export async function renameat2(oldPath: string, newPath: string, flags: number): Promise<string> {
  const r = await python(RENAMEAT2, [oldPath, newPath, String(flags)]);
  if (r.code !== 0) throw new Error(`renameat2 helper failed: ${r.stderr}`);
  return r.stdout.trim();
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
