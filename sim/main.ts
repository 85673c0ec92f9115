// `npm run sim -- --seed N [--ticks T]` replays one seed; `--seeds K [--from S]` runs K seeds in
// a row and reports throughput. A violation prints the invariant, the seed, the replay command
// and the last log lines, and exits 1.

import { parseArgs } from 'node:util';
import { defaultSeedOptions, runSeed, type SeedReport } from './run-seed.js';

function integerArg(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    process.stderr.write(`quorumfs sim: --${name} must be an integer of at least ${min}, not '${value}'\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  process.stdout.on('error', () => process.exit(0)); // a closed pipe (| head) ends the run quietly
  let parsed;
  try {
    parsed = parseArgs({ options: { seed: { type: 'string' }, seeds: { type: 'string' }, from: { type: 'string' }, ticks: { type: 'string' }, verbose: { type: 'boolean' } }, strict: true });
  } catch (err) {
    process.stderr.write(`quorumfs sim: ${(err as Error).message}\nusage: npm run sim -- --seed N [--ticks T] | --seeds K [--from S] [--ticks T]\n`);
    process.exit(2);
  }
  const v = parsed.values;
  const ticks = integerArg(v.ticks, 'ticks', defaultSeedOptions.ticks, 1);
  const seeds = v.seed !== undefined ? [integerArg(v.seed, 'seed', 0, 0)] : range(integerArg(v.from, 'from', 1, 0), integerArg(v.seeds, 'seeds', 100, 1));
  const started = performance.now();
  let ops = 0;
  let virtualMs = 0;
  for (const seed of seeds) {
    let report: SeedReport;
    try {
      report = await runSeed(seed, { ticks });
    } catch (err) {
      const e = err as Error & { seed?: number; logs?: string[] };
      process.stderr.write(`\nVIOLATION at seed ${seed}: ${e.message}\nreplay: npm run sim -- --seed ${seed} --ticks ${ticks}\n`);
      if (e.logs?.length) process.stderr.write(`last log lines:\n${e.logs.join('\n')}\n`);
      process.exit(1);
    }
    ops += report.ops;
    virtualMs += report.virtualMs;
    if (v.verbose || seeds.length === 1) process.stdout.write(`${JSON.stringify(report)}\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${seeds.length} seeds passed: ${ops} operations in ${seconds.toFixed(1)} s (${Math.round(ops / seconds)} simulated operations/s, ${(virtualMs / 1000 / seconds).toFixed(0)}× real time)\n`,
  );
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

await main();
