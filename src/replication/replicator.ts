// Quorum reads and writes of one block over the data servers, as a library over the transport:
// it runs in the mediator and in the mount, which writes its files' blocks itself. A write goes
// to every live server and succeeds once Qw acknowledge; a read asks Qr servers chosen at random
// (one sends its bytes, the others verify theirs in place), keeps replies that match the block
// map (checksum recomputed over the bytes received), returns the good bytes and widens to the
// other live servers if none is good. It never returns bytes that do not match the block map.

import { checksumLike } from '../common/checksum.js';
import type { Piece } from '../core/extent-patch.js';
import { QfsError, codeOf, messageOf, qfsError, type ErrorCode } from '../common/errors.js';
import { writeFailureCode } from '../core/capacity.js';
import { vote, writeOutcome, type Expected, type ReplicaReply, type VoteResult } from '../core/quorum.js';
import { copySourceOrder, readPlan, writeRetryDue } from '../core/replication-policy.js';
import { dataMethods } from '../protocol/data-messages.js';
import { readCheckedExtents } from './extent-read.js';
import type { Clock } from '../common/clock.js';
import type { Random } from '../common/random.js';
import { limits } from '../common/limits.js';
import type { RpcChannel } from '../transport/rpc-channel.js';

export interface ReplicaTarget {
  id: string;
  client: RpcChannel;
}

export interface ReplicatorOptions {
  readQuorum: number;
  writeQuorum: number;
  random: Random;
  clock: Clock;
  /** Servers reads count on (complete copies) at the moment of the call. */
  liveTargets: () => ReplicaTarget[];
  /** Servers writes go to: the live ones and those being healed. Reads fall back to these. */
  writableTargets: () => ReplicaTarget[];
  /** Told about every read once all asked replicas answered. */
  onReadVote?: (key: string, expected: Expected, result: VoteResult) => void;
  /** Rewrite the bad copies a read finds from the verified bytes (default true). A mount reports
   * them to the mediator instead, which repairs and counts them. */
  readRepair?: boolean;
  /** Told about each read repair: a bad copy rewritten (or not) from the verified one. */
  onReadRepair?: (key: string, version: number, serverId: string, verdict: string, ok: boolean) => void;
  /** Waits, until the deadline, while fewer than `count` servers are live but a replacement is
   * on its way; resolves true if `count` are live now. Without it, writes never wait. */
  awaitWriteTargets?: (count: number, deadlineMs: number) => Promise<boolean>;
  /** Told about replicas a committed write did not reach: they are under-replicated. */
  onWriteMiss?: (key: string, version: number, serverId: string, reason: string) => void;
  /** Told how each put of a write ended on its server: undefined when stored, else the error
   * code (NO_SPACE says the server is full). */
  onPutSettled?: (serverId: string, code: ErrorCode | undefined) => void;
  /** Told how each quorum read (readBlock) and write (writeBlock, patchBlock) ended: 'good'
   * at the first try, 'widened' when it took more (a read asking the other servers after the
   * first Qr had no good copy; a write sent again to the servers live then), 'failed' when it
   * threw. */
  onQuorum?: (op: 'read' | 'write', outcome: QuorumOutcome) => void;
}

export type QuorumOutcome = 'good' | 'widened' | 'failed';

export class Replicator {
  /** Puts still on their way, as key@version@server: a replica missing one of these is not bad,
   * only late (a write returns once Qw acknowledged, before the rest). */
  private readonly putsInFlight = new Set<string>();

  constructor(private readonly options: ReplicatorOptions) {}

  /** Writes one block version to every live server; resolves with the servers that acknowledged
   * once Qw have; QUORUM_NOT_REACHED if that cannot happen before the deadline. While a crashed
   * server is being replaced, the write waits for the replacement and is sent again (a put of
   * a fixed version is idempotent). `data` must not change until every send settles.
   * A quorum missed for lack of space fails NO_SPACE instead (core/capacity.ts). */
  writeBlock(key: string, version: number, data: Uint8Array, checksum: string, deadlineMs: number): Promise<string[]> {
    return this.writeWith(key, version, deadlineMs, (target, timeoutMs) =>
      target.client.call(dataMethods.put, { key, version, checksum }, { payload: data, timeoutMs }),
    );
  }

