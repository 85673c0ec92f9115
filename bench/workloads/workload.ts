// What a benchmark workload is: a name, the metrics it reports (with unit and direction) and
// run(), which works inside the target's directory, verifies every byte it reads (throwing on a
// mismatch) and leaves the directory as it found it.

import type { Sizes } from '../options.js';
import type { OpenTarget, TargetSpec } from '../targets.js';

interface Metric {
  key: string;
  unit: string;
  /** true for throughput (ops/s, MiB/s), false for durations (s). */
  higherIsBetter: boolean;
}

export interface Workload {
  name: string;
  metrics: Metric[];
  appliesTo(spec: TargetSpec, sizes: Sizes): boolean;
  /** Returns one value per metric key. */
  run(target: OpenTarget, sizes: Sizes): Promise<Record<string, number>>;
}

/** Seconds since `startMs` (a performance.now() reading). */
export function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}
