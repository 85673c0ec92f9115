// The benchmark harness cannot rot: `node dist/bench/run.js --tiny` runs every workload against
// the local disk and a real quorumfs N=1 mount and writes report.md, report.json (a median per
// target for each workload) and report.svg; an unknown --targets name is refused with one line
// and exit code 2. The peers (--peers) install packages and start daemons: not run here.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const RUNNER = fileURLToPath(new URL('../../bench/run.js', import.meta.url));
const RUN_TIMEOUT_MS = 90_000;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    // SIGTERM first: the runner stops its clusters and mounts on it.
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`bench did not finish within ${RUN_TIMEOUT_MS} ms: ${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

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
    const r = await runBench(['--tiny', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| workload \| metric \|/);

    const md = await readFile(path.join(out, 'report.md'), 'utf8');
    assert.match(md, /quorumfs N=1/);
    const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as ReportShape;
    assert.deepEqual(report.targets, ['local disk', 'quorumfs N=1']);
    for (const workload of ['classic scenario', 'small files', 'sequential', 'random 4 KiB', 'metadata']) {
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

    const mounts = await readFile('/proc/mounts', 'utf8');
    assert.ok(!mounts.includes('qfs-mnt-'), 'no quorumfs mount is left behind');
  });

  it('refuses an unknown --targets name with one line and exit code 2, before starting anything', async () => {
    const r = await runBench(['--peers', '--targets', 'local,glusterfs']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--targets: unknown target "glusterfs" \(known: local, n1, n3, n5, gluster, moosefs\)/);
    assert.equal(r.stdout, '');
  });
});
