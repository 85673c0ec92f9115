// The metadata server process shell: serves a MetaStore over RPC, one store transaction per
// call. It holds no state of its own, so a crash loses nothing the store has acknowledged and
// the mediator simply restarts it on the same port and directory.
//
// Mounts call the namespace methods here directly, not through the mediator (one hop less), and
// commit the block maps of the file data they write themselves. So this is where those changes
// are reported: before a namespace call or a mount's commit is answered, every other
// connection is told which cached attributes and entries it made stale (the mediator's is not:
// it caches none), and the files mounts create are pushed to the mediator (so it can plan
// their first write without reading their block map). Block versions any call frees (an
// unlink, a truncate, a released hold) never ride in its reply, whose size would grow with the
// file: they are pushed to the mediator in events of at most limits.maxOrphansPerEvent, and
// the mediator deletes them from the data servers. Versions freed while no mediator watches
// are left to the scrubber's orphan collection.

import type { Registry } from 'prom-client';
import { rpcMetrics } from '../metrics/rpc-metrics.js';
import path from 'node:path';
import type { Address } from '../common/address.js';
import type { Logger } from '../common/logger.js';
import { CREATED_EVENT, ORPHANS_EVENT, metaInternalMethods, namespaceMethods } from '../protocol/meta-messages.js';
import { INVALIDATE_EVENT } from '../protocol/mediator-messages.js';
import { namesToWire } from '../protocol/wire-names.js';
import type { Method } from '../protocol/method.js';
import { invalidationsFor, orphansIn, withoutOrphans } from '../core/invalidations.js';
import { limits } from '../common/limits.js';
import { PayloadReply, RpcServer, type RequestContext, type RpcConnection } from '../transport/rpc-server.js';
import type { HandlerOf, HandlerRegistry } from '../transport/handler-registry.js';
import type { ServerSecurity } from '../transport/secure-socket.js';
import { qfsError } from '../common/errors.js';
import { EtcdMetaStore } from '../stores/etcd-meta-store.js';
import { asyncMetaStore, isFenced, type AsyncMetaStore } from '../stores/meta-store.js';
import { SqliteMetaStore } from '../stores/sqlite-meta-store.js';

export interface MetaServerOptions {
  address: Address;
  dir: string;
  logger: Logger;
  /** Authentication and roles; absent only with --insecure-loopback. */
  security?: ServerSecurity;
  /** Keep the metadata in etcd under `prefix` instead of SQLite in `dir`: every change then
   * commits only under the leader's fence (the `fence` method), none before one is given. */
  etcd?: { endpoints: string[]; prefix: string };
  /** The process's metrics registry (--metrics-port); absent: nothing is counted. */
  metrics?: Registry;
}

/** The store the options name: etcd (fenced) or SQLite in the server's directory. */
async function openStore(options: MetaServerOptions): Promise<AsyncMetaStore> {
  if (options.etcd !== undefined) {
    return EtcdMetaStore.connect({ endpoints: options.etcd.endpoints, prefix: options.etcd.prefix, requireFence: true });
  }
  return asyncMetaStore(SqliteMetaStore.open(path.join(options.dir, 'meta.sqlite')));
}

export class MetaServer {
  private constructor(
    private readonly store: AsyncMetaStore,
    private readonly rpc: RpcServer,
    readonly address: Address,
  ) {}

