// Metadata operations on N directories: mkdir each, rename each, readdir each (and the parent,
// names verified), rmdir each. Each phase reported in operations per second.

import { mkdir, readdir, rename, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { secondsSince, type Workload } from './workload.js';

export const metadata: Workload = {
  name: 'metadata',
  metrics: [
    { key: 'mkdir', unit: 'ops/s', higherIsBetter: true },
    { key: 'rename', unit: 'ops/s', higherIsBetter: true },
    { key: 'readdir', unit: 'ops/s', higherIsBetter: true },
    { key: 'rmdir', unit: 'ops/s', higherIsBetter: true },
  ],
  appliesTo: () => true,
  async run(target, sizes) {
    const parent = path.join(target.dir, 'meta');
    const n = sizes.metadataDirs;
    await mkdir(parent);
    let start = performance.now();
    for (let i = 0; i < n; i++) await mkdir(path.join(parent, `d${i}`));
    const mkdirOps = n / secondsSince(start);
    start = performance.now();
    for (let i = 0; i < n; i++) await rename(path.join(parent, `d${i}`), path.join(parent, `e${i}`));
    const renameOps = n / secondsSince(start);
    start = performance.now();
    for (let i = 0; i < n; i++) {
      const entries = await readdir(path.join(parent, `e${i}`));
      if (entries.length !== 0) throw new Error(`metadata: e${i} lists ${entries.length} entries, expected none`);
    }
    const readdirOps = n / secondsSince(start);
    const names = (await readdir(parent)).sort().join('/');
    if (names !== Array.from({ length: n }, (_, i) => `e${i}`).sort().join('/')) throw new Error('metadata: parent listing does not match the renamed directories');
    start = performance.now();
    for (let i = 0; i < n; i++) await rmdir(path.join(parent, `e${i}`));
    const rmdirOps = n / secondsSince(start);
    await rmdir(parent);
    return { mkdir: mkdirOps, rename: renameOps, readdir: readdirOps, rmdir: rmdirOps };
  },
};
