// A long-lived child process that does one file operation on a mount per command, so a test can
// drive a mount from a process other than the one serving it, many times, without spawning a
// process per operation. Commands and answers are JSON lines on stdin and stdout:
//   {"op":"append","path":P,"text":T}  open O_WRONLY|O_APPEND, one write of T, close
//   {"op":"read","path":P}             open O_RDONLY, read until EOF, close → {"text":...}
// Every answer carries "ok"; a failed operation answers {"ok":false,"code":errno name}.

import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type TurnCommand = { op: 'append'; path: string; text: string } | { op: 'read'; path: string };
export type TurnAnswer = { ok: true; text?: string } | { ok: false; code: string; message: string };

async function perform(command: TurnCommand): Promise<TurnAnswer> {
  switch (command.op) {
    case 'append': {
      const handle = await open(command.path, 'a');
      try {
        const data = Buffer.from(command.text, 'utf8');
        const { bytesWritten } = await handle.write(data, 0, data.length, null);
        if (bytesWritten !== data.length) return { ok: false, code: 'SHORT_WRITE', message: `${bytesWritten} of ${data.length} bytes` };
      } finally {
        await handle.close();
      }
      return { ok: true };
    }
    case 'read': {
      const handle = await open(command.path, 'r');
      try {
        // Read with read(2) until it returns 0, as a reader of a growing file does.
        const chunks: Buffer[] = [];
        for (;;) {
          const buffer = Buffer.alloc(64 * 1024);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          chunks.push(buffer.subarray(0, bytesRead));
        }
        return { ok: true, text: Buffer.concat(chunks).toString('utf8') };
      } finally {
        await handle.close();
      }
    }
  }
}

async function serve(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let answer: TurnAnswer;
    try {
      answer = await perform(JSON.parse(line) as TurnCommand);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      answer = { ok: false, code: e.code ?? 'ERROR', message: e.message };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
}

/** The parent's side: one helper process, one command at a time. */
export class FileTurnProcess {
  private readonly child: ChildProcess;
  private waiting: ((line: string) => void) | undefined;
  private readonly exited: Promise<void>;
  private stderr = '';

  constructor() {
    this.child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.stderr!.setEncoding('utf8').on('data', (t: string) => (this.stderr += t));
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(line); // the helper only ever answers a command
    });
    void this.exited.then(() => this.waiting?.(JSON.stringify({ ok: false, code: 'EXITED', message: `helper exited: ${this.stderr}` })));
  }

  /** Runs one command and resolves with its answer. */
  async do(command: TurnCommand): Promise<TurnAnswer> {
    if (this.waiting) throw new Error('one command at a time');
    const answer = new Promise<string>((resolve) => (this.waiting = resolve));
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    return JSON.parse(await answer) as TurnAnswer;
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

if (process.argv[2] === '--serve') void serve();
