// The data a benchmark run produces: per workload metric, the samples and summary of each
// target; the ratios to a baseline target; and the goals evaluated as met/not met.
// Pure functions, shared by the Markdown, JSON and SVG writers.

import { summarize, type Summary } from './stats.js';

export interface MetricResult {
  workload: string;
  metric: string;
  unit: string;
  higherIsBetter: boolean;
  /** target name → summary; absent when the workload does not apply or failed */
  targets: Record<string, Summary>;
  /** target name → error message of a failed run */
  errors: Record<string, string>;
}

export interface GoalResult {
  goal: string;
  ratio: number | undefined;
  limit: number;
  met: boolean | undefined;
}

export interface BenchReport {
  version: 1;
  mode: string;
  startedAt: string;
  durationS: number;
  runs: number;
  targets: string[];
  /** Ratios are speed relative to this target (>1: faster); see ratioTo(). */
  baseline: string;
  results: MetricResult[];
  goals: GoalResult[];
}

export type Samples = Map<string, { workload: string; metric: string; unit: string; higherIsBetter: boolean; byTarget: Map<string, number[]>; errors: Map<string, string> }>;

export function toMetricResults(samples: Samples): MetricResult[] {
  return [...samples.values()].map((s) => {
    const targets: Record<string, Summary> = {};
    for (const [name, values] of s.byTarget) {
      const summary = summarize(values);
      if (summary) targets[name] = summary;
    }
    return { workload: s.workload, metric: s.metric, unit: s.unit, higherIsBetter: s.higherIsBetter, targets, errors: Object.fromEntries(s.errors) };
  });
}

/**
 * Speed of `target` relative to the baseline on one metric: value/base for throughput,
 * base/value for durations, so above 1 always means faster. When the baseline has no value
 * (recovery does not apply to N=1) the first target that has one stands in; `against` says which.
 */
export function ratioTo(result: MetricResult, target: string, baseline: string, order: string[]): { ratio: number; against: string } | undefined {
  const against = result.targets[baseline] ? baseline : order.find((t) => result.targets[t]);
  const value = result.targets[target]?.median;
  const base = against === undefined ? undefined : result.targets[against]?.median;
  if (against === undefined || value === undefined || base === undefined || value <= 0 || base <= 0) return undefined;
  return { ratio: result.higherIsBetter ? value / base : base / value, against };
}

/** The goal that needs no peer systems: N=3 classic time at most 1.15× N=1. */
export function evaluateGoals(results: MetricResult[], n1: string, n3: string): GoalResult[] {
  const classic = results.find((r) => r.workload === 'classic scenario' && r.metric === 'total');
  const a = classic?.targets[n3]?.median;
  const b = classic?.targets[n1]?.median;
  const ratio = a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
  return [{ goal: `classic scenario time, ${n3} / ${n1}`, ratio, limit: 1.15, met: ratio === undefined ? undefined : ratio <= 1.15 }];
}
