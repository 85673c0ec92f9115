// The second half of the simulation's range of seeds (the first, with the regression seeds, the
// replay and the planted bugs, is in simulation.test.ts): a file of its own so that the sim tier
// runs the two halves at once.

import { describe, it } from 'node:test';
import { holdsOverSeeds, seedRange } from '../helpers/sim-seeds.js';

const { from, to } = seedRange(1, 2);

describe('simulation, more seeds', () => {
  it(`holds every invariant over seeds ${from}..${to}`, () => holdsOverSeeds(from, to));
});
