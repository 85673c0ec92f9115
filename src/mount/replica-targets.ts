// The data servers a mount reads from and writes to itself (direct-read.ts, direct-write.ts), as
// the mediator last listed them (replicaTargets): the quorums, the writable servers (live, or
// being healed) and which of them reads count on. The list is asked for again once it is
// limits.mountReadTargetsTtlMs old, or at once after a direct call failed (forget). One
// connection is kept to each listed server; a server no longer listed has its connection closed.

import type { Address } from '../common/address.js';
import { mediatorMethods } from '../protocol/mediator-messages.js';
import type { ClosableChannel, RpcChannel } from '../transport/rpc-channel.js';

export interface TargetsView {
  readQuorum: number;
  writeQuorum: number;
  /** Servers reads count on (complete copies). */
  live: string[];
  /** Servers writes go to: the live ones and those being healed. */
  writable: string[];
  fetchedAtMs: number;
}

export interface ReplicaTargetsOptions {
  /** The mediator, which knows the membership. */
  mediator: RpcChannel;
  /** A connection to a data server. */
  connect: (address: Address) => ClosableChannel;
  /** How long a list is used before it is asked for again. */
  ttlMs: number;
  nowMs?: () => number;
}

export class ReplicaTargets {
  private view: TargetsView | undefined;
  private refreshing: Promise<TargetsView> | undefined;
  private readonly servers = new Map<string, ClosableChannel>();
  private readonly nowMs: () => number;
  private closed = false;

  constructor(private readonly options: ReplicaTargetsOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** The list, asked for again if it is too old. */
  async current(): Promise<TargetsView> {
    const known = this.view;
    if (known && this.nowMs() - known.fetchedAtMs < this.options.ttlMs) return known;
    this.refreshing ??= this.options.mediator
      .call(mediatorMethods.replicaTargets, {})
      .then(({ readQuorum, writeQuorum, servers }) => {
        for (const s of servers) {
          if (!this.servers.has(s.id) && !this.closed) this.servers.set(s.id, this.options.connect({ host: s.host, port: s.port }));
        }
        const listed = new Set(servers.map((s) => s.id));
        for (const [id, channel] of this.servers) {
          if (listed.has(id)) continue;
          channel.close();
          this.servers.delete(id);
        }
        this.view = {
          readQuorum,
          writeQuorum,
          live: servers.filter((s) => s.live).map((s) => s.id),
          writable: servers.map((s) => s.id),
          fetchedAtMs: this.nowMs(),
        };
        return this.view;
      })
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** The list as last known, without waiting; a refresh is started if it is too old. */
  latest(): TargetsView | undefined {
    if (this.view && this.nowMs() - this.view.fetchedAtMs >= this.options.ttlMs) this.current().catch(() => undefined);
    return this.view;
  }

  /** A direct call failed (perhaps a server went away): ask again next time. */
  forget(): void {
    this.view = undefined;
  }

  /** The connection to a listed server; undefined for one not listed. */
  channel(id: string): RpcChannel | undefined {
    return this.servers.get(id);
  }

  close(): void {
    this.closed = true;
    for (const server of this.servers.values()) server.close();
    this.servers.clear();
  }
}