  /** Writes one block version as a patch of `baseVersion` (core/extent-patch.ts): each server
   * makes it from the base it holds, so only the pieces cross the network. Succeeds, waits and
   * retries as writeBlock; a server without the base fails its patch (NOT_FOUND) and counts as
   * a miss. `payload` must not change until every send settles. */
  patchBlock(key: string, baseVersion: number, version: number, checksum: string, pieces: Piece[], payload: Uint8Array, deadlineMs: number): Promise<string[]> {
    // A patch that fails short of its deadline is sent again whole (FileIo), whose outcome is
    // the write's: only a timeout ends the write here.
    return this.writeWith(key, version, deadlineMs, (target, timeoutMs) =>
      target.client.call(dataMethods.patch, { key, baseVersion, version, checksum, pieces }, { payload, timeoutMs }),
      (err) => codeOf(err) === 'TIMEOUT',
    );
  }

  /** `endsWrite`: whether a failure is the end of the write (counted failed) rather than
   * followed by another way of writing the same version. */
  private async writeWith(key: string, version: number, deadlineMs: number, send: Send, endsWrite: (err: unknown) => boolean = () => true): Promise<string[]> {
    let attempts = 0;
    try {
      const acked = await this.writeAttempts(key, version, deadlineMs, send, () => attempts++);
      this.options.onQuorum?.('write', attempts > 1 ? 'widened' : 'good');
      return acked;
    } catch (err) {
      if (endsWrite(err)) this.options.onQuorum?.('write', 'failed');
      throw err;
    }
  }

  private async writeAttempts(key: string, version: number, deadlineMs: number, send: Send, attempted: () => void): Promise<string[]> {
    const { writeQuorum } = this.options;
    for (let attempt = 1; ; attempt++) {
      attempted();
      await this.options.awaitWriteTargets?.(writeQuorum, deadlineMs);
      const targets = this.options.writableTargets();
      try {
        if (targets.length < writeQuorum) {
          throw qfsError('QUORUM_NOT_REACHED', `write of ${key}: ${targets.length} live data servers, write quorum is ${writeQuorum}`);
        }
        return await this.writeOnce(key, version, send, deadlineMs, targets);
      } catch (err) {
        const clock = this.options.clock;
        if (!writeRetryDue(codeOf(err), attempt, clock.nowMs(), deadlineMs, limits.writeMaxAttempts, limits.writeRetryDelayMs)) throw err;
        await clock.sleep(limits.writeRetryDelayMs); // let the failure detector see the server that failed
      }
    }
  }

  private writeOnce(key: string, version: number, send: Send, deadlineMs: number, targets: ReplicaTarget[]): Promise<string[]> {
    const { writeQuorum } = this.options;
    return new Promise((resolve, reject) => {
      const acked: string[] = [];
      const failures: string[] = [];
      const failed: Array<{ id: string; reason: string }> = [];
      let noSpaceFailures = 0;
      let settled = false;
      const check = (): void => {
        if (settled) return;
        const outcome = writeOutcome(acked.length, failures.length, targets.length, writeQuorum);
        if (outcome === 'committed') {
          settled = true;
          // Replicas that failed before the quorum was reached are misses too (a full disk
          // answers first): the block is committed without them.
          for (const f of failed) this.options.onWriteMiss?.(key, version, f.id, f.reason);
          resolve([...acked]);
        } else if (outcome === 'failed') {
          settled = true;
          reject(
            qfsError(
              writeFailureCode(targets.length, failures.length, noSpaceFailures, writeQuorum),
              `write of ${key}: ${acked.length} of ${targets.length} data servers acknowledged, write quorum is ${writeQuorum}${noSpaceFailures > 0 ? `, ${noSpaceFailures} had no space left` : ''} (${failures.join('; ')})`,
            ),
          );
        }
      };
      for (const target of targets) {
        const inFlight = `${key}@${version}@${target.id}`;
        this.putsInFlight.add(inFlight);
        send(target, deadlineMs - this.options.clock.nowMs())
          .finally(() => this.putsInFlight.delete(inFlight))
          .then(
            () => {
              this.options.onPutSettled?.(target.id, undefined);
              acked.push(target.id);
              check();
            },
            (err: unknown) => {
              this.options.onPutSettled?.(target.id, codeOf(err));
              if (codeOf(err) === 'NO_SPACE') noSpaceFailures++;
              failures.push(`${target.id}: ${messageOf(err)}`);
              if (settled) this.options.onWriteMiss?.(key, version, target.id, messageOf(err));
              else failed.push({ id: target.id, reason: messageOf(err) });
              check();
            },
          );
      }
    });
  }

