// The data server process shell: serves a BlockStore over RPC. Puts are durable before they are
// acknowledged (the store fsyncs); gets verify checksums and fail CORRUPT rather than return bad
// bytes. corrupt and terminate exist for fault-injection tests and are refused unless the server
// was started with fault injection enabled. The handlers are bound by registerDataHandlers, which
// a simulation also uses over its simulated disks.

import { codeOf, qfsError } from '../common/errors.js';
import type { Address } from '../common/address.js';
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { limits } from '../common/limits.js';
import { forEachBounded } from '../common/rate-limiter.js';
import { dataMethods } from '../protocol/data-messages.js';
import { RpcServer } from '../transport/rpc-server.js';
import { PayloadReply, type HandlerRegistry } from '../transport/handler-registry.js';
import { BlockStore, type BlockStoreUsage } from '../stores/block-store.js';
import type { DataStore } from '../stores/data-store.js';
import type { Role } from '../core/access-policy.js';
import type { ServerSecurity } from '../transport/secure-socket.js';
import type { Registry } from 'prom-client';
import { DataMetrics } from '../metrics/data-metrics.js';
import { rpcMetrics } from '../metrics/rpc-metrics.js';
import type { LoadCounters } from '../core/load-history.js';

export interface DataServerOptions {
  address: Address;
  dir: string;
  faultInjection: boolean;
  logger: Logger;
  /** Authentication and roles; absent only with --insecure-loopback. */
  security?: ServerSecurity;
  /** The process's metrics registry (--metrics-port); absent: nothing is counted. */
  metrics?: Registry;
}

export interface DataHandlerOptions {
  faultInjection: boolean;
  logger: Logger;
  clock: Clock;
  /** The port this server answers on (reported in heartbeats) and its process id. */
  port: () => number;
  pid: number;
  /** Ends the server as a crash would, after the reply has gone (fault injection). */
  terminate: () => void;
}

export class DataServer {
  private constructor(
    private readonly store: BlockStore,
    private readonly rpc: RpcServer,
    readonly address: Address,
    /** Its figures for a scrape (undefined without a metrics registry). */
    readonly metrics: DataMetrics | undefined,
  ) {}

  static async start(options: DataServerOptions): Promise<DataServer> {
    const store = await BlockStore.open(options.dir);
    const rpc = new RpcServer({
      name: 'data server',
      security: options.security,
      onError: (op, code, message) => options.logger.debug({ op, code }, message),
      ...(options.metrics ? { observer: rpcMetrics(options.metrics) } : {}),
    });
    let address = options.address;
    const served = registerDataHandlers(rpc, store, {
      faultInjection: options.faultInjection,
      logger: options.logger,
      clock: systemClock,
      port: () => address.port,
      pid: process.pid,
      // Reply first so the caller knows it was accepted, then die as a crash would.
      terminate: () => setTimeout(() => process.kill(process.pid, 'SIGKILL'), 20),
    });
    // The bytes and the disk figures are those its heartbeats report (the status page's throughput).
    const metrics = options.metrics && new DataMetrics(options.metrics, { held: () => store.held(), usage: served.usage }, served.load);
    address = await rpc.listen(options.address);
    return new DataServer(store, rpc, address, metrics);
  }

  async close(): Promise<void> {
    await this.rpc.close();
    await this.store.close();
  }
}

/** Binds every data-server method to the store. Returns what heartbeats report, for metrics:
 * the block bytes and requests served since, and the file system's figures (refreshed at most
 * every limits.heartbeatUsageMaxAgeMs). */
