// Runs one external command for the scale benchmark (`ls -f` on the mount, the quorumfs CLI) as
// an asynchronous child process: never a synchronous one, and never from a process that serves
// a mount. The step's AbortSignal (deadline or interrupt) stops it: SIGTERM, then SIGKILL.

import { spawn } from 'node:child_process';
import { CLI } from '../../test/helpers/cluster.js';

const KILL_GRACE_MS = 5_000;
/** Output kept of one command; more fails the command (list-contents of 10M keys is ~1.5 GB). */
const MAX_STDOUT_BYTES = 512 * 1024 * 1024;
const MAX_STDERR_CHARS = 64 * 1024;

interface CommandResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** wall time from spawn to exit */
  ms: number;
}

export function runCommand(command: string, args: string[], signal: AbortSignal): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const startMs = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let failure: Error | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (why: Error): void => {
      failure ??= why;
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const onAbort = (): void => stop(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_STDOUT_BYTES) return stop(new Error(`${command} printed more than ${MAX_STDOUT_BYTES} bytes`));
      chunks.push(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += t;
    });
    child.once('error', (err) => stop(err));
    child.once('close', (code) => {
      clearTimeout(killTimer);
      signal.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      resolve({ code, stdout: Buffer.concat(chunks), stderr, ms: performance.now() - startMs });
    });
  });
}

/** `quorumfs <args>`; rejects with its stderr's line when it exits non-zero. */
export async function runQuorumfs(args: string[], signal: AbortSignal): Promise<CommandResult> {
  const r = await runCommand(process.execPath, [CLI, ...args], signal);
  if (r.code !== 0) throw new Error(`quorumfs ${args.join(' ')} exited with ${r.code}: ${lastLine(r.stderr) || '(no message)'}`);
  return r;
}

/** The last non-empty line of a command's output (where the CLI puts its error). */
function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).at(-1)?.trim() ?? '';
}
