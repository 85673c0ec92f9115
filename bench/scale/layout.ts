// Where file i of the scale fill lives and what it holds. Even indices fill the one large
// directory until it has bigDirFiles entries; every other file goes to /d<k>, dirFiles per
// directory. So any prefix of the fill (the first heal is measured after files/10) has files in
// both kinds of directory. Pure: the same index always gives the same path, size and bytes.

import { contentFor } from '../workloads/content.js';
import type { ScaleSizes } from './scale-options.js';

export const BIG_DIR = 'big';

interface Placement {
  /** directory name under the root: BIG_DIR or d<k> */
  dir: string;
  name: string;
}

/** Index among the files that are not in the large directory. */
function spreadIndex(i: number, sizes: ScaleSizes): number | undefined {
  if (i < 2 * sizes.bigDirFiles) return i % 2 === 0 ? undefined : (i - 1) / 2;
  return i - sizes.bigDirFiles;
}

export function placement(i: number, sizes: ScaleSizes): Placement {
  const s = spreadIndex(i, sizes);
  const name = `f${i}`;
  return s === undefined ? { dir: BIG_DIR, name } : { dir: spreadDirName(Math.floor(s / sizes.dirFiles)), name };
}

export function spreadDirName(k: number): string {
  return `d${k}`;
}

/** Directories /d<k> needed for all files. */
export function spreadDirCount(sizes: ScaleSizes): number {
  return Math.ceil((sizes.files - sizes.bigDirFiles) / sizes.dirFiles);
}

export function fileBytes(i: number, sizes: ScaleSizes): Buffer {
  const span = sizes.maxFileBytes - sizes.minFileBytes + 1;
  return contentFor(i, sizes.minFileBytes + ((i * 7919) % span));
}
