// Brings data servers back to full redundancy from verified replicas: the catch-up or fill of
// one server (plan from src/core/repair-plan.ts), the repair of one block on one server, and
// the scrub pass that verifies every block on every server in place and repairs what is wrong.
// All copies come from Replicator.readBlock, which returns only bytes matching the block map.

import { codeOf, messageOf } from '../common/errors.js';
import { forEachBounded, type RateLimiter } from '../common/rate-limiter.js';
import { blockId, orphanCandidates, planRepair, type HeldBlock, type MapBlock } from '../core/repair-plan.js';
import { dataMethods } from '../protocol/data-messages.js';
import { metaMethods } from '../protocol/meta-messages.js';
import type { RpcClient } from '../transport/rpc-client.js';
import type { Replicator } from './replicator.js';

const LIST_PAGE_BLOCKS = 10_000;
const REPAIR_TIMEOUT_MS = 30_000;

export interface Progress {
  totalBlocks: number;
  doneBlocks: number;
  totalBytes: number;
  doneBytes: number;
  failedBlocks: number;
  startedMs: number;
  endedMs?: number;
}

export interface HealerOptions {
  meta: RpcClient;
  replicator: Replicator;
  clientOf: (serverId: string) => RpcClient;
  limiter: RateLimiter;
  concurrency: number;
  /** A block was written to a server from a verified copy. */
  onRepaired: (serverId: string, key: string, version: number, why: string) => void;
  onBadCopy: (serverId: string, key: string, version: number, why: string) => void;
  log: (message: string, fields: Record<string, unknown>) => void;
}

export function newProgress(): Progress {
  return { totalBlocks: 0, doneBlocks: 0, totalBytes: 0, doneBytes: 0, failedBlocks: 0, startedMs: Date.now() };
}

export class Healer {
  /** Orphan candidates seen by the previous scrub pass, per server, and when it listed them. */
  private previousOrphans = new Map<string, { candidates: Set<string>; listedMs: number }>();

  constructor(private readonly options: HealerOptions) {}

  /** Every committed block, from the metadata server. */
  async blockMap(): Promise<MapBlock[]> {
    const all: MapBlock[] = [];
    // Pages continue after (ino, index); inode 0 does not exist, so (0, 0) starts at the top.
    let afterIno = 0;
    let afterIndex = 0;
    for (;;) {
      const { blocks } = await this.options.meta.call(
        metaMethods.listBlocks,
        { afterIno, afterIndex, limit: LIST_PAGE_BLOCKS },
        { timeoutMs: REPAIR_TIMEOUT_MS },
      );
      all.push(...blocks);
      if (blocks.length < LIST_PAGE_BLOCKS) return all;
      const last = blocks[blocks.length - 1]!;
      afterIno = last.ino;
      afterIndex = last.index;
    }
  }

  async held(serverId: string): Promise<HeldBlock[]> {
    const { entries } = await this.options.clientOf(serverId).call(dataMethods.list, {}, { timeoutMs: REPAIR_TIMEOUT_MS });
    return entries;
  }

  /** Copies to `serverId` every committed block it lacks and deletes its superseded versions. */
  async heal(serverId: string, progress: Progress, active: () => boolean): Promise<void> {
    const held = await this.held(serverId);
    const plan = planRepair(await this.blockMap(), held);
    progress.totalBlocks = plan.copy.length;
    progress.totalBytes = plan.copy.reduce((sum, b) => sum + b.lengthBytes, 0);
    await forEachBounded(plan.copy, this.options.concurrency, active, async (block) => {
      const ok = await this.repairBlock(serverId, block, 'heal');
      if (ok) progress.doneBlocks++;
      else progress.failedBlocks++;
      progress.doneBytes += block.lengthBytes;
    });
    const client = this.options.clientOf(serverId);
    await forEachBounded(plan.remove, this.options.concurrency, active, async ({ key, version }) => {
      await client.call(dataMethods.delete, { key, version }, { timeoutMs: REPAIR_TIMEOUT_MS }).catch(() => undefined);
    });
    progress.endedMs = Date.now();
  }

