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
  /** 'classic' needs quorumfs only; 'peer' compares quorumfs N=3 with GlusterFS or MooseFS. */
  kind: 'classic' | 'peer';
  /** undefined when a target has no value (not run, failed) */
  ratio: number | undefined;
  /** met when ratio ≤ limit ('at most') or ratio ≥ limit ('at least') */
  bound: 'at most' | 'at least';
  limit: number;
  met: boolean | undefined;
}

export interface BenchReport {
  /** 2: goals carry kind and bound; targets may include peers. */
  version: 2;
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

/** Target names the goals refer to. */
interface GoalTargets {
  n1: string;
  n3: string;
  glusterfs: string;
  moosefs: string;
}

/** The workloads whose every row quorumfs N=3 must run at least as fast as each peer (issue 13:
 * as fast as MooseFS goal 3, and so ahead of GlusterFS replica 3). Recovery is quorumfs-only. */
const PEER_GOAL_WORKLOADS: readonly string[] = ['classic scenario', 'small files', 'sequential', 'random 4 KiB', 'metadata', 'parallel'];
const PEER_GOAL_PEERS = ['moosefs', 'glusterfs'] as const;

/** Speed of `target` relative to `against` on one metric (above 1: faster); undefined without both medians. */
export function speedRatio(result: MetricResult | undefined, target: string, against: string): number | undefined {
  const value = result?.targets[target]?.median;
  const base = result?.targets[against]?.median;
  if (!result || value === undefined || base === undefined || value <= 0 || base <= 0) return undefined;
  return result.higherIsBetter ? value / base : base / value;
}

/**
 * The goals: the classic scenario on N=3 takes at most 1.15× the time of N=1 (always listed);
 * and, for each peer among `targets`, N=3 at least as fast as that peer on every row of the
 * goal workloads, in the order of the results.
 */
export function evaluateGoals(results: MetricResult[], names: GoalTargets, targets: readonly string[]): GoalResult[] {
  const classic = results.find((r) => r.workload === 'classic scenario' && r.metric === 'total');
  const a = classic?.targets[names.n3]?.median;
  const b = classic?.targets[names.n1]?.median;
  const classicRatio = a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
  const goals: GoalResult[] = [{ goal: `classic scenario time, ${names.n3} / ${names.n1}`, kind: 'classic', ratio: classicRatio, bound: 'at most', limit: 1.15, met: classicRatio === undefined ? undefined : classicRatio <= 1.15 }];
  for (const peerKey of PEER_GOAL_PEERS) {
    const peer = names[peerKey];
    if (!targets.includes(peer)) continue;
    for (const result of results) {
      if (!PEER_GOAL_WORKLOADS.includes(result.workload)) continue;
      const ratio = speedRatio(result, names.n3, peer);
      goals.push({ goal: `${result.workload} ${result.metric} speed, ${names.n3} / ${peer}`, kind: 'peer', ratio, bound: 'at least', limit: 1, met: ratio === undefined ? undefined : ratio >= 1 });
    }
  }
  return goals;
}
