// Replicas a mount found lacking, on their way to the mediator (reportReplicas), which repairs
// them as its own write misses. Reports are batched (everything found within one turn of the
// event loop goes in one call, limits.maxReplicaReports at most), one call at a time; a call
// that fails is sent again a second later (one refused outright is dropped and counted). While
// the mediator cannot be reached, up to limits.mountReplicaReportsKept are kept; past that the
// newest are dropped and counted (the scrubber's compare finds those).

import type { Clock, Timer } from '../common/clock.js';
import { QfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { mediatorMethods } from '../protocol/mediator-messages.js';
import type { RpcChannel } from '../transport/rpc-channel.js';

export interface ReplicaReport {
  key: string;
  version: number;
  server: string;
  kind: 'missed' | 'bad';
}

export class ReplicaReports {
  private readonly queue: ReplicaReport[] = [];
  private sending = false;
  private timer: Timer | undefined;
  /** Reports dropped because too many were waiting. */
  dropped = 0;

  constructor(
    private readonly mediator: RpcChannel,
    private readonly clock: Clock,
    private readonly keptMax: number = limits.mountReplicaReportsKept,
  ) {}

  add(report: ReplicaReport): void {
    if (this.queue.length >= this.keptMax) {
      this.dropped++;
      return;
    }
    this.queue.push(report);
    if (!this.sending && this.timer === undefined) this.schedule(0);
  }

  /** Reports not yet acknowledged by the mediator. */
  get waiting(): number {
    return this.queue.length;
  }

  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimer(
      ms,
      () => {
        this.timer = undefined;
        void this.send();
      },
      true,
    );
  }

  private async send(): Promise<void> {
    if (this.sending || this.queue.length === 0) return;
    this.sending = true;
    const batch = this.queue.slice(0, limits.maxReplicaReports);
    try {
      await this.mediator.call(mediatorMethods.reportReplicas, { replicas: batch });
      this.queue.splice(0, batch.length);
    } catch (err) {
      this.sending = false;
      // Refused for what it is (an older mediator, say): sending it again would change nothing.
      if (err instanceof QfsError && !err.retryable) {
        this.dropped += batch.length;
        this.queue.splice(0, batch.length);
      }
      this.schedule(limits.mountReplicaReportRetryMs);
      return;
    }
    this.sending = false;
    if (this.queue.length > 0) this.schedule(0);
  }
}