  /** Reads the block version the block map names. Returns verified bytes, owned by the caller.
   * Fails CORRUPT if replicas answered but none is good, UNAVAILABLE if none answered. */
  async readBlock(key: string, expected: Expected, deadlineMs: number, exclude?: string): Promise<Buffer> {
    // `exclude`: a server known to lack a good copy (the one a repair is about to rewrite).
    const live = this.options.liveTargets();
    const writable = this.options.writableTargets().filter((t) => t.id !== exclude);
    const { first, widen } = readPlan(
      live.map((t) => t.id),
      writable.map((t) => t.id),
      this.options.readQuorum,
      this.options.random,
      exclude,
    );
    // Live servers are writable ones too, so every server the plan names is here.
    const byId = new Map(writable.map((t) => [t.id, t]));
    const replies: ReplicaReply[] = [];
    const firstTargets = first.map((id) => byId.get(id)!);
    // Replicas whose put was still on its way when the read began: missing there is late, not bad.
    const late = new Set(writable.filter((t) => this.putsInFlight.has(`${key}@${expected.version}@${t.id}`)).map((t) => t.id));
    let data = await this.firstGood(key, expected, firstTargets, deadlineMs, replies, late);
    if (data) this.options.onQuorum?.('read', 'good');
    else {
      // Widen to every other server, those being healed included: any good copy will do.
      data = await this.firstGood(key, expected, widen.map((id) => byId.get(id)!), deadlineMs, replies, late);
      this.options.onQuorum?.('read', data ? 'widened' : 'failed');
    }
    if (!data) {
      const result = this.withoutLate(key, expected.version, vote(expected, replies), late);
      this.options.onReadVote?.(key, expected, result);
      const code = result.bad.length > 0 ? 'CORRUPT' : 'UNAVAILABLE';
      throw qfsError(
        code,
        `no good replica of ${key} v${expected.version}: ${describeReplies(replies)}`,
      );
    }
    return data;
  }

  /** Reads from the targets in parallel: the first sends its bytes, which are checked here; the
   * others check theirs in place (`verify`), so Qr copies are verified for the cost of one
   * transfer. Resolves with the good bytes as soon as they are in (undefined when no target had
   * a good copy); if the first had none, a target that vouched for its copy is asked for it.
   * Every reply is appended to `replies`; once all are in, the vote is reported so bad copies can
   * be repaired without delaying the reader. */
  private async firstGood(
    key: string,
    expected: Expected,
    targets: ReplicaTarget[],
    deadlineMs: number,
    replies: ReplicaReply[],
    late: ReadonlySet<string>,
  ): Promise<Buffer | undefined> {
    if (targets.length === 0) return undefined;
    const [reader, ...checkers] = targets as [ReplicaTarget, ...ReplicaTarget[]];
    const fetching = this.askReplica(reader, key, expected, deadlineMs);
    const all = Promise.all([fetching, ...checkers.map((t) => this.checkReplica(t, key, expected, deadlineMs))]);
    const finish = (answers: { reply: ReplicaReply }[], found: Buffer): void => {
      replies.push(...answers.map((a) => a.reply));
      const result = this.withoutLate(key, expected.version, vote(expected, replies), late);
      this.options.onReadVote?.(key, expected, result);
      this.readRepair(key, expected, found, result);
    };
    const fetched = await fetching;
    if (fetched.data) {
      const found = fetched.data;
      void all.then((answers) => finish(answers, found));
      return found;
    }
    const answers = await all;
    for (const [i, answer] of answers.entries()) {
      if (i === 0 || answer.reply.kind !== 'data') continue;
      const again = await this.askReplica(targets[i]!, key, expected, deadlineMs);
      answers[i] = again;
      if (again.data) {
        finish(answers, again.data);
        return again.data;
      }
    }
    replies.push(...answers.map((a) => a.reply));
    return undefined;
  }

