// One of the parallel workload's processes: forked by parallel.ts, it works in its own directory
// and runs the phase it is sent (over the IPC channel), answering when done, so the parent can
// time each phase across all processes at once. Exits when the parent lets go of it.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { contentFor, expectSame } from './content.js';
import { readSequential, writeSequential } from './sequential-file.js';

export interface PhaseRequest {
  phase: 'prepare' | 'create' | 'read' | 'write' | 'readBig' | 'clean';
  dir: string;
  /** Distinguishes this process's contents from the others'. */
  worker: number;
  files: number;
  fileBytes: number;
  bigMiB: number;
}

export type PhaseReply = { ok: true } | { ok: false; error: string };

async function runPhase(r: PhaseRequest): Promise<void> {
  const small = (i: number): string => path.join(r.dir, `s${i}`);
  const big = path.join(r.dir, 'big.bin');
  const id = (i: number): number => r.worker * 1_000_003 + i;
  switch (r.phase) {
    case 'prepare':
      await mkdir(r.dir, { recursive: true });
      return;
    case 'create':
      for (let i = 0; i < r.files; i++) await writeFile(small(i), contentFor(id(i), r.fileBytes));
      return;
    case 'read':
      for (let i = 0; i < r.files; i++) expectSame(await readFile(small(i)), contentFor(id(i), r.fileBytes), `parallel ${r.worker} s${i}`);
      return;
    case 'write':
      return writeSequential(big, r.bigMiB, id);
    case 'readBig':
      return readSequential(big, r.bigMiB, id, `parallel ${r.worker} big`);
    case 'clean':
      await rm(r.dir, { recursive: true, force: true });
      return;
  }
}

process.on('message', (message: PhaseRequest) => {
  runPhase(message).then(
    () => process.send?.({ ok: true } satisfies PhaseReply),
    (err: unknown) => process.send?.({ ok: false, error: err instanceof Error ? err.message : String(err) } satisfies PhaseReply),
  );
});
process.on('disconnect', () => process.exit(0));
