// The scale benchmark's pure parts: the targets (met / not met / unknown, never a 0 standing in
// for a missing figure; projection to 200,000 as fixed part plus linear part), the readers of
// list-contents and ls output and of status reports that lack fields, the file layout, the
// mediator-log complaint picker and the --scale options.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchOptions } from '../../bench/options.js';
import type { HealFigure } from '../../bench/scale/heal.js';
import { placement, spreadDirCount } from '../../bench/scale/layout.js';
import { countLsEntries, parseListContents } from '../../bench/scale/listings.js';
import { lastComplaint } from '../../bench/scale/mediator-log.js';
import { scaleSizes } from '../../bench/scale/scale-options.js';
import { evaluateScaleTargets, project, type ScaleFigures } from '../../bench/scale/scale-results.js';
import { counter, dataServers, fullyReplicated, scrubView } from '../../bench/scale/status-fields.js';

const MiB = 1024 * 1024;

function heal(blocks: number, seconds: number | undefined, replaceSeconds: number, verified = true): HealFigure {
  return { blocks, terminatedPort: 1, replacementPort: 2, replaceSeconds, seconds, blocksPerS: seconds === undefined ? undefined : blocks / seconds, healReportedBlocks: blocks, verified };
}

function figures(overrides: Partial<ScaleFigures> = {}): ScaleFigures {
  return {
    fill: { files: 20_000, seconds: 40, filesPerS: 500, phases: [] },
    ls: { dir: 'big', expected: 10_000, entries: 10_000, seconds: 1 },
    heals: [heal(2_000, 2.5, 0.5), heal(20_000, 20.5, 0.5)],
    scrub: { seconds: 10, copiesVerified: 60_000, copiesPerS: 6_000, expectedCopies: 60_000, failedCopies: 0, summary: undefined },
    listContents: { port: 1, entries: 20_000, keys: 20_000, seconds: 0.7, cliStartupSeconds: 0.2 },
    memory: [
      { role: 'mount', pid: 1, peakBytes: 100 * MiB },
      { role: 'data server', pid: 2, id: 'a', peakBytes: 600 * MiB },
      { role: 'metadata server', pid: 3, peakBytes: undefined },
    ],
    metadata: undefined,
    verifiedFiles: 200,
    ...overrides,
  };
}

describe('scale bench targets', () => {
  it('projects a fixed part plus a linear part to 200,000', () => {
    assert.equal(project(2.5, 0.5, 2_000), 0.5 + 2 * 100);
    assert.equal(project(0.1, 0.2, 2_000), 0.1, 'a fixed part above the whole time counts as the whole time');
    assert.equal(project(undefined, 0.5, 2_000), undefined);
    assert.equal(project(1, 0.5, 0), undefined);
  });

  it('judges heal on the largest verified heal and says it is projected', () => {
    const [healTarget, growth] = evaluateScaleTargets(figures());
    assert.equal(healTarget!.value, 0.5 + 20 * 10);
    assert.equal(healTarget!.verdict, 'not met');
    assert.match(healTarget!.basis, /projected from 20000 blocks/);
    assert.equal(growth!.value, 1); // 20 s / 2 s for 10× the blocks
    assert.equal(growth!.verdict, 'met');
  });

  it('is unknown, never 0 or met, when a figure is missing or a heal was not confirmed', () => {
    const t = evaluateScaleTargets(figures({ heals: [heal(2_000, 2.5, 0.5), heal(20_000, 20.5, 0.5, false)], listContents: { port: 1, entries: undefined, keys: undefined, seconds: undefined, cliStartupSeconds: 0.2 } }));
    const byName = (prefix: string) => t.find((x) => x.target.startsWith(prefix))!;
    assert.match(byName('heal of').basis, /from 2000 blocks/, 'the unconfirmed heal is not used');
    assert.equal(byName('heal time').verdict, 'unknown');
    assert.equal(byName('list-contents').verdict, 'unknown');
    assert.equal(byName('list-contents').value, undefined);
    assert.equal(byName('peak resident memory of the metadata server').verdict, 'unknown');
    assert.equal(byName('peak resident memory of the data server a').verdict, 'not met');
    assert.equal(byName('peak resident memory of the mount').verdict, 'met');
  });

  it('says measured at 200,000', () => {
    const t = evaluateScaleTargets(figures({ heals: [heal(20_000, 10, 0.5), heal(200_000, 100.5, 0.5)] }));
    assert.equal(t[0]!.basis, 'measured at 200000 blocks');
    assert.equal(t[0]!.value, 100.5);
    assert.equal(t[0]!.verdict, 'met');
  });
});