  /** Has the target check its copy in place; its word counts in the vote, its bytes are not sent. */
  private async checkReplica(target: ReplicaTarget, key: string, expected: Expected, deadlineMs: number): Promise<{ reply: ReplicaReply }> {
    const server = target.id;
    try {
      const result = await target.client.call(dataMethods.verify, { key, version: expected.version }, { timeoutMs: this.timeLeftMs(deadlineMs) });
      if (result.status === 'corrupt') return { reply: { server, kind: 'corrupt' } };
      if (result.status === 'missing' || result.checksum === undefined) return { reply: { server, kind: 'missing' } };
      return { reply: { server, kind: 'data', version: expected.version, checksum: result.checksum } };
    } catch {
      return { reply: { server, kind: 'unreachable' } };
    }
  }

  private async askReplica(
    target: ReplicaTarget,
    key: string,
    expected: Expected,
    deadlineMs: number,
  ): Promise<{ reply: ReplicaReply; data?: Buffer }> {
    const server = target.id;
    try {
      const { result, payload } = await target.client.callWithPayload(
        dataMethods.get,
        { key, version: expected.version },
        { timeoutMs: this.timeLeftMs(deadlineMs) },
      );
      // Recompute: a replica's claim about its own bytes is not evidence.
      const checksum = checksumLike(payload, expected.checksum);
      const reply: ReplicaReply = { server, kind: 'data', version: result.version, checksum };
      const good = result.version === expected.version && checksum === expected.checksum;
      return good ? { reply, data: payload } : { reply };
    } catch (err) {
      const code = codeOf(err);
      if (code === 'CORRUPT') return { reply: { server, kind: 'corrupt' } };
      if (code === 'NOT_FOUND') return { reply: { server, kind: 'missing' } };
      return { reply: { server, kind: 'unreachable' } };
    }
  }

  /** The vote without replicas that are only late: their put was on its way when the read
   * began (`late`) or still is. */
  private withoutLate(key: string, version: number, result: VoteResult, late: ReadonlySet<string>): VoteResult {
    return { ...result, bad: result.bad.filter((b) => !late.has(b.server) && !this.putsInFlight.has(`${key}@${version}@${b.server}`)) };
  }

  /** One verified copy of the block version the block map names, for a repair: servers are
   * asked one at a time (live ones first, in random order, then those being healed) until one
   * sends bytes whose recomputed checksum matches; bad copies met on the way are repaired from
   * it. The copy is as trustworthy as a quorum read's, for a fraction of the traffic: only a
   * match with the block map counts. Fails CORRUPT or UNAVAILABLE as readBlock does. */
  async readVerifiedCopy(key: string, expected: Expected, deadlineMs: number, exclude?: string): Promise<Buffer> {
    const live = this.options.liveTargets();
    const writable = this.options.writableTargets();
    const byId = new Map(writable.map((t) => [t.id, t]));
    const order = copySourceOrder(
      live.map((t) => t.id),
      writable.map((t) => t.id),
      this.options.random,
      exclude,
    ).map((id) => byId.get(id)!);
    const replies: ReplicaReply[] = [];
    for (const target of order) {
      if (this.options.clock.nowMs() >= deadlineMs) break;
      const { reply, data } = await this.askReplica(target, key, expected, deadlineMs);
      replies.push(reply);
      if (data) {
        const result = this.withoutLate(key, expected.version, vote(expected, replies), new Set());
        if (result.bad.length > 0) {
          this.options.onReadVote?.(key, expected, result);
          this.readRepair(key, expected, data, result);
        }
        return data;
      }
    }
    const code = replies.some((r) => r.kind === 'corrupt' || r.kind === 'data') ? 'CORRUPT' : 'UNAVAILABLE';
    throw qfsError(code, `no good replica of ${key} v${expected.version} to copy from: ${describeReplies(replies)}`);
  }

