// A long-lived child process that runs commands sent as JSON lines on its stdin and answers each
// with one JSON line on stdout, so a test can drive a FUSE mount from a process other than the
// one serving it, many times, without spawning a process per operation. A helper module calls
// serveCommands() when started with --serve and gives the parent a CommandProcess of itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Every answer carries "ok"; a failed command answers with the errno name. */
export type Failure = { ok: false; code: string; message: string };

/** The child's side: answers each command line with `perform`'s result, or the error's errno. */
export async function serveCommands<C, A>(perform: (command: C) => Promise<A>): Promise<void> {
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    let answer: A | Failure;
    try {
      answer = await perform(JSON.parse(line) as C);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      answer = { ok: false, code: e.code ?? 'ERROR', message: e.message };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
}

/** The parent's side: one helper process (`modulePath --serve`), one command at a time. */
export class CommandProcess<C, A> {
  private readonly child: ChildProcess;
  private waiting: ((line: string) => void) | undefined;
  private readonly exited: Promise<void>;
  private stderr = '';

  constructor(modulePath: string) {
    this.child = spawn(process.execPath, [modulePath, '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.stderr!.setEncoding('utf8').on('data', (t: string) => (this.stderr += t));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(line); // the helper only ever answers a command
    });
    void this.exited.then(() => this.waiting?.(JSON.stringify({ ok: false, code: 'EXITED', message: `helper exited: ${this.stderr}` })));
  }

  /** Runs one command and resolves with its answer. */
  async do(command: C): Promise<A | Failure> {
    if (this.waiting) throw new Error('one command at a time');
    const answer = new Promise<string>((resolve) => (this.waiting = resolve));
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    return JSON.parse(await answer) as A | Failure;
  }

  /** Ends the helper (stdin closed, then SIGKILL if it lingers) and waits for it, by PID. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin!.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
