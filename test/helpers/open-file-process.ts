// A child process that keeps one file open and works on it on command, so a test can hold a file
// open on a mount (from a process other than the one serving it) while other mounts change the
// namespace. Commands and answers are JSON lines on stdin and stdout:
//   {"op":"open","path":P}                 open O_RDWR and keep the descriptor
//   {"op":"read"}                          pread from 0 until EOF → {"base64":...}
//   {"op":"write","offset":N,"base64":B}   pwrite the bytes at N
//   {"op":"close"}                         close the descriptor
// Every answer carries "ok"; a failed operation answers {"ok":false,"code":errno name}.

import { spawn, type ChildProcess } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type OpenFileCommand =
  | { op: 'open'; path: string }
  | { op: 'read' }
  | { op: 'write'; offset: number; base64: string }
  | { op: 'close' };
export type OpenFileAnswer = { ok: true; base64?: string } | { ok: false; code: string; message: string };

let handle: FileHandle | undefined;

function opened(): FileHandle {
  if (!handle) throw Object.assign(new Error('no file open'), { code: 'NOT_OPEN' });
  return handle;
}

async function perform(command: OpenFileCommand): Promise<OpenFileAnswer> {
  switch (command.op) {
    case 'open':
      handle = await open(command.path, 'r+');
      return { ok: true };
    case 'read': {
      const chunks: Buffer[] = [];
      for (let position = 0; ; ) {
        const buffer = Buffer.alloc(1024 * 1024);
        const { bytesRead } = await opened().read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        chunks.push(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
      return { ok: true, base64: Buffer.concat(chunks).toString('base64') };
    }
    case 'write': {
      const data = Buffer.from(command.base64, 'base64');
      const { bytesWritten } = await opened().write(data, 0, data.length, command.offset);
      if (bytesWritten !== data.length) return { ok: false, code: 'SHORT_WRITE', message: `${bytesWritten} of ${data.length} bytes` };
      return { ok: true };
    }
    case 'close':
      await opened().close();
      handle = undefined;
      return { ok: true };
  }
}

async function serve(): Promise<void> {
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    let answer: OpenFileAnswer;
    try {
      answer = await perform(JSON.parse(line) as OpenFileCommand);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      answer = { ok: false, code: e.code ?? 'ERROR', message: e.message };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
}

/** The parent's side: one helper process, one command at a time. */
export class OpenFileProcess {
  private readonly child: ChildProcess;
  private waiting: ((line: string) => void) | undefined;
  private readonly exited: Promise<void>;
  private stderr = '';

  constructor() {
    this.child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.stderr!.setEncoding('utf8').on('data', (t: string) => (this.stderr += t));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(line);
    });
    void this.exited.then(() => this.waiting?.(JSON.stringify({ ok: false, code: 'EXITED', message: `helper exited: ${this.stderr}` })));
  }

  async do(command: OpenFileCommand): Promise<OpenFileAnswer> {
    if (this.waiting) throw new Error('one command at a time');
    const answer = new Promise<string>((resolve) => (this.waiting = resolve));
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    return JSON.parse(await answer) as OpenFileAnswer;
  }

  /** Runs a command that must succeed; returns the bytes it read, if any. */
  async must(command: OpenFileCommand): Promise<Buffer> {
    const answer = await this.do(command);
    if (!answer.ok) throw new Error(`${command.op} failed: ${answer.code} ${answer.message}`);
    return Buffer.from(answer.base64 ?? '', 'base64');
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
