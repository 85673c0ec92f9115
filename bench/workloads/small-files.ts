// Small files: create+write N files, read all (verified), stat all (size checked), delete all;
// each phase reported in operations per second. One operation in flight at a time.

import { mkdir, readFile, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { contentFor, expectSame } from './content.js';
import { secondsSince, type Workload } from './workload.js';

export const smallFiles: Workload = {
  name: 'small files',
  metrics: [
    { key: 'create', unit: 'ops/s', higherIsBetter: true },
    { key: 'read', unit: 'ops/s', higherIsBetter: true },
    { key: 'stat', unit: 'ops/s', higherIsBetter: true },
    { key: 'delete', unit: 'ops/s', higherIsBetter: true },
  ],
  appliesTo: () => true,
  async run(target, sizes) {
    const dir = path.join(target.dir, 'small');
    const n = sizes.smallFiles;
    const bytes = sizes.smallFileBytes;
    const file = (i: number): string => path.join(dir, `s${i}`);
    await mkdir(dir);
    let start = performance.now();
    for (let i = 0; i < n; i++) await writeFile(file(i), contentFor(i, bytes));
    const create = n / secondsSince(start);
    start = performance.now();
    for (let i = 0; i < n; i++) expectSame(await readFile(file(i)), contentFor(i, bytes), `small s${i}`);
    const read = n / secondsSince(start);
    start = performance.now();
    for (let i = 0; i < n; i++) {
      const st = await stat(file(i));
      if (st.size !== bytes) throw new Error(`small s${i}: size ${st.size}, expected ${bytes}`);
    }
    const statOps = n / secondsSince(start);
    start = performance.now();
    for (let i = 0; i < n; i++) await unlink(file(i));
    const del = n / secondsSince(start);
    await rmdir(dir);
    return { create, read, stat: statOps, delete: del };
  },
};
