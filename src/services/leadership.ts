// Which of several mediators sharing one etcd leads: an etcd election (etcd3's Election, a lease
// of `ttlS` seconds). The leader's fence is its election key and that key's create revision: the
// key lives as long as the lease, so a commit that compares it (the etcd metadata engine does, for
// every change) can only succeed while this mediator still leads. A leader also confirms its key
// itself every quarter of the TTL, and steps down as soon as it has not been able to for most of
// the TTL, or finds the key gone: before etcd can have elected another, it stops acting.
// Then it campaigns again. Elected and deposed are reported through the callbacks, in order.

import { Etcd3, type Campaign, type Election, type ElectionObserver, type Namespace } from 'etcd3';
import { every, type Clock, type Timer } from '../common/clock.js';
import { messageOf } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { limits } from '../common/limits.js';
import type { Fence } from '../stores/meta-store.js';

export interface LeadershipOptions {
  client: Etcd3;
  /** The cluster's key prefix in etcd. */
  prefix: string;
  /** This mediator's address, host:port: what the others see as the leader. */
  id: string;
  ttlS: number;
  clock: Clock;
  logger: Logger;
  /** Called when this mediator becomes leader; it leads once the promise resolves. A rejection
   * gives the leadership up again. */
  onElected(fence: Fence): Promise<void>;
  /** Called when it stops leading (lease lost, key gone, or stop()). */
  onDeposed(reason: string): Promise<void>;
}

export class Leadership {
  private readonly election: Election;
  private readonly ns: Namespace;
  private campaign: Campaign | undefined;
  private observer: ElectionObserver | undefined;
  private confirmTimer: Timer | undefined;
  private lastConfirmedMs = 0;
  private stopped = false;
  /** Elections and depositions, carried out one at a time in order. */
  private transitions: Promise<void> = Promise.resolve();
  private leading = false;
  /** The leader as last observed (host:port), undefined while there is none. */
  leaderId: string | undefined;

  constructor(private readonly options: LeadershipOptions) {
    this.ns = options.client.namespace(options.prefix);
    this.election = this.ns.election('mediators', options.ttlS);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  async start(): Promise<void> {
    this.observer = await this.election.observe();
    this.leaderId = this.observer.leader();
    this.observer.on('change', (leader) => {
      this.leaderId = leader;
    });
    this.observer.on('error', (err) => this.options.logger.warn({ err: messageOf(err) }, 'cannot follow the mediators\' election; retrying'));
    this.campaignNow();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.confirmTimer?.cancel();
    await this.observer?.cancel().catch(() => undefined);
    const campaign = this.campaign;
    this.campaign = undefined;
    this.depose('stopping');
    await this.transitions;
    await campaign?.resign().catch(() => undefined);
  }

  private campaignNow(): void {
    if (this.stopped) return;
    const campaign = this.election.campaign(this.options.id);
    this.campaign = campaign;
    campaign.on('elected', () => void this.elected(campaign));
    campaign.on('error', (err) => {
      if (this.campaign !== campaign) return;
      this.options.logger.warn({ err: messageOf(err) }, 'the mediators\' election failed here; campaigning again');
      this.loseCampaign(campaign, `lease lost: ${messageOf(err)}`);
    });
  }

  private async elected(campaign: Campaign): Promise<void> {
    if (this.campaign !== campaign || this.stopped) return;
    let fence: Fence;
    try {
      const key = await campaign.getCampaignKey();
      const kv = (await this.options.client.get(key).exec()).kvs[0];
      if (!kv) throw new Error('the election key vanished as it was won');
      fence = { key, createRevision: kv.create_revision };
    } catch (err) {
      this.options.logger.warn({ err: messageOf(err) }, 'cannot read the election key just won; giving it up');
      await campaign.resign().catch(() => undefined);
      if (this.campaign === campaign) this.campaign = undefined;
      this.campaignLater();
      return;
    }
    this.lastConfirmedMs = this.options.clock.nowMs();
    this.transitions = this.transitions.then(async () => {
      if (this.campaign !== campaign || this.stopped) return;
      this.leading = true;
      this.leaderId = this.options.id;
      try {
        await this.options.onElected(fence);
      } catch (err) {
        this.options.logger.error({ err: messageOf(err) }, 'cannot take over as leader; giving it up');
        this.leading = false;
        await this.options.onDeposed(`takeover failed: ${messageOf(err)}`).catch(() => undefined);
        this.campaign = undefined;
        await campaign.resign().catch(() => undefined);
        this.campaignLater();
        return;
      }
    });
    await this.transitions;
    this.confirmTimer?.cancel();
    this.confirmTimer = every(this.options.clock, (this.options.ttlS * 1000) / limits.leaderConfirmsPerLease, () => void this.confirm(campaign, fence));
  }

  /** Reads the election key: still ours, it confirms the leadership up to when the read was sent. */
  private async confirm(campaign: Campaign, fence: Fence): Promise<void> {
    if (!this.leading || this.campaign !== campaign) return;
    const sentMs = this.options.clock.nowMs();
    const ttlMs = this.options.ttlS * 1000;
    try {
      const kv = (await this.options.client.get(fence.key).options({ deadline: sentMs + ttlMs / 2 }).exec()).kvs[0];
      if (!kv || kv.create_revision !== fence.createRevision) {
        this.loseCampaign(campaign, 'the election key is gone');
        return;
      }
      this.lastConfirmedMs = Math.max(this.lastConfirmedMs, sentMs);
    } catch (err) {
      this.options.logger.debug({ err: messageOf(err) }, 'cannot confirm the leadership');
    }
    // Etcd lets the lease lapse ttl after the last renewal it saw; step down well before.
    if (this.options.clock.nowMs() - this.lastConfirmedMs > ttlMs * limits.leaderStepDownLeaseFraction) this.loseCampaign(campaign, 'etcd has not confirmed the leadership for most of the lease');
  }

  private loseCampaign(campaign: Campaign, reason: string): void {
    if (this.campaign !== campaign) return;
    this.campaign = undefined;
    this.depose(reason);
    void campaign.resign().catch(() => undefined);
    this.campaignLater();
  }

  /** Campaigns again after a pause (a fraction of the lease), not in a tight loop on a failing etcd. */
  private campaignLater(): void {
    this.options.clock.setTimer(this.options.ttlS * 1000 * limits.leaderRecampaignLeaseFraction, () => this.campaignNow(), true);
  }

  private depose(reason: string): void {
    this.confirmTimer?.cancel();
    this.confirmTimer = undefined;
    this.transitions = this.transitions.then(async () => {
      if (!this.leading) return;
      this.leading = false;
      if (this.leaderId === this.options.id) this.leaderId = undefined;
      this.options.logger.warn({ reason }, 'no longer the leader');
      await this.options.onDeposed(reason).catch((err: unknown) => this.options.logger.error({ err: messageOf(err) }, 'stepping down failed'));
    });
  }
}
