// The benchmark harness cannot rot: `node dist/bench/run.js --tiny` runs every workload against
// the local disk and a real quorumfs N=1 mount and writes report.md, report.json (a median per
// target for each workload) and report.svg; an unknown --targets name is refused with one line
// and exit code 2. The peers (--peers) install packages and start daemons: not run here.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runBench as runBenchWithin } from '../helpers/bench-runner.js';
import { after, describe, it } from 'node:test';
import { mountPoints } from '../../src/fuse/mount-table.js';

const RUN_TIMEOUT_MS = 90_000;
const runBench = (args: string[]) => runBenchWithin(args, RUN_TIMEOUT_MS);


interface ReportShape {
  targets: string[];
  results: { workload: string; metric: string; targets: Record<string, { median: number; min: number; max: number }> }[];
}

describe('bench harness', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('runs the tiny workload and writes the three reports', { timeout: RUN_TIMEOUT_MS + 10_000 }, async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'qfs-bench-test-'));
    dirs.push(out);
    const mountsBefore = await mountPoints();
    const r = await runBench(['--tiny', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| workload \| metric \|/);

    const md = await readFile(path.join(out, 'report.md'), 'utf8');
    assert.match(md, /quorumfs N=1/);
    const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as ReportShape;
    assert.deepEqual(report.targets, ['local disk', 'quorumfs N=1']);
    for (const workload of ['classic scenario', 'small files', 'sequential', 'random 4 KiB', 'metadata', 'parallel']) {
      const rows = report.results.filter((x) => x.workload === workload);
      assert.ok(rows.length > 0, `${workload} is in the report`);
      for (const row of rows) {
        for (const target of report.targets) {
          const median = row.targets[target]?.median;
          assert.ok(typeof median === 'number' && Number.isFinite(median) && median > 0, `${workload}/${row.metric} has a median for ${target}`);
        }
      }
    }
    const svg = await readFile(path.join(out, 'report.svg'), 'utf8');
    assert.ok(svg.startsWith('<svg'), 'report.svg is an SVG document');

    // Mounts that were there before (another test's, a user's) are not this run's to answer for.
    const left = (await mountPoints()).filter((m) => m.includes('qfs-mnt-') && !mountsBefore.includes(m));
    assert.deepEqual(left, [], 'no quorumfs mount is left behind');
  });

  it('refuses an unknown --targets name with one line and exit code 2, before starting anything', async () => {
    const r = await runBench(['--peers', '--targets', 'local,glusterfs']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--targets: unknown target "glusterfs" \(known: local, n1, n3, n3etcd, n3obs, n5, gluster, moosefs\)/);
    assert.equal(r.stdout, '');
  });
});
