// Command-line options of the benchmark runner and the workload sizes of each mode (full,
// --quick, --tiny). Every size the workloads use comes from here, so a mode is one object.

import { parseArgs } from 'node:util';

export type Mode = 'full' | 'quick' | 'tiny';

export interface Sizes {
  runs: number;
  classicFiles: number;
  smallFiles: number;
  smallFileBytes: number;
  sequentialMiB: number;
  randomFileMiB: number;
  randomOps: number;
  metadataDirs: number;
  /** 0 skips the recovery workload. */
  recoveryMiB: number;
}

export const SIZES: Record<Mode, Sizes> = {
  full: { runs: 5, classicFiles: 200, smallFiles: 2000, smallFileBytes: 4096, sequentialMiB: 256, randomFileMiB: 64, randomOps: 2000, metadataDirs: 1000, recoveryMiB: 1024 },
  quick: { runs: 3, classicFiles: 200, smallFiles: 300, smallFileBytes: 4096, sequentialMiB: 32, randomFileMiB: 16, randomOps: 300, metadataDirs: 200, recoveryMiB: 64 },
  tiny: { runs: 1, classicFiles: 5, smallFiles: 10, smallFileBytes: 4096, sequentialMiB: 2, randomFileMiB: 1, randomOps: 20, metadataDirs: 5, recoveryMiB: 0 },
};

export interface BenchOptions {
  mode: Mode;
  sizes: Sizes;
  peers: boolean;
  /** Directory for report.md/json/svg; default bench/results/<timestamp>/. */
  outDir: string | undefined;
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      tiny: { type: 'boolean', default: false },
      peers: { type: 'boolean', default: false },
      out: { type: 'string' },
      runs: { type: 'string' },
    },
  });
  const mode: Mode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full';
  const sizes = { ...SIZES[mode] };
  if (values.runs !== undefined) sizes.runs = Math.max(1, Number.parseInt(values.runs, 10) || 1);
  return { mode, sizes, peers: values.peers === true, outDir: values.out };
}
