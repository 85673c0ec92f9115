// The benchmark's goal evaluation and --targets parsing, as pure functions: which goals are
// listed, the ratio's direction (speed, so above 1 is faster), the bound of each goal, n/a when a
// target has no value, and one-line errors for unknown target names.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTargets } from '../../bench/options.js';
import { markdownReport } from '../../bench/report.js';
import { evaluateGoals, speedRatio, type BenchReport, type MetricResult } from '../../bench/results.js';

const NAMES = { n1: 'N1', n3: 'N3', glusterfs: 'Gluster', moosefs: 'Moose' };

function metric(workload: string, name: string, higherIsBetter: boolean, medians: Record<string, number>): MetricResult {
  const targets = Object.fromEntries(Object.entries(medians).map(([t, m]) => [t, { median: m, min: m, max: m, samples: [m] }]));
  return { workload, metric: name, unit: higherIsBetter ? 'ops/s' : 's', higherIsBetter, targets, errors: {} };
}

const RESULTS: MetricResult[] = [
  metric('classic scenario', 'total', false, { N1: 4, N3: 4.4 }),
  metric('small files', 'create', true, { N3: 1000, Moose: 400, Gluster: 250 }),
  metric('sequential', 'write', true, { N3: 150, Moose: 100, Gluster: 120 }),
  metric('sequential', 'read', true, { N3: 300, Moose: 400, Gluster: 300 }),
  metric('metadata', 'mkdir', true, { N3: 500, Moose: 400 }),
  metric('metadata', 'rename', true, { N3: 500, Moose: 600 }),
  metric('metadata', 'readdir', true, { N3: 500 }),
  metric('metadata', 'rmdir', true, { N3: 500, Moose: 500 }),
];

function goal(goals: ReturnType<typeof evaluateGoals>, text: string): ReturnType<typeof evaluateGoals>[number] {
  const found = goals.find((g) => g.goal.startsWith(text));
  assert.ok(found, `goal "${text}" is listed: ${goals.map((g) => g.goal).join(' | ')}`);
  return found;
}

describe('bench goals', () => {
  it('lists only the classic goal when no peer ran', () => {
    const goals = evaluateGoals(RESULTS, NAMES, ['N1', 'N3']);
    assert.equal(goals.length, 1);
    assert.equal(goals[0]!.kind, 'classic');
    assert.ok(Math.abs(goals[0]!.ratio! - 1.1) < 1e-9);
    assert.equal(goals[0]!.bound, 'at most');
    assert.equal(goals[0]!.met, true);
    assert.match(markdownReport(report(goals)), /not measured \(no peer in this run/);
  });

  it('evaluates N=3 against each peer on every row, at least as fast', () => {
    const goals = evaluateGoals(RESULTS, NAMES, ['N1', 'N3', 'Gluster', 'Moose']);
    assert.equal(goals.length, 1 + 2 * RESULTS.length, 'the classic goal, then every row against each peer');
    assert.ok(goals.slice(1).every((g) => g.kind === 'peer' && g.limit === 1 && g.bound === 'at least'));
    const createMoose = goal(goals, 'small files create speed, N3 / Moose');
    assert.deepEqual([createMoose.ratio, createMoose.met], [2.5, true]);
    assert.equal(goal(goals, 'sequential read speed, N3 / Gluster').met, true, 'equal speed meets an at-least-1× goal');
    assert.equal(goal(goals, 'sequential read speed, N3 / Moose').met, false);
    assert.equal(goal(goals, 'metadata rename speed, N3 / Moose').met, false);
    const classicMoose = goal(goals, 'classic scenario total speed, N3 / Moose');
    assert.deepEqual([classicMoose.ratio, classicMoose.met], [undefined, undefined], 'no MooseFS value: n/a');
    const readdir = goal(goals, 'metadata readdir speed, N3 / Moose');
    assert.deepEqual([readdir.ratio, readdir.met], [undefined, undefined]);
    const md = markdownReport(report(goals));
    assert.match(md, /sequential read speed, N3 \/ Moose: 0\.75× \(goal ≥ 1×\) — not met/);
    assert.match(md, /metadata readdir speed, N3 \/ Moose: n\/a \(goal ≥ 1×\) — n\/a/);
    assert.doesNotMatch(md, /no peer in this run/);
  });

  it('lists the goals of the peer that ran only, never recovery', () => {
    const withRecovery = [...RESULTS, metric('recovery', 'heal', false, { N3: 2, Gluster: 1 })];
    const goals = evaluateGoals(withRecovery, NAMES, ['Gluster']);
    const peerGoals = goals.filter((g) => g.kind === 'peer');
    assert.equal(peerGoals.length, RESULTS.length);
    assert.ok(peerGoals.every((g) => g.goal.endsWith(' / Gluster') && !g.goal.startsWith('recovery')));
    assert.equal(goals[0]!.kind, 'classic', 'the classic goal is always listed first');
  });

  it('inverts durations so that a speed ratio above 1 means faster', () => {
    const time = metric('x', 't', false, { a: 2, b: 4 });
    assert.equal(speedRatio(time, 'a', 'b'), 2);
    assert.equal(speedRatio(metric('x', 'r', true, { a: 2, b: 4 }), 'a', 'b'), 0.5);
    assert.equal(speedRatio(time, 'a', 'missing'), undefined);
    assert.equal(speedRatio(undefined, 'a', 'b'), undefined);
  });
});

describe('bench --targets', () => {
  it('accepts known names in any order and case, reports them in canonical order', () => {
    assert.deepEqual(parseTargets('moosefs, LOCAL,gluster,local'), ['local', 'gluster', 'moosefs']);
    assert.deepEqual(parseTargets('n5,n3,n1'), ['n1', 'n3', 'n5']);
  });

  it('refuses unknown and empty lists with one line that names the known targets', () => {
    assert.throws(() => parseTargets('local,glusterfs'), (err: Error) => /unknown target "glusterfs"/.test(err.message) && /known: local, n1, n3, n3etcd, n3obs, n5, gluster, moosefs/.test(err.message) && !err.message.includes('\n'));
    assert.throws(() => parseTargets(' , '), /no target named/);
  });
});

function report(goals: ReturnType<typeof evaluateGoals>): BenchReport {
  return { version: 2, mode: 'quick', startedAt: '2026-01-01T00:00:00.000Z', durationS: 1, runs: 1, targets: ['N1', 'N3'], baseline: 'N1', results: RESULTS, goals };
}
