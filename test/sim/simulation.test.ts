// The simulation tier: whole clusters in one process under seeded fault schedules (sim/). A
// range of seeds, the seeds that once found bugs (kept as regression cases), replay from a seed
// giving the same run, and planted bugs that the checker must catch, so a pass means something.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSeed, Violation } from '../../sim/run-seed.js';
import { holdsOverSeeds, seedRange } from '../helpers/sim-seeds.js';
import type { PlantedBug } from '../../sim/sim-cluster.js';

/** Seeds that found bugs; each stays as a regression case (docs/simulation.md says what). A seed
 * names a run of the fault schedule as it was when it was found; the bugs themselves are pinned
 * by scenario tests that do not depend on the schedule (orphan-collection, scrub-healing). */
const REGRESSION_SEEDS = [4, 9, 21, 3686];
const { from, to } = seedRange(0, 2);

describe('simulation', () => {
  // Seeds past these run in simulation-more-seeds.test.ts, beside this file.
  it(`holds every invariant over seeds ${from}..${to}`, () => holdsOverSeeds(from, to));

  for (const seed of REGRESSION_SEEDS) {
    it(`regression seed ${seed}`, async () => {
      const report = await runSeed(seed);
      assert.equal(report.seed, seed);
    });
  }

  it('replays a run exactly from its seed', async () => {
    const a = await runSeed(4242);
    const b = await runSeed(4242);
    assert.deepEqual(a, b);
    const c = await runSeed(4243);
    assert.notDeepEqual(a, c, 'another seed gave the same run: the seed does not reach the schedule');
  });

  const planted: Array<{ bug: PlantedBug; what: string; ticks: number; caughtBy: RegExp }> = [
    { bug: 'meta-forgets-commits', what: 'a metadata server that acknowledges commits it never made', ticks: 120, caughtBy: /^(reads-match-model|no-acknowledged-write-lost)$/ },
    { bug: 'delete-committed', what: 'a collector that deletes the version the block map names', ticks: 120, caughtBy: /^no-committed-delete$/ },
    { bug: 'ignore-holds', what: 'a metadata server that forgets the holds on open files', ticks: 240, caughtBy: /^open-files-survive-unlink$/ },
    { bug: 'unverified-repair', what: 'a repair that copies bytes it did not verify', ticks: 120, caughtBy: /^verified-copies-only$/ },
  ];
  for (const { bug, what, ticks, caughtBy } of planted) {
    it(`catches ${what}`, async () => {
      await assert.rejects(runSeed(3, { ticks, plantedBug: bug }), (err: unknown) => {
        assert.ok(err instanceof Violation, String(err));
        assert.match(err.invariant, caughtBy);
        return true;
      });
    });
  }
});
