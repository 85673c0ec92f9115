// Command-line failures and their exit codes: 2 for bad usage (one line on stderr), 1 for
// runtime errors. Every command reports through here so the contract holds everywhere.

import { QfsError, messageOf } from '../common/errors.js';

const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

class UsageError extends Error {
  override name = 'UsageError';
}

export function usage(message: string): never {
  throw new UsageError(message);
}

/** Prints one line for the error and returns the exit code. */
export function reportCliError(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`quorumfs: ${err.message}\n`);
    return EXIT_USAGE;
  }
  const code = err instanceof QfsError ? ` [${err.code}]` : '';
  process.stderr.write(`quorumfs: ${messageOf(err)}${code}\n`);
  return EXIT_RUNTIME;
}
