// Entry point: `node dist/memfs/main.js <mountpoint> [options]` mounts an in-memory
// file system in the foreground and unmounts on SIGINT/SIGTERM. Prints nothing unless
// --verbose (then one JSON line per event on stderr). Exit codes: 0 after a clean unmount,
// 1 if mounting failed, 2 for bad arguments.

import { parseArgs } from 'node:util';

import { FuseSession } from '../src/fuse/fuse-binding.js';
import { MemFs } from './mem-fs.js';

const USAGE =
  'usage: memfs <mountpoint> [--attr-timeout S] [--entry-timeout S] [--negative-timeout S]\n' +
  '             [--no-default-permissions] [--no-allow-other] [--writeback-cache] [--no-xattrs]\n' +
  '             [--capacity-bytes N] [--fsname NAME] [--test-hooks] [--verbose]';

function fail(message: string): never {
  process.stderr.write(`memfs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function seconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) fail(`${name} must be a number of seconds >= 0`);
  return n;
}

function log(enabled: boolean, event: Record<string, unknown>): void {
  if (enabled) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), component: 'memfs', ...event })}\n`);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        'attr-timeout': { type: 'string' },
        'entry-timeout': { type: 'string' },
        'negative-timeout': { type: 'string' },
        'no-default-permissions': { type: 'boolean' },
        'no-allow-other': { type: 'boolean' },
        'writeback-cache': { type: 'boolean' },
        'no-xattrs': { type: 'boolean' },
        'capacity-bytes': { type: 'string' },
        fsname: { type: 'string' },
        'test-hooks': { type: 'boolean' },
        verbose: { type: 'boolean' },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) fail('exactly one mount point is needed');
  const mountpoint = positionals[0]!;
  const verbose = values.verbose === true;
  const attrTimeoutSec = seconds(values['attr-timeout'], '--attr-timeout', 1);
  const capacity = values['capacity-bytes'] === undefined ? undefined : Number(values['capacity-bytes']);
  if (capacity !== undefined && !(Number.isSafeInteger(capacity) && capacity > 0)) fail('--capacity-bytes must be a positive integer');
  const defaultPermissions = values['no-default-permissions'] !== true;
  const allowOther = values['no-allow-other'] !== true && process.getuid?.() === 0;

  const fs = new MemFs({
    attrTimeoutSec,
    entryTimeoutSec: seconds(values['entry-timeout'], '--entry-timeout', attrTimeoutSec),
    negativeTimeoutSec: seconds(values['negative-timeout'], '--negative-timeout', 0),
    enforcePermissions: !defaultPermissions,
    capacityBytes: capacity,
    // Failure injection for the test suite only; QUORUMFS_MEMFS_TEST_HOOKS=1 works as well.
    testHooks: values['test-hooks'] === true || process.env['QUORUMFS_MEMFS_TEST_HOOKS'] === '1',
  });
  const mountOptions = [`fsname=${values.fsname ?? 'memfs'}`, 'subtype=memfs'];
  if (defaultPermissions) mountOptions.push('default_permissions');
  if (allowOther) mountOptions.push('allow_other');

  let session: FuseSession;
  try {
    session = await FuseSession.mount({
      mountpoint,
      operations: fs,
      exclude: values['no-xattrs'] ? ['setxattr', 'getxattr', 'listxattr', 'removexattr'] : [],
      mountOptions,
      conn: { writebackCache: values['writeback-cache'] === true },
      handleSignals: true,
      onHandlerError: ({ op, errno, error }) => log(verbose, { event: 'handler-error', op, errno, error: String(error) }),
    });
  } catch (err) {
    process.stderr.write(`memfs: cannot mount ${mountpoint}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (attrTimeoutSec > 0) {
    fs.setInvalidator((ino) => {
      session.invalidateInode(ino, -1, 0).catch(() => undefined);
    });
  }
  log(verbose, { event: 'mounted', mountpoint, options: mountOptions });
  const result = await session.closed;
  log(verbose, { event: 'unmounted', mountpoint, result, stats: session.stats });
}

main().catch((err: unknown) => {
  process.stderr.write(`memfs: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
