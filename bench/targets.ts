// The systems under test: the local disk (a plain temp dir, the ceiling), quorumfs clusters of
// N = 1, 3 and 5, opened fresh (new cluster and mount) for every run, and the peers GlusterFS and
// MooseFS, started once per bench invocation (bench/peers/), of which every run gets a fresh,
// empty sub-directory. open() returns a directory driven with async fs calls and a close() that
// stops or removes everything it started.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePorts, startCluster, type Cluster } from '../test/helpers/cluster.js';
import { startMount, type Mount } from '../test/helpers/mount.js';
import { loggedMetricsUrl, type TargetGroup } from '../test/helpers/prom-text.js';
import { EtcdMember } from '../test/helpers/etcd.js';
import type { BenchOptions, TargetKey } from './options.js';
import { GlusterFsPeer } from './peers/glusterfs.js';
import { MooseFsPeer } from './peers/moosefs.js';
import type { Peer, PeerLog } from './peers/peer.js';

export type PeerKind = 'glusterfs' | 'moosefs';

export interface TargetSpec {
  name: string;
  /** undefined for the local disk and the peers */
  quorum?: { readQuorum: number; writeQuorum: number; dataServers: number };
  /** set for a peer file system */
  peer?: PeerKind;
  /** The metadata in etcd (a local member started for the run) instead of SQLite. */
  etcd?: boolean;
  /** Every process serves metrics (scraped every second, as a tight Prometheus would) and the
   * mediator serves its status page: what watching a cluster costs. */
  observed?: boolean;
}

export interface OpenTarget {
  spec: TargetSpec;
  dir: string;
  /** The cluster behind the mount (quorumfs targets only). */
  cluster: Cluster | undefined;
  close(): Promise<void>;
}

const LOCAL: TargetSpec = { name: 'local disk' };
export const N1: TargetSpec = { name: 'quorumfs N=1', quorum: { readQuorum: 1, writeQuorum: 1, dataServers: 1 } };
export const N3: TargetSpec = { name: 'quorumfs N=3', quorum: { readQuorum: 2, writeQuorum: 3, dataServers: 3 } };
/** N=3 with its metadata in etcd (one local member): the metadata engines compared. */
const N3_ETCD: TargetSpec = { ...N3, name: 'quorumfs N=3 etcd', etcd: true };
/** N=3 with metrics and the status page on: the cost of observing it. */
const N3_OBSERVED: TargetSpec = { ...N3, name: 'quorumfs N=3 observed', observed: true };
const N5: TargetSpec = { name: 'quorumfs N=5', quorum: { readQuorum: 3, writeQuorum: 5, dataServers: 5 } };
export const GLUSTERFS: TargetSpec = { name: 'GlusterFS r3', peer: 'glusterfs' };
export const MOOSEFS: TargetSpec = { name: 'MooseFS g3', peer: 'moosefs' };

const BY_KEY: Record<TargetKey, TargetSpec> = { local: LOCAL, n1: N1, n3: N3, n3etcd: N3_ETCD, n3obs: N3_OBSERVED, n5: N5, gluster: GLUSTERFS, moosefs: MOOSEFS };

/** --targets as given; else local and N=1 (--tiny) or local and N=1, 3, 5; plus both peers with --peers. */
export function selectTargets(options: Pick<BenchOptions, 'mode' | 'peers' | 'targets'>): TargetSpec[] {
  if (options.targets) return options.targets.map((k) => BY_KEY[k]);
  const specs = options.mode === 'tiny' ? [LOCAL, N1] : [LOCAL, N1, N3, N5];
  return options.peers ? [...specs, GLUSTERFS, MOOSEFS] : specs;
}

/** A peer, not started yet (see Peer.start()). */
export function createPeer(kind: PeerKind, log: PeerLog): Peer {
  switch (kind) {
    case 'glusterfs':
      return new GlusterFsPeer(log);
    case 'moosefs':
      return new MooseFsPeer(log);
    default: {
      const unknown: never = kind;
      throw new Error(`unknown peer ${String(unknown)}`);
    }
  }
}

/** Opens a target for one run; a peer target needs its started peer. */
export async function openTarget(spec: TargetSpec, peer?: Peer): Promise<OpenTarget> {
  if (spec.peer) {
    if (!peer) throw new Error(`${spec.name} is not running`);
    const dir = await mkdtemp(path.join(peer.dir, 'run-'));
    return { spec, dir, cluster: undefined, close: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }) };
  }
  if (!spec.quorum) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-bench-local-'));
    // Retries: after a signal the workload in flight may still be writing here.
    return { spec, dir, cluster: undefined, close: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }) };
  }
  // Clusters run side by side, so each gets its own spare port for the recovery workload.
  const [sparePort] = await freePorts(1);
  const etcd = spec.etcd ? await EtcdMember.single() : undefined;
  const etcdArgs = etcd ? ['--etcd', etcd.clientUrl] : [];
  const observeArgs = spec.observed ? ['--metrics-port', '0', '--http-port', '0'] : [];
  const cluster = await startCluster({ ...spec.quorum, faultInjection: true, sparePorts: `${sparePort}-${sparePort}`, extraArgs: ['--heal-rate-mibs', '0', ...etcdArgs, ...observeArgs] }).catch(async (err: unknown) => {
    await etcd?.stop();
    throw err;
  });
  const stopCluster = async (): Promise<void> => {
    try {
      await cluster.stop();
    } finally {
      await etcd?.stop();
    }
  };
  try {
    const mount = await startMount(cluster.mediatorPort, spec.observed ? { flags: ['--metrics-port', '0'], logLevel: 'info' } : {});
    const scraper = spec.observed ? scrapeEverySecond(cluster, mount) : undefined;
    return {
      spec,
      dir: mount.dir,
      cluster,
      async close() {
        try {
          await scraper?.stop();
          await mount.stop();
        } finally {
          await stopCluster();
        }
      },
    };
  } catch (err) {
    await stopCluster();
    throw err;
  }
}

/** Scrapes the mediator, every process its /targets lists, and the mount, once a second until
 * stopped (a scrape that fails is skipped: the recovery workload kills a server on purpose). */
function scrapeEverySecond(cluster: Cluster, mount: Mount): { stop(): Promise<void> } {
  const mediatorUrl = loggedMetricsUrl(cluster.stderr(), 'mediator');
  const mountUrl = loggedMetricsUrl(mount.stderr(), 'mount');
  if (!mediatorUrl || !mountUrl) throw new Error('an observed target logs no metrics address');
  const scrapeAll = async (): Promise<void> => {
    const groups = (await (await fetch(mediatorUrl.replace(/\/metrics$/, '/targets'))).json()) as TargetGroup[];
    const urls = [...groups.map((g) => `http://${g.targets[0]}/metrics`), mountUrl];
    await Promise.all(urls.map(async (url) => (await fetch(url)).text()));
  };
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => scrapeAll().catch(() => undefined));
  }, SCRAPE_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

const SCRAPE_INTERVAL_MS = 1_000;
