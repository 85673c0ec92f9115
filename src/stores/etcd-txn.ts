// The etcd engine's transactions: optimistic concurrency over etcd's KV API. An EtcdTxn reads at
// one snapshot revision (its first read fixes it), remembers the mod revision of every key it read
// (0: absent), and commits its writes in ONE etcd transaction whose compares say that none of
// those keys changed since; a failed compare is a conflict, and the caller tries again from new
// reads. A request an attempt repeats is answered from what it read (the same snapshot: the same
// answer), so a call can read ahead in one etcd call what it reads next; reads add no compares.
// Every call carries a deadline; failures become QfsError TIMEOUT or UNAVAILABLE.

import type { Etcd3, ICompare, IKeyValue, IRangeRequest, IRangeResponse, IRequestOp, ITxnRequest } from 'etcd3';
import { GRPCDeadlineExceededError } from 'etcd3';
import { QfsError, messageOf, qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Fence } from './meta-store.js';

/** etcd's default bound on the operations (and, separately, the compares) of one transaction. */
export const ETCD_MAX_TXN_OPS = 128;

/** The key just after every key that starts with `prefix`: the end of a prefix range. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** An etcd client's KV calls with a deadline each and errors as QfsErrors. */
export class EtcdKv {
  constructor(
    private readonly client: Etcd3,
    private readonly callTimeoutMs: number = limits.etcdCallTimeoutMs,
  ) {}

  async range(req: IRangeRequest): Promise<IRangeResponse> {
    try {
      return await this.client.kv.range(req, { deadline: Date.now() + this.callTimeoutMs });
    } catch (err) {
      throw etcdFailure('range', err);
    }
  }

  async txn(req: ITxnRequest): Promise<{ succeeded: boolean; responses: ITxnResponseOps; revision: string }> {
    try {
      const res = await this.client.kv.txn(req, { deadline: Date.now() + this.callTimeoutMs });
      return { succeeded: res.succeeded, responses: res.responses, revision: res.header.revision };
    } catch (err) {
      throw etcdFailure('txn', err);
    }
  }
}

type ITxnResponseOps = Array<{ response_range?: IRangeResponse }>;

/** A deadline passed: TIMEOUT; an oversized or malformed request: INTERNAL (a bug here); the rest
 * (no connection, no leader, a broken circuit): UNAVAILABLE. */
export function etcdFailure(what: string, err: unknown): QfsError {
  if (err instanceof QfsError) return err;
  const message = messageOf(err);
  if (err instanceof GRPCDeadlineExceededError || /deadline/i.test(message)) {
    return qfsError('TIMEOUT', `etcd ${what} did not answer within ${limits.etcdCallTimeoutMs} ms: ${message}`, err);
  }
  if (/too many operations|request is too large|duplicate key/i.test(message)) {
    return qfsError('INTERNAL', `etcd refused a ${what}: ${message}`, err);
  }
  return qfsError('UNAVAILABLE', `etcd ${what} failed: ${message}`, err);
}

/** Thrown inside an attempt when its snapshot is no longer usable (compacted): try again. */
export class TxnConflict extends Error {}

const KEYED_FIELDS: ReadonlySet<string> = new Set(['key', 'range_end', 'limit', 'keys_only', 'count_only']);

/** What identifies a range request's answer at a fixed snapshot (the store sets no other field). */
function requestId(r: IRangeRequest): string {
  for (const [field, value] of Object.entries(r)) {
    if (value !== undefined && !KEYED_FIELDS.has(field)) throw qfsError('INTERNAL', `a range request with ${field}, which answers are not keyed by`);
  }
  return `${r.key?.toString('hex') ?? ''}:${r.range_end?.toString('hex') ?? ''}:${String(r.limit ?? 0)}:${r.keys_only === true ? 1 : 0}:${r.count_only === true ? 1 : 0}`;
}

export type CommitOutcome = 'committed' | 'conflict' | 'fenced';

export class EtcdTxn {
  /** The snapshot every read of this attempt sees; set by the first read. */
  private revision: string | undefined;
  private readonly compares = new Map<string, ICompare>();
  private readonly writes = new Map<string, IRequestOp>();
  private readonly rangeDeletes: IRequestOp[] = [];
  /** Answers of this attempt's range requests, by request (memory: what the attempt read). */
  private readonly answered = new Map<string, IRangeResponse>();

  constructor(private readonly kv: EtcdKv) {}

  /** Range requests at the snapshot, several per etcd call; no compares recorded. A request
   * already answered in this attempt is answered again from memory (same snapshot: the same
   * answer), so prefetch() can read ahead in one call what later reads ask one by one. */
  async read(reqs: IRangeRequest[]): Promise<IRangeResponse[]> {
    const ids = reqs.map(requestId);
    const missing = new Map<string, IRangeRequest>();
    reqs.forEach((r, i) => {
      if (!this.answered.has(ids[i]!)) missing.set(ids[i]!, r);
    });
    const parts: Array<Array<[string, IRangeRequest]>> = [];
    const ask = [...missing];
    for (let i = 0; i < ask.length; i += ETCD_MAX_TXN_OPS) parts.push(ask.slice(i, i + ETCD_MAX_TXN_OPS));
    // The first call fixes the snapshot; once it is fixed, the parts go at once.
    if (this.revision === undefined && parts.length > 0) await this.readPart(parts.shift()!);
    await Promise.all(parts.map((part) => this.readPart(part)));
    return ids.map((id) => this.answered.get(id)!);
  }