  /**
   * Some extents of the block version the block map names, each checked against the version's
   * table and the table against the map's checksum: one of `quorum` servers chosen at random
   * sends them, the others check theirs in place. Only the case where all is well is served:
   * anything else (a bad, missing or unreachable copy, too few live servers) throws, and the
   * caller reads the block whole (readBlock), which widens, votes and repairs.
   */
  async readExtents(
    key: string,
    expected: Expected,
    sizeBytes: number,
    extents: number[],
    quorum: number,
    deadlineMs: number,
  ): Promise<{ table: Buffer; extents: Map<number, Buffer> }> {
    const live = this.options.liveTargets();
    const { first } = readPlan(
      live.map((t) => t.id),
      live.map((t) => t.id),
      quorum,
      this.options.random,
    );
    if (first.length < quorum) throw qfsError('QUORUM_NOT_REACHED', `extents of ${key}: ${first.length} live data servers, ${quorum} needed`);
    const byId = new Map(live.map((t) => [t.id, t]));
    const [reader, ...checkers] = first.map((id) => byId.get(id)!.client);
    const read = { key, version: expected.version, checksum: expected.checksum, sizeBytes, extents };
    const got = await readCheckedExtents(reader!, checkers, read, this.timeLeftMs(deadlineMs));
    if (!got) throw qfsError('CORRUPT', `extents of ${key} v${expected.version}: a copy does not match the block map`);
    return { table: got.table, extents: new Map(extents.map((index, i) => [index, got.parts[i]!])) };
  }

  /** Milliseconds to an absolute deadline, at least 1 (a call past it fails TIMEOUT there). */
  private timeLeftMs(deadlineMs: number): number {
    return Math.max(1, deadlineMs - this.options.clock.nowMs());
  }

  /** Rewrites the bad copies a read found, from the verified bytes it returned, without delaying
   * the reader. */
  private readRepair(key: string, expected: Expected, data: Buffer, result: VoteResult): void {
    if (this.options.readRepair === false) return;
    const writable = new Map(this.options.writableTargets().map((t) => [t.id, t]));
    for (const { server, verdict } of result.bad) {
      const target = writable.get(server);
      if (!target) continue;
      target.client
        .call(dataMethods.put, { key, version: expected.version, checksum: expected.checksum }, { payload: data, timeoutMs: limits.readRepairTimeoutMs })
        .then(
          () => this.options.onReadRepair?.(key, expected.version, server, verdict, true),
          () => this.options.onReadRepair?.(key, expected.version, server, verdict, false),
        );
    }
  }

  /** Deletes block versions from every live server, best effort (orphans left behind are found
   * by the scrubber). */
  async deleteVersions(key: string, versions: number[], deadlineMs: number): Promise<void> {
    const calls: Promise<unknown>[] = [];
    for (const target of this.options.writableTargets()) {
      for (const version of versions) {
        calls.push(
          target.client
            .call(dataMethods.delete, { key, version }, { timeoutMs: this.timeLeftMs(deadlineMs) })
            .catch((err: unknown) => (err instanceof QfsError ? err : undefined)),
        );
      }
    }
    await Promise.all(calls);
  }
}

/** Sends one write (a put or a patch) to one server. */
type Send = (target: ReplicaTarget, timeoutMs: number) => Promise<unknown>;

/** What each asked replica answered, for an error message. */
function describeReplies(replies: readonly ReplicaReply[]): string {
  return replies.map((r) => `${r.server} ${r.kind === 'data' ? 'mismatch' : r.kind}`).join(', ') || 'no live data servers';
}
