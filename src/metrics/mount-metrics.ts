// The mount's metrics: every FUSE operation counted per op and outcome (ok, or the errno name the
// kernel is answered with: EIO when the error carries none) with a duration histogram per op, and
// the bytes read and written through the mount. The file system is wrapped, not changed: each
// operation it implements is replaced by one that times it and calls it. Labels are op names and
// errno names, both bounded sets; never paths or inode numbers.

import { Counter, Histogram, type Registry } from 'prom-client';
import { errnoName } from '../fuse/errno-codes.js';
import { errnoOf } from '../fuse/fuse-error.js';
import type { FuseOperations } from '../fuse/fuse-operations.js';
import type { QuorumOutcome } from '../replication/replicator.js';

/** The request operations counted (init, destroy and forget are not requests a caller waits on). */
const COUNTED_OPS = [
  'lookup', 'getattr', 'setattr', 'readlink', 'mknod', 'mkdir', 'unlink', 'rmdir', 'symlink', 'rename', 'link', 'open', 'create',
  'read', 'write', 'flush', 'release', 'fsync', 'opendir', 'readdir', 'readdirplus', 'releasedir', 'fsyncdir', 'statfs', 'setxattr',
  'getxattr', 'listxattr', 'removexattr', 'access', 'fallocate', 'lseek', 'getlk', 'setlk',
] as const satisfies readonly (keyof FuseOperations)[];

/** From a cached getattr (tens of µs) to a write that waits for a replacement server. */
const FUSE_DURATION_BUCKETS_SECONDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Operation = (...args: unknown[]) => unknown;

/** `ops` with every counted operation it implements timed and counted in `registry`. */
export function instrumentOperations(ops: FuseOperations, registry: Registry): FuseOperations {
  const requests = new Counter({ name: 'quorumfs_fuse_operations_total', help: 'FUSE operations answered by this mount, per op and outcome (ok or the errno name)', labelNames: ['op', 'outcome'], registers: [registry] });
  const duration = new Histogram({ name: 'quorumfs_fuse_operation_duration_seconds', help: 'Time to answer a FUSE operation, per op', labelNames: ['op'], buckets: FUSE_DURATION_BUCKETS_SECONDS, registers: [registry] });
  const readBytes = new Counter({ name: 'quorumfs_mount_read_bytes_total', help: 'File bytes read through this mount (read replies)', registers: [registry] });
  const writtenBytes = new Counter({ name: 'quorumfs_mount_written_bytes_total', help: 'File bytes written through this mount (write requests answered ok)', registers: [registry] });

  const wrapped: Record<string, unknown> = {};
  // Operations not counted (init, destroy, forget) pass through unchanged, bound to `ops`.
  for (const name of ['init', 'destroy', 'forget'] as const) {
    const fn = ops[name] as Operation | undefined;
    if (typeof fn === 'function') wrapped[name] = (...args: unknown[]) => fn.apply(ops, args);
  }
  for (const op of COUNTED_OPS) {
    const fn = ops[op] as Operation | undefined;
    if (typeof fn !== 'function') continue;
    wrapped[op] = (...args: unknown[]): unknown => {
      const startedNs = process.hrtime.bigint();
      const done = (outcome: string, value?: unknown): void => {
        requests.inc({ op, outcome });
        duration.observe({ op }, Number(process.hrtime.bigint() - startedNs) / 1e9);
        if (outcome !== 'ok') return;
        if (op === 'read' && value instanceof Uint8Array) readBytes.inc(value.length);
        if (op === 'write') writtenBytes.inc(writtenLength(args[1]));
      };
      const failed = (err: unknown): string => errnoName(errnoOf(err)) ?? 'EIO';
      let result: unknown;
      try {
        result = fn.apply(ops, args);
      } catch (err) {
        done(failed(err));
        throw err;
      }
      if (result instanceof Promise) {
        return result.then(
          (value: unknown) => {
            done('ok', value);
            return value;
          },
          (err: unknown) => {
            done(failed(err));
            throw err;
          },
        );
      }
      done('ok', result);
      return result;
    };
  }
  return wrapped as FuseOperations;
}

/** Counts the outcome of each quorum write of a block the mount makes itself (direct writes; a
 * write it hands over to the mediator is counted there as well). */
export function mountQuorumMetrics(registry: Registry): (op: 'read' | 'write', outcome: QuorumOutcome) => void {
  const quorum = new Counter({
    name: 'quorumfs_quorum_operations_total',
    help: "This mount's own quorum writes of a block: good at the first try, widened (sent again), failed (then handed to the mediator)",
    labelNames: ['op', 'outcome'],
    registers: [registry],
  });
  for (const outcome of ['good', 'widened', 'failed'] as const) quorum.inc({ op: 'write', outcome }, 0);
  return (op, outcome) => quorum.inc({ op, outcome });
}

/** The bytes of a write request's args ({ data: Buffer }); 0 if it has none. */
function writtenLength(args: unknown): number {
  const data = typeof args === 'object' && args !== null ? (args as { data?: unknown }).data : undefined;
  return data instanceof Uint8Array ? data.length : 0;
}
