// The systems under test: the local disk (a plain temp dir, the ceiling) and quorumfs clusters
// of N = 1, 3 and 5, each opened fresh (new cluster and mount) for every run. open() returns
// a directory driven with async fs calls and a close() that stops everything it started.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePorts, startCluster, type Cluster } from '../test/helpers/cluster.js';
import { startMount } from '../test/helpers/mount.js';

export interface TargetSpec {
  name: string;
  /** undefined for the local disk */
  quorum?: { readQuorum: number; writeQuorum: number; dataServers: number };
}

export interface OpenTarget {
  spec: TargetSpec;
  dir: string;
  /** The cluster behind the mount (quorumfs targets only). */
  cluster: Cluster | undefined;
  close(): Promise<void>;
}

export const LOCAL: TargetSpec = { name: 'local disk' };
export const N1: TargetSpec = { name: 'quorumfs N=1', quorum: { readQuorum: 1, writeQuorum: 1, dataServers: 1 } };
export const N3: TargetSpec = { name: 'quorumfs N=3', quorum: { readQuorum: 2, writeQuorum: 3, dataServers: 3 } };
export const N5: TargetSpec = { name: 'quorumfs N=5', quorum: { readQuorum: 3, writeQuorum: 5, dataServers: 5 } };

export async function openTarget(spec: TargetSpec): Promise<OpenTarget> {
  if (!spec.quorum) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-bench-local-'));
    return { spec, dir, cluster: undefined, close: () => rm(dir, { recursive: true, force: true }) };
  }
  // Clusters run side by side, so each gets its own spare port for the recovery workload.
  const [sparePort] = await freePorts(1);
  const cluster = await startCluster({ ...spec.quorum, faultInjection: true, sparePorts: `${sparePort}-${sparePort}`, extraArgs: ['--heal-rate-mibs', '0'] });
  try {
    const mount = await startMount(cluster.mediatorPort);
    return {
      spec,
      dir: mount.dir,
      cluster,
      async close() {
        try {
          await mount.stop();
        } finally {
          await cluster.stop();
        }
      },
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}
