// The classic scenario: mkdir, N small files written, read back (verified), appended, renamed,
// listed (names verified), removed, rmdir. Reports the total wall time in seconds.

import { appendFile, mkdir, readFile, readdir, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { contentFor, expectSame } from './content.js';
import { secondsSince, type Workload } from './workload.js';

const FILE_BYTES = 2000;
const APPEND_BYTES = 100;

export const classicScenario: Workload = {
  name: 'classic scenario',
  metrics: [{ key: 'total', unit: 's', higherIsBetter: false }],
  appliesTo: () => true,
  async run(target, sizes) {
    const dir = path.join(target.dir, 'classic');
    const n = sizes.classicFiles;
    const start = performance.now();
    await mkdir(dir);
    for (let i = 0; i < n; i++) await writeFile(path.join(dir, `f${i}`), contentFor(i, FILE_BYTES));
    for (let i = 0; i < n; i++) expectSame(await readFile(path.join(dir, `f${i}`)), contentFor(i, FILE_BYTES), `classic f${i}`);
    for (let i = 0; i < n; i++) await appendFile(path.join(dir, `f${i}`), contentFor(n + i, APPEND_BYTES));
    for (let i = 0; i < n; i++) await rename(path.join(dir, `f${i}`), path.join(dir, `g${i}`));
    const names = (await readdir(dir)).sort();
    const expected = Array.from({ length: n }, (_, i) => `g${i}`).sort();
    if (names.join('/') !== expected.join('/')) throw new Error(`classic: listing has ${names.length} names, expected ${n} renamed ones`);
    for (let i = 0; i < n; i++) await unlink(path.join(dir, `g${i}`));
    await rmdir(dir);
    return { total: secondsSince(start) };
  },
};
