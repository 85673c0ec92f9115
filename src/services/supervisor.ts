// Starts quorumfs server processes as children of this process (no shell), waits until each
// says it is ready, and reports exits. A child started with --exit-with-parent exits when its
// stdin closes, so children never outlive a mediator that was killed.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { qfsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

const CLI_ENTRY = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** The line a server prints on stdout once it listens: `READY {"host":…,"port":…}`. */
export const READY_PREFIX = 'READY ';

export interface ChildHandle {
  readonly pid: number;
  /** Resolves when the child exits, with a description of how. */
  readonly exited: Promise<string>;
  readonly alive: boolean;
  kill(signal?: NodeJS.Signals): void;
}

interface SpawnOptions {
  name: string;
  args: string[];
  readyTimeoutMs: number;
  logger: Logger;
}

/** Spawns `quorumfs <args> --exit-with-parent` and resolves once it printed READY. Rejects with
 * the child's last stderr line if it exits first or does not get ready in time. */
export function spawnServer(options: SpawnOptions): Promise<ChildHandle> {
  const child = spawn(process.execPath, [CLI_ENTRY, ...options.args, '--exit-with-parent'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let lastErrorLine = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      lastErrorLine = line;
      process.stderr.write(line + '\n'); // children log structured lines; pass them through
    }
  });
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exited with code ${code}`));
  });
  const handle = makeHandle(child, exited);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(qfsError('TIMEOUT', `${options.name} did not start within ${options.readyTimeoutMs} ms`));
    }, options.readyTimeoutMs);
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      buffered += text;
      if (buffered.includes(READY_PREFIX)) {
        clearTimeout(timer);
        resolve(handle);
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(qfsError('UNAVAILABLE', `${options.name} ${how}${lastErrorLine ? `: ${lastErrorLine}` : ''}`));
    });
  });
}

function makeHandle(child: ChildProcess, exited: Promise<string>): ChildHandle {
  let alive = true;
  void exited.then(() => (alive = false));
  return {
    pid: child.pid ?? 0,
    exited,
    get alive() {
      return alive;
    },
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (alive) child.kill(signal);
    },
  };
}

/** Called by a server process started with --exit-with-parent: exit when the parent's pipe
 * closes (the parent died or let go). */
export function exitWithParent(onExit: () => void): void {
  process.stdin.on('end', onExit);
  process.stdin.on('close', onExit);
  process.stdin.resume();
}
