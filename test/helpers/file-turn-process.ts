// A long-lived child process that does one file operation on a mount per command, so a test can
// drive a mount from a process other than the one serving it, many times, without spawning a
// process per operation. Commands and answers are JSON lines on stdin and stdout:
//   {"op":"append","path":P,"text":T}  open O_WRONLY|O_APPEND, one write of T, close
//   {"op":"read","path":P}             open O_RDONLY, read until EOF, close → {"text":...}
// Every answer carries "ok"; a failed operation answers {"ok":false,"code":errno name}.

import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CommandProcess, serveCommands, type Failure } from './command-process.js';

type TurnCommand = { op: 'append'; path: string; text: string } | { op: 'read'; path: string };
export type TurnAnswer = { ok: true; text?: string } | Failure;

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

/** The parent's side: one helper process, one command at a time. */
export class FileTurnProcess extends CommandProcess<TurnCommand, TurnAnswer> {
  constructor() {
    super(fileURLToPath(import.meta.url));
  }
}

if (process.argv[2] === '--serve') void serveCommands(perform);
