// The simulation's range of seeds, shared by the test files that split it so that the sim tier
// can run them two at a time: every seed from 1 to QFS_SIM_SEEDS (250 by default) runs in exactly
// one of them, each part asserting that its runs did work under faults.

import assert from 'node:assert/strict';
import { runSeed } from '../../sim/run-seed.js';

export const SIM_SEEDS = Number(process.env['QFS_SIM_SEEDS'] ?? 250);

/** Seeds of part `part` (0-based) of `parts`: contiguous, together 1..SIM_SEEDS. */
export function seedRange(part: number, parts: number): { from: number; to: number } {
  const size = Math.ceil(SIM_SEEDS / parts);
  return { from: part * size + 1, to: Math.min(SIM_SEEDS, (part + 1) * size) };
}

/** Runs every seed of the range; throws on the first violated invariant. */
export async function holdsOverSeeds(from: number, to: number): Promise<void> {
  let ops = 0;
  let faults = 0;
  for (let seed = from; seed <= to; seed++) {
    const report = await runSeed(seed);
    ops += report.ops;
    faults += Object.values(report.faults).reduce((a, b) => a + b, 0);
  }
  const seeds = to - from + 1;
  // The runs did work under faults, not nothing.
  assert.ok(ops >= seeds * 100, `only ${ops} operations ran`);
  assert.ok(faults >= seeds * 5, `only ${faults} faults were injected`);
}
