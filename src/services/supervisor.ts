// Starts quorumfs server processes as children of this process (no shell), waits until each
// says it is ready (and where it serves metrics, if it does), and reports exits. A child started with --exit-with-parent exits when its
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
  /** The port its READY line said it serves metrics on; undefined when it serves none. */
  readonly metricsPort: number | undefined;
  kill(signal?: NodeJS.Signals): void;
}

/** What a complete READY line in `stdout` (all of it so far) says, or undefined while there is
 * none yet. A READY line that is not JSON, or has no usable `metricsPort`, says only "ready". */
export function readyLine(stdout: string): { metricsPort?: number } | undefined {
  const start = stdout.indexOf(READY_PREFIX);
  if (start < 0) return undefined;
  const end = stdout.indexOf('\n', start);
  if (end < 0) return undefined;
  let said: unknown;
  try {
    said = JSON.parse(stdout.slice(start + READY_PREFIX.length, end));
  } catch {
    return {};
  }
  const port = typeof said === 'object' && said !== null ? (said as { metricsPort?: unknown }).metricsPort : undefined;
  return typeof port === 'number' && Number.isInteger(port) && port > 0 && port <= 65535 ? { metricsPort: port } : {};
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
  const ready: { metricsPort?: number } = {};
  const handle = makeHandle(child, exited, ready);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(qfsError('TIMEOUT', `${options.name} did not start within ${options.readyTimeoutMs} ms`));
    }, options.readyTimeoutMs);
    let buffered: string | undefined = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      if (buffered === undefined) return; // ready already: the rest is not looked at
      buffered += text;
      const said = readyLine(buffered);
      if (said) {
        buffered = undefined;
        if (said.metricsPort !== undefined) ready.metricsPort = said.metricsPort;
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

function makeHandle(child: ChildProcess, exited: Promise<string>, ready: { metricsPort?: number }): ChildHandle {
  let alive = true;
  void exited.then(() => (alive = false));
  return {
    pid: child.pid ?? 0,
    exited,
    get alive() {
      return alive;
    },
    get metricsPort() {
      return ready.metricsPort;
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
