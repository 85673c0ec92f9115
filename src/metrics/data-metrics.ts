// A data server's metrics: block bytes it sent for reads and took for writes (the very counts its
// heartbeats report as load: payloads of get, getExtents, put and patch), the blocks and bytes it
// holds (from memory), and its file system's size and free space (as its heartbeats give them:
// statfs at most once a second; unknown if that fails).

import type { Registry } from 'prom-client';
import type { BlockStoreUsage } from '../stores/block-store.js';
import { FigureCounter, FigureGauge } from './process-registry.js';

interface StoreFigures {
  held(): { blocks: number; bytes: number };
  usage(): Promise<BlockStoreUsage>;
}

export class DataMetrics {
  private disk: { capacityBytes: number; freeBytes: number } | undefined;

  constructor(
    registry: Registry,
    private readonly store: StoreFigures,
    /** The bytes served since start, as the data handlers count them. */
    load: () => { readBytes: number; writtenBytes: number },
  ) {
    new FigureCounter({ name: 'quorumfs_data_read_bytes_total', help: 'Block bytes this data server sent for reads (get, getExtents)', registry, read: () => [{ value: load().readBytes }] });
    new FigureCounter({ name: 'quorumfs_data_written_bytes_total', help: 'Block bytes this data server stored for writes (put and patch payloads)', registry, read: () => [{ value: load().writtenBytes }] });
    new FigureGauge({ name: 'quorumfs_data_blocks', help: 'Block versions this data server holds', registry, read: () => [{ value: store.held().blocks }] });
    new FigureGauge({ name: 'quorumfs_data_stored_bytes', help: 'Data bytes of the block versions this data server holds', registry, read: () => [{ value: store.held().bytes }] });
    new FigureGauge({ name: 'quorumfs_data_disk_capacity_bytes', help: "Size of the data server's file system", registry, read: () => (this.disk ? [{ value: this.disk.capacityBytes }] : []) });
    new FigureGauge({ name: 'quorumfs_data_disk_free_bytes', help: "Bytes an unprivileged writer may still use on the data server's file system", registry, read: () => (this.disk ? [{ value: this.disk.freeBytes }] : []) });
  }

  /** Takes the file system's figures for the scrape; unknown (no sample) if statfs fails. */
  async refresh(): Promise<void> {
    this.disk = undefined;
    const usage = await this.store.usage();
    this.disk = { capacityBytes: usage.totalBytes, freeBytes: usage.freeBytes };
  }
}