  private async readPart(part: Array<[string, IRangeRequest]>): Promise<void> {
    let res;
    try {
      res = await this.kv.txn({ success: part.map(([, r]) => ({ request_range: { ...r, revision: this.revision ?? 0 } })) });
    } catch (err) {
      if (err instanceof QfsError && /compacted/.test(err.message)) throw new TxnConflict(err.message);
      throw err;
    }
    this.revision ??= res.revision;
    res.responses.forEach((r, j) => this.answered.set(part[j]![0], r.response_range!));
  }

  /** Reads ahead, in one etcd call, what this attempt will ask later (no compares recorded:
   * those come with the reads that use the answers). */
  async prefetch(reqs: IRangeRequest[]): Promise<void> {
    await this.read(reqs);
  }

  /** Point reads; each key's state is compared at commit. */
  async getMany(keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    const res = await this.read(keys.map((key) => ({ key })));
    return res.map((r, i) => {
      const kv = r.kvs[0];
      this.expect(keys[i]!, kv === undefined ? '0' : kv.mod_revision);
      return kv?.value;
    });
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    return (await this.getMany([key]))[0];
  }

  /** Keys in [start, end) at the snapshot, at most `limit`, in key order; no compares. */
  async range(start: Buffer, end: Buffer, limit: number, keysOnly = false): Promise<IKeyValue[]> {
    const [res] = await this.read([{ key: start, range_end: end, limit, keys_only: keysOnly }]);
    return res!.kvs;
  }

  /** Every key of [start, end) at the snapshot, page by page: `visit` sees each page once. */
  async scan(start: Buffer, end: Buffer, visit: (kvs: IKeyValue[]) => void, keysOnly = false): Promise<void> {
    let from = start;
    for (;;) {
      const kvs = await this.range(from, end, limits.etcdRangePageKeys, keysOnly);
      if (kvs.length > 0) visit(kvs);
      if (kvs.length < limits.etcdRangePageKeys) return;
      from = Buffer.concat([kvs[kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  /** Commit only if `key` still has this mod revision ('0': still absent). */
  expect(key: Buffer, modRevision: string): void {
    this.compares.set(`k${key.toString('hex')}`, { key, target: 'Mod', result: 'Equal', mod_revision: modRevision });
  }

  /** Drops the compare on a key read but not relied on. */
  forget(key: Buffer): void {
    this.compares.delete(`k${key.toString('hex')}`);
  }

  /** Commit only if no key in [start, end) was added or changed since the snapshot (deletions
   * are caught by expect() on the keys seen). */
  guardRange(start: Buffer, end: Buffer): void {
    if (this.revision === undefined) throw qfsError('INTERNAL', 'guardRange before any read');
    const below = (BigInt(this.revision) + 1n).toString();
    this.compares.set(`r${start.toString('hex')}:${end.toString('hex')}`, { key: start, range_end: end, target: 'Mod', result: 'Less', mod_revision: below });
  }

  put(key: Buffer, value: Buffer): void {
    this.writes.set(key.toString('hex'), { request_put: { key, value } });
  }

  del(key: Buffer): void {
    this.writes.set(key.toString('hex'), { request_delete_range: { key } });
  }

  /** Deletes [start, end); must not overlap a key put or deleted in the same transaction. */
  delRange(start: Buffer, end: Buffer): void {
    this.rangeDeletes.push({ request_delete_range: { key: start, range_end: end } });
  }

  get opCount(): number {
    return this.writes.size + this.rangeDeletes.length;
  }

  get hasWrites(): boolean {
    return this.opCount > 0;
  }

  /** Commits the writes if nothing read changed and, with a fence, the fence key still exists
   * with its create revision. */
  async commit(fence: Fence | undefined): Promise<CommitOutcome> {
    const compare = [...this.compares.values()];
    const fenceKey = fence === undefined ? undefined : Buffer.from(fence.key);
    if (fence !== undefined) compare.push({ key: fenceKey, target: 'Create', result: 'Equal', create_revision: fence.createRevision });
    const success = [...this.writes.values(), ...this.rangeDeletes];
    if (compare.length > ETCD_MAX_TXN_OPS || success.length > ETCD_MAX_TXN_OPS) {
      throw qfsError('INTERNAL', `an etcd transaction of ${compare.length} compares and ${success.length} operations is over ${ETCD_MAX_TXN_OPS}`);
    }
    const failure: IRequestOp[] = fenceKey === undefined ? [] : [{ request_range: { key: fenceKey } }];
    const res = await this.kv.txn({ compare, success, failure });
    if (res.succeeded) return 'committed';
    if (fence === undefined) return 'conflict';
    const kv = res.responses[0]?.response_range?.kvs[0];
    return kv !== undefined && kv.create_revision === fence.createRevision ? 'conflict' : 'fenced';
  }
}
