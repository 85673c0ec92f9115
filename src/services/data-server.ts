// The data server process shell: serves a BlockStore over RPC. Puts are durable before they are
// acknowledged (the store fsyncs); gets verify checksums and fail CORRUPT rather than return bad
// bytes. corrupt and terminate exist for fault-injection tests and are refused unless the server
// was started with fault injection enabled.

import { codeOf, qfsError } from '../common/errors.js';
import type { Address } from '../common/address.js';
import type { Logger } from '../common/logger.js';
import { limits } from '../common/limits.js';
import { forEachBounded } from '../common/rate-limiter.js';
import { dataMethods } from '../protocol/data-messages.js';
import { PayloadReply, RpcServer } from '../transport/rpc-server.js';
import { BlockStore } from '../stores/block-store.js';
import type { ServerSecurity } from '../transport/secure-socket.js';

export interface DataServerOptions {
  address: Address;
  dir: string;
  faultInjection: boolean;
  logger: Logger;
  /** Authentication and roles; absent only with --insecure-loopback. */
  security?: ServerSecurity;
}

export class DataServer {
  private constructor(
    private readonly store: BlockStore,
    private readonly rpc: RpcServer,
    readonly address: Address,
  ) {}

  static async start(options: DataServerOptions): Promise<DataServer> {
    const store = await BlockStore.open(options.dir);
    const rpc = new RpcServer({
      name: 'data server',
      security: options.security,
      onError: (op, code, message) => options.logger.debug({ op, code }, message),
    });
    const startedAtMs = Date.now();
    let address = options.address;
    const refuseUnlessFaultInjection = (what: string): void => {
      if (!options.faultInjection) {
        throw qfsError('FAULT_INJECTION_DISABLED', `${what} refused: this data server was started without --fault-injection`);
      }
    };
    rpc
      .register(dataMethods.put, async (args, ctx) => {
        await store.put(args.key, args.version, args.checksum, ctx.payload);
        return {};
      })
      .register(dataMethods.get, async (args) => {
        const block = await store.get(args.key, args.version);
        return new PayloadReply({ version: block.version, checksum: block.checksum }, block.data);
      })
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
        const usage = await store.usage();
        return {
          role: 'data',
          port: address.port,
          pid: process.pid,
          blocks: usage.blocks,
          bytes: usage.bytes,
          freeBytes: usage.freeBytes,
          totalBytes: usage.totalBytes,
          uptimeMs: Date.now() - startedAtMs,
          faultInjection: options.faultInjection,
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
        // Reply first so the caller knows it was accepted, then die as a crash would.
        setTimeout(() => process.kill(process.pid, 'SIGKILL'), 20);
        return {};
      });
    address = await rpc.listen(options.address);
    return new DataServer(store, rpc, address);
  }

  async close(): Promise<void> {
    await this.rpc.close();
    await this.store.close();
  }
}

type VerifyResult = { status: 'ok' | 'corrupt' | 'missing'; checksum?: string };

/** Reads (key, version) here and checks its checksum: the verdict, never the bytes. */
async function verify(store: BlockStore, key: string, version: number): Promise<VerifyResult> {
  try {
    const block = await store.get(key, version);
    return { status: 'ok', checksum: block.checksum };
  } catch (err) {
    const code = codeOf(err);
    if (code === 'CORRUPT') return { status: 'corrupt' };
    if (code === 'NOT_FOUND') return { status: 'missing' };
    throw err;
  }
}
