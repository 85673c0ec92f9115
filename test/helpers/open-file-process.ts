// A child process that keeps one file open and works on it on command, so a test can hold a file
// open on a mount (from a process other than the one serving it) while other mounts change the
// namespace. Commands and answers are JSON lines on stdin and stdout:
//   {"op":"open","path":P}                 open O_RDWR and keep the descriptor
//   {"op":"read"}                          pread from 0 until EOF → {"base64":...}
//   {"op":"write","offset":N,"base64":B}   pwrite the bytes at N
//   {"op":"close"}                         close the descriptor
// Every answer carries "ok"; a failed operation answers {"ok":false,"code":errno name}.

import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CommandProcess, serveCommands, type Failure } from './command-process.js';

type OpenFileCommand =
  | { op: 'open'; path: string }
  | { op: 'read' }
  | { op: 'write'; offset: number; base64: string }
  | { op: 'close' };
type OpenFileAnswer = { ok: true; base64?: string } | Failure;

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

/** The parent's side: one helper process, one command at a time. */
export class OpenFileProcess extends CommandProcess<OpenFileCommand, OpenFileAnswer> {
  constructor() {
    super(fileURLToPath(import.meta.url));
  }

  /** Runs a command that must succeed; returns the bytes it read, if any. */
  async must(command: OpenFileCommand): Promise<Buffer> {
    const answer = await this.do(command);
    if (!answer.ok) throw new Error(`${command.op} failed: ${answer.code} ${answer.message}`);
    return Buffer.from(answer.base64 ?? '', 'base64');
  }
}

if (process.argv[2] === '--serve') void serveCommands(perform);
