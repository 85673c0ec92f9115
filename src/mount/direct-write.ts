// File data written by the mount straight to the replicas, one hop less than through the
// mediator (which received every byte, hashed it and sent it on three times). The same FileIo
// and Replicator the mediator uses run here: versions reserved from the metadata server, the
// blocks (or patches of them) sent to every writable data server and acknowledged by Qw, then
// the block map committed at the metadata server on the condition that what the write merged
// into is unchanged (STALE: planned again), which the metadata server reports to the other
// mounts. So the guarantees are the mediator's: a write is on Qw replicas, durably, before its
// map names it, and two writers of one block never lose each other's bytes.
//
// What the mount cannot do is left to the mediator: replicas a write missed and bad copies a
// merge read found are reported to it (replica-reports.ts), and it repairs them. A write the
// mount cannot make (too few writable servers as it knows them, a server gone, any error but a
// final one) is handed to the mediator, which waits for replacements and widens. Versions a
// failed write left on some servers are not committed; the scrubber's orphan collection removes
// them.

import { KeyedMutex } from '../common/async.js';
import { codeOf, type ErrorCode } from '../common/errors.js';
import type { Clock } from '../common/clock.js';
import { limits } from '../common/limits.js';
import type { Random } from '../common/random.js';
import type { InodeAttr, Timespec } from '../common/types.js';
import { metaMethods } from '../protocol/meta-messages.js';
import { FileIo, type Extent, type FileIoCounters } from '../replication/file-io.js';
import { Replicator, type ReplicaTarget, type ReplicatorOptions } from '../replication/replicator.js';
import { VersionAllocator } from '../replication/version-allocator.js';
import type { RpcChannel } from '../transport/rpc-channel.js';
import type { ReplicaReports } from './replica-reports.js';
import type { ReplicaTargets } from './replica-targets.js';

export interface DirectWriteOptions {
  /** The metadata server: block maps, versions and commits. */
  meta: RpcChannel;
  /** The data servers as the mediator lists them, and connections to them. */
  targets: ReplicaTargets;
  /** Where replicas found lacking are reported. */
  reports: ReplicaReports;
  blockSizeBytes: number;
  random: Random;
  clock: Clock;
  /** Told how each of this mount's quorum writes of a block ended (metrics). */
  onQuorum?: ReplicatorOptions['onQuorum'];
}

/** Errors the mediator would answer the same way: the write fails with them. PERMISSION is one:
 * a cluster whose servers refuse this mount's writes is misconfigured, and says so at once
 * rather than sending every write twice. */
const FINAL: ReadonlySet<ErrorCode> = new Set(['NOT_FOUND', 'IS_DIR', 'INVALID', 'NO_SPACE', 'PERMISSION', 'ACCESS']);

export interface DirectWriteCounters {
  /** Writes committed here. */
  written: number;
  /** Writes handed to the mediator. */
  handedOver: number;
}

export class DirectWriter {
  private readonly fileIo: FileIo;
  private readonly locks = new KeyedMutex<number>();
  readonly counters: DirectWriteCounters = { written: 0, handedOver: 0 };

  constructor(private readonly options: DirectWriteOptions) {
    const { targets, reports, clock } = options;
    const channels = (ids: string[] | undefined): ReplicaTarget[] =>
      (ids ?? []).flatMap((id) => {
        const client = targets.channel(id);
        return client ? [{ id, client }] : [];
      });
    const replicator = new Replicator({
      // The quorums of the list as last known (a write starts only once there is one).
      get readQuorum() {
        return targets.latest()?.readQuorum ?? Number.MAX_SAFE_INTEGER;
      },
      get writeQuorum() {
        return targets.latest()?.writeQuorum ?? Number.MAX_SAFE_INTEGER;
      },
      random: options.random,
      clock,
      liveTargets: () => channels(targets.latest()?.live),
      writableTargets: () => channels(targets.latest()?.writable),
      readRepair: false,
      onReadVote: (key, expected, result) => {
        for (const { server } of result.bad) reports.add({ key, version: expected.version, server, kind: 'bad' });
      },
      onWriteMiss: (key, version, server) => reports.add({ key, version, server, kind: 'missed' }),
      ...(options.onQuorum ? { onQuorum: options.onQuorum } : {}),
    });
    const meta = options.meta;
    this.fileIo = new FileIo({
      meta,
      replicator,
      versions: new VersionAllocator(async (count) => (await meta.call(metaMethods.reserveVersions, { count })).first),
      blockSizeBytes: options.blockSizeBytes,
      cacheBytes: limits.mountMergeBlockCacheBytes,
      committedCacheBytes: limits.mountCommittedBlockCacheBytes,
      clock,
      // Only a failed write frees versions here (a commit's are reported to the mediator by the
      // metadata server): the scrubber removes them.
      onOrphans: () => undefined,
    });
  }

  /** Writes the extents (applied in order) and commits them as one change, or has `viaMediator`
   * make the write when it cannot. Writes of one inode are made one at a time in the order they
   * came, whichever way each goes, so a later write never lands under an earlier one. */
  write(ino: number, extents: Extent[], time: Timespec | undefined, viaMediator: () => Promise<InodeAttr>): Promise<InodeAttr> {
    return this.locks.run(ino, async () => (await this.tryWrite(ino, extents, time)) ?? viaMediator());
  }

  private async tryWrite(ino: number, extents: Extent[], time: Timespec | undefined): Promise<InodeAttr | undefined> {
    const { targets, clock } = this.options;
    let view;
    try {
      view = await targets.current();
    } catch {
      return this.handOver(ino);
    }
    if (view.writable.length < view.writeQuorum || view.live.length < view.readQuorum) return this.handOver(ino);
    try {
      const attr = await this.fileIo.writeExtents(ino, extents, clock.nowMs() + limits.mountDirectWriteTimeoutMs, time);
      this.counters.written++;
      return attr;
    } catch (err) {
      if (FINAL.has(codeOf(err) as ErrorCode)) throw err;
      targets.forget();
      return this.handOver(ino);
    }
  }

  /** The counts of the FileIo at work here (plans from the cache, stale commits, patches). */
  get fileCounters(): FileIoCounters {
    return this.fileIo.counters;
  }

  /** A regular file this mount created: its first write needs no block-map read. */
  created(attr: InodeAttr): void {
    this.fileIo.created(attr);
  }

  /** The inode changed other than through this writer. */
  forget(ino: number): void {
    this.fileIo.forget(ino);
  }

  private handOver(ino: number): undefined {
    this.counters.handedOver++;
    this.fileIo.forget(ino);
    return undefined;
  }
}