  /** Writes a verified copy of `block` to `serverId`; false if that failed (or the block is no
   * longer the committed version, which is not a failure of the server). */
  async repairBlock(serverId: string, block: MapBlock, why: string): Promise<boolean> {
    const key = blockId(block.ino, block.index);
    await this.options.limiter.take(block.lengthBytes);
    try {
      const deadlineMs = Date.now() + REPAIR_TIMEOUT_MS;
      const data = await this.options.replicator.readBlock(key, block, deadlineMs, serverId);
      await this.options.clientOf(serverId).call(dataMethods.put, { key, version: block.version, checksum: block.checksum }, { payload: data, timeoutMs: REPAIR_TIMEOUT_MS });
      this.options.onRepaired(serverId, key, block.version, why);
      return true;
    } catch (err) {
      this.options.log('repair failed', { server: serverId, key, version: block.version, code: codeOf(err), err: messageOf(err) });
      return false;
    }
  }

  /** One scrub pass: each server verifies each committed block in place; bad or missing copies
   * are rewritten from verified replicas. Orphans (versions nothing refers to) are deleted when
   * a previous pass, at least `orphanMinAgeMs` earlier, saw them too. */
  async scrub(serverIds: string[], progress: Progress, active: () => boolean, orphanMinAgeMs: number): Promise<void> {
    const listed = new Map<string, { held: HeldBlock[]; listedMs: number }>();
    for (const id of serverIds) listed.set(id, { held: await this.held(id), listedMs: Date.now() });
    // The map is read after the listings, so a block written and committed in between is not
    // taken for an orphan.
    const map = await this.blockMap();
    progress.totalBlocks = map.length * serverIds.length;
    progress.totalBytes = map.reduce((sum, b) => sum + b.lengthBytes, 0) * serverIds.length;
    const work = serverIds.flatMap((id) => map.map((block) => ({ id, block })));
    await forEachBounded(work, this.options.concurrency, active, async ({ id, block }) => {
      if (!(await this.verifyBlock(id, block))) progress.failedBlocks++;
      progress.doneBlocks++;
      progress.doneBytes += block.lengthBytes;
    });
    for (const [id, { held, listedMs }] of listed) await this.removeOrphans(id, map, held, listedMs, orphanMinAgeMs);
    progress.endedMs = Date.now();
  }

  /** Verifies one copy; repairs it if bad. False only if it was bad and could not be repaired. */
  private async verifyBlock(serverId: string, block: MapBlock): Promise<boolean> {
    const key = blockId(block.ino, block.index);
    await this.options.limiter.take(block.lengthBytes);
    let verdict: string;
    try {
      const r = await this.options.clientOf(serverId).call(dataMethods.verify, { key, version: block.version }, { timeoutMs: REPAIR_TIMEOUT_MS });
      verdict = r.status === 'ok' && r.checksum !== block.checksum ? 'mismatch' : r.status;
    } catch {
      return true; // unreachable: the failure detector deals with that server
    }
    if (verdict === 'ok') return true;
    this.options.onBadCopy(serverId, key, block.version, verdict);
    return this.repairBlock(serverId, block, `scrub: ${verdict}`);
  }

  private async removeOrphans(serverId: string, map: MapBlock[], held: HeldBlock[], listedMs: number, minAgeMs: number): Promise<void> {
    const candidates = new Set(orphanCandidates(map, held));
    const previous = this.previousOrphans.get(serverId);
    this.previousOrphans.set(serverId, { candidates, listedMs });
    if (!previous || listedMs - previous.listedMs < minAgeMs) return;
    const client = this.options.clientOf(serverId);
    for (const id of candidates) {
      if (!previous.candidates.has(id)) continue;
      const at = id.lastIndexOf('@');
      await client
        .call(dataMethods.delete, { key: id.slice(0, at), version: Number(id.slice(at + 1)) }, { timeoutMs: REPAIR_TIMEOUT_MS })
        .catch(() => undefined);
    }
  }
}
