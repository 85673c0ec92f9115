// Command-line options of the benchmark runner (mode, runs, targets, peers, output directory) and
// the workload sizes of each mode (full, --quick, --tiny). Every size the workloads use comes from
// here, so a mode is one object; --scale selects the scale benchmark and its sizes
// (bench/scale/scale-options.ts). Bad usage throws one line; the runner exits 2 on it.

import { parseArgs } from 'node:util';
import { scaleSizes, type ScaleSizes } from './scale/scale-options.js';

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
  /** The parallel workload: processes at once, small files and sequential MiB per process. */
  parallelProcesses: number;
  parallelFiles: number;
  parallelMiB: number;
}

const SIZES: Record<Mode, Sizes> = {
  full: { runs: 3, classicFiles: 200, smallFiles: 2000, smallFileBytes: 4096, sequentialMiB: 256, randomFileMiB: 64, randomOps: 500, metadataDirs: 1000, recoveryMiB: 1024, parallelProcesses: 8, parallelFiles: 250, parallelMiB: 64 },
  quick: { runs: 3, classicFiles: 200, smallFiles: 300, smallFileBytes: 4096, sequentialMiB: 32, randomFileMiB: 16, randomOps: 300, metadataDirs: 200, recoveryMiB: 64, parallelProcesses: 8, parallelFiles: 40, parallelMiB: 8 },
  tiny: { runs: 1, classicFiles: 5, smallFiles: 10, smallFileBytes: 4096, sequentialMiB: 2, randomFileMiB: 1, randomOps: 20, metadataDirs: 5, recoveryMiB: 0, parallelProcesses: 2, parallelFiles: 3, parallelMiB: 1 },
};

/** Short names for --targets, in the order targets appear in reports. */
const TARGET_KEYS = ['local', 'n1', 'n3', 'n3etcd', 'n3obs', 'n5', 'gluster', 'moosefs'] as const;
export type TargetKey = (typeof TARGET_KEYS)[number];

export interface BenchOptions {
  mode: Mode;
  sizes: Sizes;
  /** --peers: add GlusterFS and MooseFS to the default targets. */
  peers: boolean;
  /** --targets: exactly these targets (in TARGET_KEYS order); undefined for the default set. */
  targets: TargetKey[] | undefined;
  /** Directory for report.md/json/svg; default bench/results/<timestamp>/. */
  outDir: string | undefined;
  /** --scale: the scale benchmark with these sizes instead of the workloads. */
  scale: ScaleSizes | undefined;
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
      targets: { type: 'string' },
      scale: { type: 'boolean', default: false },
      files: { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  const mode: Mode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full';
  const sizes = { ...SIZES[mode] };
  if (values.runs !== undefined) sizes.runs = Math.max(1, Number.parseInt(values.runs, 10) || 1);
  let scale: ScaleSizes | undefined;
  if (values.scale) {
    const other = (['peers', 'targets', 'runs'] as const).filter((k) => values[k] !== undefined && values[k] !== false);
    if (other.length) throw new Error(`--scale takes no ${other.map((k) => `--${k}`).join(', ')} (it runs one quorumfs cluster once)`);
    scale = scaleSizes(mode, values.files, values.concurrency);
  } else if (values.files !== undefined || values.concurrency !== undefined) {
    throw new Error(`--${values.files !== undefined ? 'files' : 'concurrency'} applies to --scale only`);
  }
  return { mode, sizes, peers: values.peers === true, targets: values.targets === undefined ? undefined : parseTargets(values.targets), outDir: values.out, scale };
}

function isTargetKey(name: string): name is TargetKey {
  return (TARGET_KEYS as readonly string[]).includes(name);
}

/** `local,gluster` → ['local', 'gluster']; throws one line naming an unknown or missing name. */
export function parseTargets(list: string): TargetKey[] {
  const names = list.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n.length > 0);
  if (names.length === 0) throw new Error(`--targets: no target named (known: ${TARGET_KEYS.join(', ')})`);
  const unknown = names.filter((n) => !isTargetKey(n));
  if (unknown.length) throw new Error(`--targets: unknown target ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${TARGET_KEYS.join(', ')})`);
  return TARGET_KEYS.filter((k) => names.includes(k));
}
