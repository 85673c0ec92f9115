// The metadata server process shell: serves a MetaStore over RPC, one store transaction per
// call. It holds no state of its own, so a crash loses nothing the store has acknowledged and
// the mediator simply restarts it on the same port and directory.

import path from 'node:path';
import type { Address } from '../common/address.js';
import type { Logger } from '../common/logger.js';
import { metaInternalMethods, namespaceMethods } from '../protocol/meta-messages.js';
import { RpcServer } from '../transport/rpc-server.js';
import type { HandlerRegistry } from '../transport/handler-registry.js';
import type { ServerSecurity } from '../transport/secure-socket.js';
import type { MetaStore } from '../stores/meta-store.js';
import { SqliteMetaStore } from '../stores/sqlite-meta-store.js';

export interface MetaServerOptions {
  address: Address;
  dir: string;
  logger: Logger;
  /** Authentication and roles; absent only with --insecure-loopback. */
  security?: ServerSecurity;
}

export class MetaServer {
  private constructor(
    private readonly store: MetaStore,
    private readonly rpc: RpcServer,
    readonly address: Address,
  ) {}

  static async start(options: MetaServerOptions): Promise<MetaServer> {
    const store = SqliteMetaStore.open(path.join(options.dir, 'meta.sqlite'));
    const rpc = new RpcServer({
      name: 'metadata server',
      security: options.security,
      onError: (op, code, message) => options.logger.debug({ op, code }, message),
    });
    registerMetaHandlers(rpc, store);
    try {
      const address = await rpc.listen(options.address);
      return new MetaServer(store, rpc, address);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.rpc.close();
    this.store.close();
  }
}

/** Binds every metadata method to the store (a simulation binds them to its in-process server). */
export function registerMetaHandlers(rpc: HandlerRegistry, store: MetaStore, pid: number = process.pid): void {
  const ns = namespaceMethods;
  const internal = metaInternalMethods;
  rpc
    .register(ns.getattr, (a) => store.getattr(a.ino))
    .register(ns.lookup, (a) => store.lookup(a.parent, a.name))
    .register(ns.create, (a) => store.create(a))
    .register(ns.mkdir, (a) => store.mkdir(a.parent, a.name, a.mode, a.caller))
    .register(ns.symlink, (a) => store.symlink(a.parent, a.name, a.target, a.caller))
    .register(ns.readlink, (a) => ({ target: store.readlink(a.ino) }))
    .register(ns.link, (a) => store.link(a.ino, a.newParent, a.newName))
    .register(ns.unlink, (a) => store.unlink(a.parent, a.name))
    .register(ns.rmdir, (a) => store.rmdir(a.parent, a.name))
    .register(ns.rename, (a) => ({
      replaced: store.rename(a.oldParent, a.oldName, a.newParent, a.newName, a.flags) ?? undefined,
    }))
    .register(ns.readdir, (a) => ({ entries: store.readdir(a.ino, a.cookie, a.limit) }))
    .register(ns.readdirplus, (a) => ({
      entries: store.readdir(a.ino, a.cookie, a.limit).map((entry) => ({ entry, attr: store.getattr(entry.ino) })),
    }))
    .register(ns.setxattr, (a) => {
      store.setxattr(a.ino, a.name, a.value, a.flags);
      return {};
    })
    .register(ns.getxattr, (a) => ({ value: store.getxattr(a.ino, a.name) }))
    .register(ns.listxattr, (a) => ({ names: store.listxattr(a.ino) }))
    .register(ns.removexattr, (a) => {
      store.removexattr(a.ino, a.name);
      return {};
    })
    .register(ns.statfs, () => store.statfs())
    .register(internal.setattr, (a) => store.setattr(a.ino, a.attr, a.now))
    .register(internal.getBlocks, (a) => ({
      attr: store.getattr(a.ino),
      blocks: store.getBlocks(a.ino, a.fromIndex, a.toIndex),
    }))
    .register(internal.commitBlocks, (a) => store.commitBlocks(a))
    .register(internal.reserveVersions, (a) => ({ first: store.reserveVersions(a.count) }))
    .register(internal.listBlocks, (a) => ({ blocks: store.listBlocks(a.afterIno, a.afterIndex, a.limit) }))
    .register(internal.committedVersions, (a) => ({ versions: store.committedVersions(a.blocks) }))
    .register(internal.counts, () => store.counts())
    .register(internal.hold, (a) => store.hold(a.session, a.ino))
    .register(internal.release, (a) => ({ orphans: store.release(a.session, a.ino) }))
    .register(internal.setHolds, (a) => store.setHolds(a.session, a.inos))
    .register(internal.holdSessions, () => ({ sessions: store.holdSessions() }))
    .register(internal.ping, () => ({ pid }));
}
