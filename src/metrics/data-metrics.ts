// A data server's metrics: bytes it sent for reads and took for writes (payloads of get,
// getExtents, put and patch), the blocks and bytes it holds (from memory), and its file system's
// size and free space (statfs, read asynchronously at each scrape; unknown if that fails).

import { Counter, type Registry } from 'prom-client';
import type { BlockStoreUsage } from '../stores/block-store.js';
import { FigureGauge } from './process-registry.js';

/** What the data handlers report of the bytes they move. */
export interface DataTraffic {
  readBytes(count: number): void;
  writtenBytes(count: number): void;
}

interface StoreFigures {
  held(): { blocks: number; bytes: number };
  usage(): Promise<BlockStoreUsage>;
}

export class DataMetrics implements DataTraffic {
  private readonly read: Counter<string>;
  private readonly written: Counter<string>;
  private disk: { capacityBytes: number; freeBytes: number } | undefined;

  constructor(registry: Registry, private readonly store: StoreFigures) {
    this.read = new Counter({ name: 'quorumfs_data_read_bytes_total', help: 'Block bytes this data server sent for reads (get, getExtents)', registers: [registry] });
    this.written = new Counter({ name: 'quorumfs_data_written_bytes_total', help: 'Block bytes this data server stored for writes (put and patch payloads)', registers: [registry] });
    new FigureGauge({ name: 'quorumfs_data_blocks', help: 'Block versions this data server holds', registry, read: () => [{ value: store.held().blocks }] });
    new FigureGauge({ name: 'quorumfs_data_stored_bytes', help: 'Data bytes of the block versions this data server holds', registry, read: () => [{ value: store.held().bytes }] });
    new FigureGauge({ name: 'quorumfs_data_disk_capacity_bytes', help: "Size of the data server's file system", registry, read: () => (this.disk ? [{ value: this.disk.capacityBytes }] : []) });
    new FigureGauge({ name: 'quorumfs_data_disk_free_bytes', help: "Bytes an unprivileged writer may still use on the data server's file system", registry, read: () => (this.disk ? [{ value: this.disk.freeBytes }] : []) });
  }

  readBytes(count: number): void {
    this.read.inc(count);
  }

  writtenBytes(count: number): void {
    this.written.inc(count);
  }

  /** Reads the file system's figures for the scrape; unknown (no sample) if statfs fails. */
  async refresh(): Promise<void> {
    this.disk = undefined;
    const usage = await this.store.usage();
    this.disk = { capacityBytes: usage.totalBytes, freeBytes: usage.freeBytes };
  }
}
