// Sizes of the scale benchmark (`--scale`) per mode, the layout they imply (one large directory
// plus directories of DIR_FILES files each) and the deadline of every step, which grows with the
// number of files so that a slow step fails with its name instead of hanging the run.

import type { Mode } from '../options.js';

export interface ScaleSizes {
  /** Files created, each of one small block. */
  files: number;
  /** Entries of the one large directory (`/big`): 100,000, or files/2 when fewer. */
  bigDirFiles: number;
  /** Files per directory for the rest (`/d<k>`). */
  dirFiles: number;
  /** Creates (create + write) in flight at once through the client API. */
  concurrency: number;
  /** The first heal is measured after this many files (files/10), the second after all. */
  firstHealFiles: number;
  /** File sizes, inclusive range: each file is one block. */
  minFileBytes: number;
  maxFileBytes: number;
  /** Files read back through the mount and compared byte for byte at the end. */
  verifyFiles: number;
}

const SCALE_FILES: Record<Mode, number> = { full: 200_000, quick: 20_000, tiny: 2_000 };
const BIG_DIR_MAX_FILES = 100_000;
const DEFAULT_CONCURRENCY = 128;
const DIR_FILES = 1_000;
const MAX_FILES = 10_000_000;
const MAX_CONCURRENCY = 1_024;

/** --scale sizes for a mode, with --files and --concurrency applied; throws one line on bad values. */
export function scaleSizes(mode: Mode, filesText: string | undefined, concurrencyText: string | undefined): ScaleSizes {
  const files = filesText === undefined ? SCALE_FILES[mode] : wholeNumber(filesText, '--files', 20, MAX_FILES);
  const concurrency = concurrencyText === undefined ? DEFAULT_CONCURRENCY : wholeNumber(concurrencyText, '--concurrency', 1, MAX_CONCURRENCY);
  return {
    files,
    bigDirFiles: Math.min(BIG_DIR_MAX_FILES, Math.floor(files / 2)),
    dirFiles: DIR_FILES,
    concurrency,
    firstHealFiles: Math.floor(files / 10),
    minFileBytes: 200,
    maxFileBytes: 700,
    verifyFiles: Math.min(200, files),
  };
}

function wholeNumber(text: string, what: string, min: number, max: number): number {
  const value = /^\d+$/.test(text.replace(/_/g, '')) ? Number(text.replace(/_/g, '')) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`${what}: '${text}' is not a whole number from ${min} to ${max}`);
  return value;
}

/** Deadlines of the steps, in ms: generous floors plus a minimum rate, so only a stuck or
 * pathologically slow step hits them. */
interface ScaleDeadlines {
  startMs: number;
  /** per fill phase, for `files` files */
  fillMs(files: number): number;
  lsMs: number;
  healMs(blocks: number): number;
  /** no visible heal progress for this long fails the heal step (a heal that gave up) */
  healStallMs: number;
  scrubMs: number;
  listContentsMs: number;
  verifyMs: number;
  stopMs: number;
}

export function scaleDeadlines(sizes: ScaleSizes): ScaleDeadlines {
  const f = sizes.files;
  return {
    startMs: 60_000,
    fillMs: (files) => 120_000 + files * 20, // at least 50 files/s
    lsMs: 60_000 + sizes.bigDirFiles * 2, // at least 500 entries/s
    healMs: (blocks) => 60_000 + blocks * 10, // at least 100 blocks/s
    healStallMs: f <= 5_000 ? 30_000 : 120_000,
    scrubMs: 60_000 + 3 * f * 5, // at least 200 copies/s
    listContentsMs: 60_000 + f, // at least 1,000 keys/s
    verifyMs: 120_000,
    stopMs: 60_000 + f, // removing the data directory: three copies of every block file
  };
}
