// What mediators sharing one etcd keep there besides the metadata (which the metadata server's
// etcd engine keeps under the same prefix): the election of the leader (leadership.ts), the
// data servers that joined (any mediator records a join: it is a fact, not a decision), and the
// membership the leader made of them, written only under the leader's fence so that a deposed
// leader's view can never overwrite its successor's.

import { Etcd3 } from 'etcd3';
import { systemClock } from '../common/clock.js';
import { messageOf, qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { keptMembership } from '../core/membership.js';
import type { Fence } from '../stores/meta-store.js';
import { Leadership } from './leadership.js';

export type KeptMembership = ReturnType<typeof keptMembership>;

export interface JoinedServer {
  host: string;
  port: number;
  spare: boolean;
  /** Where it serves Prometheus metrics (--metrics-port), as a scraper reaches it; the leader
   * lists it at /targets. */
  metrics?: { host: string; port: number } | undefined;
}

export interface EtcdClusterOptions {
  endpoints: string[];
  prefix: string;
  leaderTtlS: number;
  /** This mediator's address. */
  id: string;
  logger: Logger;
  /** Became leader: with the membership its predecessor kept (undefined: the first leader). */
  onElected(fence: Fence, kept: KeptMembership | undefined): Promise<void>;
  onDeposed(): Promise<void>;
}

export class EtcdCluster {
  readonly client: Etcd3;
  private readonly leadership: Leadership;
  private fence: Fence | undefined;
  /** Membership writes, one at a time in order. */
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: EtcdClusterOptions) {
    this.client = etcdClient(options.endpoints);
    this.leadership = new Leadership({
      client: this.client,
      prefix: options.prefix,
      id: options.id,
      ttlS: options.leaderTtlS,
      clock: systemClock,
      logger: options.logger,
      onElected: async (fence) => {
        this.fence = fence;
        options.logger.info({ fence: fence.createRevision }, 'elected leader of the mediators');
        await options.onElected(fence, await this.keptMembership());
      },
      onDeposed: async () => {
        this.fence = undefined;
        await options.onDeposed();
      },
    });
  }

  get leaderId(): string | undefined {
    return this.leadership.leaderId;
  }

  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  async start(): Promise<void> {
    await this.leadership.start();
  }

  async stop(): Promise<void> {
    await this.leadership.stop();
    this.client.close();
  }

  /** Every mediator taking part in the election now (their addresses, in election order). */
  async mediators(): Promise<string[]> {
    const all = await withDeadline(this.client.getAll().prefix(`${this.options.prefix}election/mediators/`).sort('Create', 'Ascend').limit(limits.maxServersListed).strings(), 'read the mediators');
    return Object.values(all);
  }

  /** Records that a data server joined. Joining again as before changes nothing; a restart that
   * joins with other settings (a new metrics port) replaces its record. */
  async join(server: JoinedServer): Promise<void> {
    const key = `${this.options.prefix}joins/${server.host}:${server.port}`;
    const record = JSON.stringify({ host: server.host, port: server.port, spare: server.spare, ...(server.metrics ? { metrics: server.metrics } : {}) });
    const before = await withDeadline(this.client.get(key).string(), 'read a join');
    if (before === record) return;
    // A cluster lists at most limits.maxServersListed servers: one more is refused, not dropped.
    const known = await withDeadline(this.client.getAll().prefix(`${this.options.prefix}joins/`).count(), 'count the joined data servers');
    if (known >= limits.maxServersListed && before === null) {
      throw qfsError('NO_SPACE', `the cluster has ${known} data servers, the most it takes (limits.maxServersListed); ${server.host}:${server.port} cannot join`);
    }
    await withDeadline(this.client.put(key).value(record).exec(), 'record a joining data server');
  }

  /** Every data server that ever joined, at most limits.maxServersListed. */
  async joins(): Promise<JoinedServer[]> {
    const all = await withDeadline(this.client.getAll().prefix(`${this.options.prefix}joins/`).limit(limits.maxServersListed).strings(), 'read the joined data servers');
    return Object.values(all).map((v) => JSON.parse(v) as JoinedServer);
  }

  /** Keeps the membership, under the fence: a mediator that no longer leads is refused. */
  saveMembership(kept: KeptMembership): Promise<void> {
    const fence = this.fence;
    this.saving = this.saving.then(async () => {
      if (!fence || fence !== this.fence) return; // deposed meanwhile: the next leader keeps its own
      const result = await withDeadline(
        this.client
          .if(fence.key, 'Create', '==', fence.createRevision)
          .then(this.client.put(`${this.options.prefix}membership`).value(JSON.stringify(kept)))
          .commit(),
        'keep the membership',
      ).catch((err: unknown) => {
        this.options.logger.warn({ err: messageOf(err) }, 'cannot keep the membership in etcd; the next change tries again');
        return undefined;
      });
      if (result && !result.succeeded) {
        this.options.logger.warn({ fence: fence.createRevision }, 'refused: a membership change under a fence that no longer holds (another mediator leads)');
      }
    });
    return this.saving;
  }

  private async keptMembership(): Promise<KeptMembership | undefined> {
    const text = await withDeadline(this.client.get(`${this.options.prefix}membership`).string(), 'read the membership');
    return text === null ? undefined : (JSON.parse(text) as KeptMembership);
  }
}

/** An etcd client whose every call has a deadline, and whose dial gives up in time. */
export function etcdClient(endpoints: string[]): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: limits.etcdDialTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + limits.etcdCallTimeoutMs }),
  });
}

async function withDeadline<T>(call: Promise<T>, what: string): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw qfsError('UNAVAILABLE', `cannot ${what}: etcd did not answer (${messageOf(err)})`);
  }
}