describe('scale bench readers', () => {
  it('reads list-contents as one JSON array, an object with entries, or JSON lines', () => {
    const a = parseListContents(Buffer.from('[{"key":"2:0","version":1},{"key":"2:0","version":2},{"key":"3:0"}]\n'));
    assert.deepEqual([a.entries, [...a.keys]], [3, ['2:0', '3:0']]);
    assert.equal(parseListContents(Buffer.from('{"entries":[{"key":"2:0"}],"truncated":false}')).keys.size, 1);
    assert.equal(parseListContents(Buffer.from('{"key":"2:0"}\n{"key":"4:0"}\n')).keys.size, 2);
    assert.throws(() => parseListContents(Buffer.from('')), /printed nothing/);
    assert.throws(() => parseListContents(Buffer.from('[{"nokey":1}]')), /without a key/);
    assert.throws(() => parseListContents(Buffer.from('{"key":"2:0"}\nnot json')), /line 2 is not JSON/);
  });

  it('counts ls -f entries without . and ..', () => {
    assert.equal(countLsEntries(Buffer.from('.\n..\nf0\nf2\n')), 2);
  });

  it('reads status fields that are missing or of another type as undefined', () => {
    const status = { servers: [{ id: 'x', role: 'data', state: 'live', heal: { doneBlocks: 'many' } }, { role: 'data' }, 5], counters: { underReplicated: 3 } };
    const [x, ...rest] = dataServers(status);
    assert.equal(rest.length, 0);
    assert.equal(x!.heal!.doneBlocks, undefined);
    assert.equal(x!.pid, undefined);
    assert.equal(counter(status, 'underReplicated'), 3);
    assert.equal(counter(status, 'absent'), undefined);
    assert.equal(counter(null, 'blocks'), undefined);
    assert.deepEqual(dataServers('garbage'), []);
    assert.equal(scrubView({ scrub: { running: false, progress: { doneBlocks: 6 } } })!.doneBlocks, 6);
  });

  it('keeps null (not known) apart from absent', () => {
    const status = { servers: [{ id: 'x', role: 'data', lackingBlocks: null, heal: { lastError: 'UNAVAILABLE', nextRetryMs: 900 } }], counters: { underReplicated: null, blocks: 7 }, fullyReplicated: null };
    assert.equal(counter(status, 'underReplicated'), null);
    assert.equal(counter(status, 'blocks'), 7);
    assert.equal(fullyReplicated(status), null);
    assert.equal(fullyReplicated({}), undefined);
    const [x] = dataServers(status);
    assert.equal(x!.lackingBlocks, null);
    assert.deepEqual([x!.heal!.lastError, x!.heal!.nextRetryMs], ['UNAVAILABLE', 900]);
    assert.deepEqual(scrubView({ scrub: { running: false, complete: false, reason: 'server down', progress: {} } }), { running: false, totalBlocks: undefined, doneBlocks: undefined, failedBlocks: undefined, endedMs: undefined, complete: false, reason: 'server down' });
  });

  it("picks the mediator's last warning or error", () => {
    const log = ['{"level":30,"msg":"healing data server"}', '{"level":50,"msg":"heal failed","server":"127.0.0.1:5","err":"QfsError: frame header of 623719 bytes exceeds 262144"}', 'not json', '{"level":30,"msg":"later info"}'].join('\n');
    assert.equal(lastComplaint(log), 'heal failed (server=127.0.0.1:5, err=QfsError: frame header of 623719 bytes exceeds 262144)');
    assert.equal(lastComplaint('{"level":30,"msg":"fine"}'), undefined);
  });
});

describe('scale bench layout and options', () => {
  it('puts bigDirFiles files in /big and the rest 1,000 per directory, each once', () => {
    const sizes = scaleSizes('tiny', '2500', undefined);
    assert.equal(sizes.bigDirFiles, 1_250);
    const seen = new Set<string>();
    const perDir = new Map<string, number>();
    for (let i = 0; i < sizes.files; i++) {
      const p = placement(i, sizes);
      seen.add(`${p.dir}/${p.name}`);
      perDir.set(p.dir, (perDir.get(p.dir) ?? 0) + 1);
    }
    assert.equal(seen.size, sizes.files);
    assert.equal(perDir.get('big'), 1_250);
    assert.deepEqual([perDir.get('d0'), perDir.get('d1'), perDir.size - 1], [1_000, 250, spreadDirCount(sizes)]);
    const firstTenth = new Set(Array.from({ length: sizes.firstHealFiles }, (_, i) => placement(i, sizes).dir));
    assert.ok(firstTenth.has('big') && firstTenth.has('d0'), 'the first heal covers both kinds of directory');
  });

  it('caps the large directory at 100,000 entries', () => {
    const sizes = scaleSizes('full', undefined, undefined);
    assert.deepEqual([sizes.files, sizes.bigDirFiles, sizes.firstHealFiles], [200_000, 100_000, 20_000]);
    const big = scaleSizes('full', '300000', undefined);
    assert.equal(big.bigDirFiles, 100_000);
    assert.equal(placement(299_999, big).dir, 'd199');
  });

  it('parses --scale with its modes and refuses what does not belong', () => {
    assert.equal(parseBenchOptions(['--scale', '--quick']).scale!.files, 20_000);
    assert.equal(parseBenchOptions(['--scale', '--tiny']).scale!.files, 2_000);
    assert.equal(parseBenchOptions(['--scale', '--files', '5_000', '--concurrency', '64']).scale!.concurrency, 64);
    assert.equal(parseBenchOptions(['--quick']).scale, undefined);
    assert.throws(() => parseBenchOptions(['--scale', '--peers']), /--scale takes no --peers/);
    assert.throws(() => parseBenchOptions(['--scale', '--files', '10']), /--files: '10' is not a whole number from 20/);
    assert.throws(() => parseBenchOptions(['--concurrency', '8']), /--concurrency applies to --scale only/);
  });
});
