// The mediator's metrics, read from the very figures `quorumfs status` shows (the status report,
// taken once per scrape) rather than from a second set of counters; plus the outcome of every
// quorum read and write, counted as it happens. A figure status does not know (the metadata
// server did not answer; this mediator does not lead) is no sample, never 0.

import { Counter, type Registry } from 'prom-client';
import type { StatusReport } from '../protocol/mediator-messages.js';
import type { QuorumOutcome } from '../replication/replicator.js';
import { FigureCounter, FigureGauge, type FigureSample } from './process-registry.js';

/** Every state a data server can be in (core/membership.ts): each is a sample, 0 included. */
const SERVER_STATES = ['starting', 'healing', 'live', 'down', 'replaced'] as const;
const QUORUM_OPS = ['read', 'write'] as const;
const QUORUM_OUTCOMES: readonly QuorumOutcome[] = ['good', 'widened', 'failed'];

type Counters = StatusReport['counters'];

export class MediatorMetrics {
  private report: StatusReport | undefined;
  /** Whether this mediator leads (serves the cluster) at this scrape; undefined before one. */
  private leading: boolean | undefined;
  private readonly quorum: Counter<string>;

  constructor(registry: Registry) {
    this.quorum = new Counter({
      name: 'quorumfs_quorum_operations_total',
      help: "Quorum reads and writes of a block by this mediator: good at the first try, widened (a read asked servers beyond the first Qr; a write was sent again), failed",
      labelNames: ['op', 'outcome'],
      registers: [registry],
    });
    for (const op of QUORUM_OPS) for (const outcome of QUORUM_OUTCOMES) this.quorum.inc({ op, outcome }, 0);

    const gauge = (name: string, help: string, read: (r: StatusReport) => FigureSample[], labelNames: string[] = []): void => {
      new FigureGauge({ name, help, labelNames, registry, read: () => (this.report ? read(this.report) : []) });
    };
    const known = (value: number | null | undefined): FigureSample[] => (value === null || value === undefined ? [] : [{ value }]);
    const counter = (name: string, help: string, key: keyof Counters): void => {
      new FigureCounter({ name, help, registry, read: () => known(this.report?.counters[key]) });
    };
    const dataServers = (r: StatusReport): StatusReport['servers'] => r.servers.filter((s) => s.role === 'data');
    const perServer = (pick: (s: StatusReport['servers'][number]) => number | null | undefined) => (r: StatusReport): FigureSample[] =>
      dataServers(r).flatMap((s) => known(pick(s)).map((x) => ({ labels: { server: s.id }, value: x.value })));

    new FigureGauge({
      name: 'quorumfs_mediator_leading',
      help: 'Whether this mediator leads (1) or follows (0); with one mediator, always 1',
      registry,
      read: () => (this.leading === undefined ? [] : [{ value: this.leading ? 1 : 0 }]),
    });
    gauge('quorumfs_servers', 'Data servers by state (starting, healing, live, down, replaced)', (r) => SERVER_STATES.map((state) => ({ labels: { state }, value: dataServers(r).filter((s) => s.state === state).length })), ['state']);
    gauge('quorumfs_meta_server_up', 'Whether the metadata server this mediator runs is up (1) or not (0)', (r) => r.servers.filter((s) => s.role === 'meta').map((s) => ({ value: s.state === 'live' ? 1 : 0 })));
    gauge('quorumfs_under_replicated_blocks', 'Committed blocks lacking a good copy on some server that should hold one (absent when not known)', (r) => known(r.counters.underReplicated));
    gauge('quorumfs_fully_replicated', 'Whether every committed block has its full number of good copies (absent when not known)', (r) => (r.fullyReplicated === null ? [] : [{ value: r.fullyReplicated ? 1 : 0 }]));
    gauge('quorumfs_inodes', 'Inodes in the file system (from the metadata server)', (r) => known(r.counters.inodes));
    gauge('quorumfs_committed_blocks', 'Committed blocks in the file system (from the metadata server)', (r) => known(r.counters.blocks));
    gauge('quorumfs_committed_bytes', 'Bytes of file data committed (from the metadata server)', (r) => known(r.counters.bytes));
    gauge('quorumfs_heal_remaining_blocks', 'Blocks a live or healing data server still lacks (absent while a heal has not finished comparing)', perServer((s) => s.lackingBlocks), ['server']);
    gauge('quorumfs_server_blocks', 'Block versions a data server holds, as its last heartbeat said', perServer((s) => s.blocks), ['server']);
    gauge('quorumfs_server_disk_capacity_bytes', "Size of a data server's file system, as its last heartbeat said", perServer((s) => s.capacityBytes), ['server']);
    gauge('quorumfs_server_disk_free_bytes', "Free space on a data server's file system, as its last heartbeat said", perServer((s) => s.freeBytes), ['server']);
    gauge('quorumfs_cluster_capacity_bytes', 'What the cluster can store (statfs reports the same)', (r) => known(r.space?.capacityBytes));
    gauge('quorumfs_cluster_free_bytes', 'What the cluster can still store (statfs reports the same)', (r) => known(r.space?.freeBytes));
    gauge('quorumfs_spare_ports_left', 'Spare ports left for replacement data servers', (r) => [{ value: r.sparePortsLeft.length }]);
    gauge('quorumfs_scrub_running', 'Whether a scrub pass is running (absent before the first)', (r) => (r.scrub ? [{ value: r.scrub.running ? 1 : 0 }] : []));
    gauge('quorumfs_scrub_checked_blocks', 'Blocks the running (or last) scrub pass has verified', (r) => (r.scrub ? [{ value: r.scrub.progress.doneBlocks }] : []));
    gauge('quorumfs_scrub_total_blocks', 'Blocks the running (or last) scrub pass verifies in all', (r) => (r.scrub ? [{ value: r.scrub.progress.totalBlocks }] : []));
    counter('quorumfs_corrupt_replicas_found_total', 'Bad replicas found (reads, scrubs, mounts reporting them)', 'corruptFound');
    counter('quorumfs_corrupt_replicas_repaired_total', 'Bad replicas rewritten from a verified copy', 'corruptRepaired');
    counter('quorumfs_healed_blocks_total', 'Blocks heals copied to data servers that lacked them', 'healedBlocks');
    counter('quorumfs_scrub_passes_total', 'Scrub passes completed', 'scrubPasses');
    counter('quorumfs_replacements_total', 'Data servers replaced (a new one on a spare port, or a standby promoted)', 'replacements');
    counter('quorumfs_write_misses_total', 'Replicas a committed write did not reach (repaired later)', 'writeMisses');
    counter('quorumfs_meta_restarts_total', 'Restarts of the metadata server after it crashed', 'metaRestarts');
  }

  /** The status report of this scrape; undefined when there is none (not leading, failed). */
  update(report: StatusReport | undefined, leading: boolean): void {
    this.report = report;
    this.leading = leading;
  }

  quorumOutcome(op: 'read' | 'write', outcome: QuorumOutcome): void {
    this.quorum.inc({ op, outcome });
  }
}