  static async start(options: MetaServerOptions): Promise<MetaServer> {
    const store = await openStore(options);
    const rpc = new RpcServer({
      name: 'metadata server',
      security: options.security,
      onError: (op, code, message) => options.logger.debug({ op, code }, message),
      ...(options.metrics ? { observer: rpcMetrics(options.metrics) } : {}),
    });
    const reports = new ChangeReports(rpc);
    registerMetaHandlers(reports.registry, store);
    rpc.register(metaInternalMethods.watchOrphans, (_a, ctx) => {
      reports.watch(ctx.connection);
      return {};
    });
    try {
      const address = await rpc.listen(options.address);
      return new MetaServer(store, rpc, address);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.rpc.close();
    await this.store.close();
  }
}

/** Binds every metadata method to the store (a simulation binds them to its in-process server). */
export function registerMetaHandlers(rpc: HandlerRegistry, store: AsyncMetaStore, pid: number = process.pid): void {
  const ns = namespaceMethods;
  const internal = metaInternalMethods;
  rpc
    .register(ns.getattr, (a) => store.getattr(a.ino))
    .register(ns.lookup, (a) => store.lookup(a.parent, a.name))
    .register(ns.create, (a) => store.create(a))
    .register(ns.mkdir, (a) => store.mkdir(a.parent, a.name, a.mode, a.caller))
    .register(ns.symlink, (a) => store.symlink(a.parent, a.name, a.target, a.caller))
    .register(ns.readlink, async (a) => ({ target: await store.readlink(a.ino) }))
    .register(ns.link, (a) => store.link(a.ino, a.newParent, a.newName))
    .register(ns.unlink, (a) => store.unlink(a.parent, a.name))
    .register(ns.rmdir, (a) => store.rmdir(a.parent, a.name))
    .register(ns.rename, async (a) => ({
      replaced: (await store.rename(a.oldParent, a.oldName, a.newParent, a.newName, a.flags)) ?? undefined,
    }))
    .register(ns.readdir, async (a) => ({ entries: await store.readdir(a.ino, a.cookie, a.limit) }))
    .register(ns.readdirplus, async (a) => ({ entries: await store.readdirplus(a.ino, a.cookie, a.limit) }))
    .register(ns.setxattr, async (a) => {
      await store.setxattr(a.ino, a.name, a.value, a.flags);
      return {};
    })
    .register(ns.getxattr, async (a) => ({ value: await store.getxattr(a.ino, a.name) }))
    .register(ns.listxattr, async (a) => ({ names: await store.listxattr(a.ino) }))
    .register(ns.removexattr, async (a) => {
      await store.removexattr(a.ino, a.name);
      return {};
    })
    .register(ns.statfs, () => store.statfs())
    .register(ns.markAccess, async (a) => ({ marked: await store.markAccess(a.ino, a.now) }))
    .register(internal.setattr, (a) => store.setattr(a.ino, a.attr, a.now))
    .register(internal.getBlocks, async (a) => {
      // The attributes first: a map read after them is as new or newer, so a block within the
      // size read is never taken for a hole (the etcd engine reads each at its own revision).
      const attr = await store.getattr(a.ino);
      return { attr, blocks: await store.getBlocks(a.ino, a.fromIndex, a.toIndex) };
    })
    .register(internal.commitBlocks, (a) => store.commitBlocks(a))
    .register(internal.reserveVersions, async (a) => ({ first: await store.reserveVersions(a.count) }))
    .register(internal.listBlocks, async (a) => ({ blocks: await store.listBlocks(a.afterIno, a.afterIndex, a.limit) }))
    .register(internal.committedVersions, async (a) => ({ versions: await store.committedVersions(a.blocks) }))
    .register(internal.counts, () => store.counts())
    .register(internal.hold, (a) => store.hold(a.session, a.ino))
    .register(internal.release, async (a) => ({ orphans: await store.release(a.session, a.ino) }))
    .register(internal.setHolds, (a) => store.setHolds(a.session, a.inos))
    .register(internal.holdSessions, async () => ({ sessions: await store.holdSessions() }))
    .register(internal.ping, () => ({ pid }))
    .register(internal.fence, (a) => {
      if (!isFenced(store)) throw qfsError('NOT_SUPPORTED', 'this metadata store takes no fence (it is not on etcd)');
      const both = a.key !== undefined && a.createRevision !== undefined;
      if (!both && (a.key !== undefined || a.createRevision !== undefined)) throw qfsError('INVALID', 'a fence needs both key and createRevision');
      store.setFence(both ? { key: a.key!, createRevision: a.createRevision! } : undefined);
      return {};
    });
}

const NAMESPACE_METHODS: ReadonlySet<string> = new Set(Object.values(namespaceMethods).map((m) => m.name));

/** Reports what each call changed, to the other connections, before it is answered. */
class ChangeReports {
  /** The mediator's connections (watchOrphans). */
  private readonly watchers = new Set<RpcConnection>();
  /** Registers handlers on the server, each followed by its report. */
  readonly registry: HandlerRegistry<RequestContext>;

  constructor(private readonly rpc: RpcServer) {
    const reports = this;
    this.registry = {
      register<A, R>(m: Method<A, R>, handler: HandlerOf<A, R, RequestContext>) {
        rpc.register(m, async (args, ctx) => {
          const result = await handler(args, ctx);
          if (result instanceof PayloadReply) return result;
          reports.report(m.name, args, result, ctx.connection);
          return withoutOrphans(result);
        });
        return this;
      },
    };
  }

  watch(connection: RpcConnection): void {
    if (this.watchers.has(connection)) return;
    this.watchers.add(connection);
    connection.socket.once('close', () => this.watchers.delete(connection));
  }

  private report(method: string, args: unknown, result: unknown, origin: RpcConnection): void {
    const orphans = orphansIn(result);
    for (let from = 0; from < orphans.length; from += limits.maxOrphansPerEvent) {
      const part = orphans.slice(from, from + limits.maxOrphansPerEvent);
      for (const watcher of this.watchers) watcher.sendEvent(ORPHANS_EVENT, { orphans: part });
    }
    // A mount's commit of the file data it wrote itself is reported as the mediator reports the
    // writes it makes.
    const mountCommit = method === metaInternalMethods.commitBlocks.name && !this.watchers.has(origin);
    if (!NAMESPACE_METHODS.has(method) && !mountCommit) return;
    const change = invalidationsFor(method, args as Record<string, unknown>, result);
    if (change) {
      const event = namesToWire(change);
      for (const connection of this.rpc.openConnections) {
        if (connection !== origin && !this.watchers.has(connection)) connection.sendEvent(INVALIDATE_EVENT, event);
      }
    }
    // A mediator knows what it created itself.
    if (method === namespaceMethods.create.name && !this.watchers.has(origin)) {
      for (const watcher of this.watchers) watcher.sendEvent(CREATED_EVENT, { attr: result });
    }
  }
}