export function registerDataHandlers(registry: HandlerRegistry, store: DataStore, options: DataHandlerOptions): { load: () => LoadCounters; usage: () => Promise<BlockStoreUsage> } {
  const startedAtMs = options.clock.nowMs();
  const refuseUnlessFaultInjection = (what: string): void => {
    if (!options.faultInjection) {
      throw qfsError('FAULT_INJECTION_DISABLED', `${what} refused: this data server was started without --fault-injection`);
    }
  };
  // A heartbeat answers from memory: the file system's figures (statfs, on the thread pool, which
  // a burst of writes keeps busy for seconds) are refreshed behind it at most once a second, so a
  // loaded server is not taken for a hung one. Only the first heartbeat waits for them. The
  // blocks and bytes held are counted in memory, so they are given as they are now.
  let usage: BlockStoreUsage | undefined;
  let usageAtMs = -Infinity;
  let refreshing: Promise<BlockStoreUsage> | undefined;
  const usageNow = async (): Promise<BlockStoreUsage> => {
    if (refreshing === undefined && options.clock.nowMs() - usageAtMs >= limits.heartbeatUsageMaxAgeMs) {
      const refresh = store.usage();
      refreshing = refresh;
      refresh.then(
        (u) => {
          usage = u;
          usageAtMs = options.clock.nowMs();
          refreshing = undefined;
        },
        () => (refreshing = undefined), // the next heartbeat tries again
      );
    }
    // Only the first heartbeat waits (and sees a failure); later ones have figures to give.
    return usage ?? (await refreshing!);
  };
  const load = new LoadCount();
  registry
    .register(dataMethods.put, (args, ctx) =>
      load.serve(async () => {
        await refuseClientOverwrite(store, ctx.role, args.key, args.version, args.checksum);
        await store.put(args.key, args.version, args.checksum, ctx.payload);
        load.writtenBytes += ctx.payload.length;
        return {};
      }),
    )
    .register(dataMethods.get, (args) =>
      load.serve(async () => {
        const block = await store.get(args.key, args.version);
        load.readBytes += block.data.length;
        return new PayloadReply({ version: block.version, checksum: block.checksum }, block.data);
      }),
    )
    .register(dataMethods.getExtents, (args) =>
      load.serve(async () => {
        const got = await store.getExtents(args.key, args.version, args.extents, true);
        load.readBytes += got.data.length;
        return new PayloadReply({ version: got.version, checksum: got.checksum, sizeBytes: got.sizeBytes, table: got.table }, got.data);
      }),
    )
    .register(dataMethods.verifyExtents, async (args) => {
      try {
        return { status: 'ok' as const, checksum: (await store.getExtents(args.key, args.version, args.extents, false)).checksum };
      } catch (err) {
        return verdictOf(err);
      }
    })
    .register(dataMethods.patch, (args, ctx) =>
      load.serve(async () => {
        await refuseClientOverwrite(store, ctx.role, args.key, args.version, args.checksum);
        await store.patch(args.key, args.baseVersion, args.version, args.checksum, args.pieces, ctx.payload);
        load.writtenBytes += ctx.payload.length;
        return {};
      }),
    )
    .register(dataMethods.stat, (args) => store.stat(args.key, args.version))
    .register(dataMethods.delete, async (args) => ({ removed: await store.delete(args.key, args.version) }))
    .register(dataMethods.deleteOlderThan, async (args) => ({
      removed: await store.deleteOlderThan(args.key, args.version),
    }))
    .register(dataMethods.list, (args) => {
      const limit = Math.min(args.limit ?? limits.maxListEntries, limits.maxListEntries);
      const page = store.listPage(args.after, limit, limits.listPageBytes);
      return { entries: page.entries.map(({ key, version, sizeBytes, checksum }) => ({ key, version, sizeBytes, checksum })), next: page.next };
    })
    .register(dataMethods.have, (args) => store.have(args.blocks))
    .register(dataMethods.verify, (args) => verify(store, args.key, args.version))
    .register(dataMethods.verifyMany, async (args) => {
      const results = new Array<VerifyResult>(args.blocks.length);
      await forEachBounded(args.blocks.map((b, i) => ({ ...b, i })), limits.verifyConcurrency, () => true, async (b) => {
        results[b.i] = await verify(store, b.key, b.version);
      });
      return { results };
    })
    .register(dataMethods.heartbeat, async () => {
      const usage = await usageNow();
      return {
        role: 'data',
        port: options.port(),
        pid: options.pid,
        ...store.held(),
        freeBytes: usage.freeBytes,
        totalBytes: usage.totalBytes,
        uptimeMs: options.clock.nowMs() - startedAtMs,
        faultInjection: options.faultInjection,
        load: load.counters(),
      };
    })
    .register(dataMethods.corrupt, async (args) => {
      refuseUnlessFaultInjection('corrupt');
      const result = await store.corrupt(args.key, args.version);
      options.logger.warn({ key: result.key, version: result.version }, 'fault injection: block corrupted');
      return result;
    })
    .register(dataMethods.terminate, () => {
      refuseUnlessFaultInjection('terminate');
      options.logger.warn('fault injection: terminating');
      options.terminate();
      return {};
    });
  return { load: () => load.counters(), usage: usageNow };
}

/** Block reads and writes served since start, for the status page's throughput and latency.
 * Timed with performance.now(): most requests take under a millisecond, and nothing decides on
 * these figures, so a simulation's virtual clock need not drive them. */
class LoadCount {
  readBytes = 0;
  writtenBytes = 0;
  private requests = 0;
  private requestMs = 0;

  async serve<T>(work: () => Promise<T>): Promise<T> {
    const startMs = performance.now();
    try {
      return await work();
    } finally {
      this.requests++;
      this.requestMs += performance.now() - startMs;
    }
  }

  counters(): LoadCounters {
    return { readBytes: this.readBytes, writtenBytes: this.writtenBytes, requests: this.requests, requestMs: Math.round(this.requestMs) };
  }
}

type VerifyResult = { status: 'ok' | 'corrupt' | 'missing'; checksum?: string };

/** Reads (key, version) here and checks its checksum: the verdict, never the bytes. */
async function verify(store: DataStore, key: string, version: number): Promise<VerifyResult> {
  try {
    const block = await store.get(key, version);
    return { status: 'ok', checksum: block.checksum };
  } catch (err) {
    return verdictOf(err);
  }
}

/** A failed check as a verdict: corrupt, missing, or (any other error) thrown again. */
function verdictOf(err: unknown): VerifyResult {
  const code = codeOf(err);
  if (code === 'CORRUPT') return { status: 'corrupt' };
  if (code === 'NOT_FOUND') return { status: 'missing' };
  throw err;
}

/** A client (a mount writing its files' blocks) writes new versions only: a version stored with
 * other bytes is never replaced on its word (a repair is the mediator's). The same bytes again
 * pass, so a write sent again is idempotent. */
async function refuseClientOverwrite(store: DataStore, role: Role | undefined, key: string, version: number, checksum: string): Promise<void> {
  if (role !== 'client') return;
  let stored: string;
  try {
    stored = (await store.stat(key, version)).checksum;
  } catch (err) {
    if (codeOf(err) === 'NOT_FOUND') return;
    throw qfsError('EXISTS', `block ${key} v${version} is stored and unreadable (${codeOf(err)}): only the mediator may replace it`);
  }
  if (stored !== checksum) throw qfsError('EXISTS', `block ${key} v${version} is stored with other bytes: only the mediator may replace it`);
}
