// Parallel jobs: several processes at once (8 in a full run), each in its own directory, as
// several users' jobs share a file system. Phase by phase, all processes together: create and
// write their small files, read them back verified, write a sequential file (1 MiB writes, then
// fsync), and read it back verified after the caches are dropped. Reports each phase's aggregate
// rate over all processes; the processes run in parallel, each one operation at a time.

import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropCaches } from './drop-caches.js';
import type { PhaseReply, PhaseRequest } from './parallel-worker.js';
import { secondsSince, type Workload } from './workload.js';

const WORKER = fileURLToPath(new URL('./parallel-worker.js', import.meta.url));

export const parallel: Workload = {
  name: 'parallel',
  metrics: [
    { key: 'create', unit: 'ops/s', higherIsBetter: true },
    { key: 'read', unit: 'ops/s', higherIsBetter: true },
    { key: 'write', unit: 'MiB/s', higherIsBetter: true },
    { key: 'read big', unit: 'MiB/s', higherIsBetter: true },
  ],
  appliesTo: () => true,
  async run(target, sizes) {
    const n = sizes.parallelProcesses;
    const base = (worker: number): Omit<PhaseRequest, 'phase'> => ({
      dir: path.join(target.dir, `parallel-${worker}`),
      worker,
      files: sizes.parallelFiles,
      fileBytes: sizes.smallFileBytes,
      bigMiB: sizes.parallelMiB,
    });
    const workers = Array.from({ length: n }, () => fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const all = async (phase: PhaseRequest['phase']): Promise<number> => {
      const start = performance.now();
      await Promise.all(workers.map((w, i) => ask(w, { phase, ...base(i) })));
      return secondsSince(start);
    };
    try {
      await all('prepare'); // untimed: the processes have started and made their directories
      const files = n * sizes.parallelFiles;
      const create = files / (await all('create'));
      await dropCaches();
      const read = files / (await all('read'));
      const mib = n * sizes.parallelMiB;
      const write = mib / (await all('write'));
      await dropCaches();
      const readBig = mib / (await all('readBig'));
      await all('clean');
      return { create, read, write, 'read big': readBig };
    } finally {
      for (const w of workers) if (w.connected) w.disconnect();
    }
  },
};

/** Sends one phase to a worker and waits for its answer; a worker that dies fails the phase. */
function ask(worker: ChildProcess, request: PhaseRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: PhaseReply): void => {
      cleanup();
      if (reply.ok) resolve();
      else reject(new Error(`parallel worker ${request.worker}, ${request.phase}: ${reply.error}`));
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`parallel worker ${request.worker} exited (${signal ?? code}) during ${request.phase}`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('exit', onExit);
    worker.send(request);
  });
}
