// Brings data servers back to full redundancy from verified replicas: the catch-up or fill of
// one server, the repair of one block on one server, and the scrub pass that verifies every
// block on every server in place and repairs what is wrong. Everything streams: the block map
// and a server's listing are read a page at a time (limits.maxBlocksPerCall, listPageBytes) and
// each page is settled before the next is read, so memory does not grow with the data. All
// copies come from Replicator.readVerifiedCopy, which returns only bytes matching the block map.

import { codeOf, messageOf, qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { forEachBounded, type RateLimiter } from '../common/rate-limiter.js';
import { parseBlockKey } from '../common/types.js';
import { blockId, copyVerdict, orphanCandidatesInPage, orphanRipe, type MapBlock } from '../core/repair-plan.js';
import { dataMethods, type blockCursor } from '../protocol/data-messages.js';
import { metaMethods } from '../protocol/meta-messages.js';
import type { RpcChannel } from '../transport/rpc-channel.js';
import type { Clock } from '../common/clock.js';
import type { Replicator } from './replicator.js';


export interface Progress {
  totalBlocks: number;
  doneBlocks: number;
  totalBytes: number;
  doneBytes: number;
  failedBlocks: number;
  startedMs: number;
  endedMs?: number;
  /** The totals are known: a heal's compare finished (its total is what the server lacked). */
  compared: boolean;
}

export interface PassOutcome {
  complete: boolean;
  /** Why not, in one line; absent when complete. */
  reason?: string;
}

export interface HealerOptions {
  meta: RpcChannel;
  replicator: Replicator;
  clientOf: (serverId: string) => RpcChannel;
  clock: Clock;
  limiter: RateLimiter;
  concurrency: number;
  /** A block was written to a server from a verified copy. */
  onRepaired: (serverId: string, key: string, version: number, why: string) => void;
  onBadCopy: (serverId: string, key: string, version: number, why: string) => void;
  log: (message: string, fields: Record<string, unknown>) => void;
  /** Orphan candidates the last scrub pass saw, per server, each with the time a pass first saw
   * it (at most limits.maxOrphanCandidatesPerServer each). Owned by the caller, so it outlives
   * this healer: scrub passes are run by healers made for them. */
  orphanSightings: Map<string, Map<string, number>>;
}

export function newProgress(nowMs: number): Progress {
  return { totalBlocks: 0, doneBlocks: 0, totalBytes: 0, doneBytes: 0, failedBlocks: 0, startedMs: nowMs, compared: false };
}

type Cursor = ReturnType<typeof blockCursor>;

export class Healer {
  constructor(private readonly options: HealerOptions) {}

  /** Every committed block, from the metadata server, one page at a time in (ino, index) order. */
  async *mapPages(active: () => boolean): AsyncGenerator<MapBlock[]> {
    // Pages continue after (ino, index); inode 0 does not exist, so (0, 0) starts at the top.
    let afterIno = 0;
    let afterIndex = 0;
    while (active()) {
      const { blocks } = await this.options.meta.call(
        metaMethods.listBlocks,
        { afterIno, afterIndex, limit: limits.maxBlocksPerCall },
        { timeoutMs: limits.repairCallTimeoutMs },
      );
      if (blocks.length > 0) yield blocks;
      if (blocks.length < limits.maxBlocksPerCall) return;
      const last = blocks[blocks.length - 1]!;
      afterIno = last.ino;
      afterIndex = last.index;
    }
  }

  /** Committed blocks of `page` that the server lacks, and those of which it holds older versions. */
  private async compare(serverId: string, page: MapBlock[]): Promise<{ lacking: MapBlock[]; older: MapBlock[] }> {
    const blocks = page.map((b) => ({ key: blockId(b.ino, b.index), version: b.version, checksum: b.checksum }));
    const r = await this.options.clientOf(serverId).call(dataMethods.have, { blocks }, { timeoutMs: limits.repairCallTimeoutMs });
    return { lacking: r.lacking.map((i) => page[i]!), older: r.older.map((i) => page[i]!) };
  }

  /** Copies to `serverId` every committed block it lacks and deletes its superseded versions.
   * First counts what it lacks (index look-ups only, so status knows early and the progress has
   * a total), then walks the map again and copies. Throws if the server or the metadata server
   * cannot be asked; blocks that could not be copied are counted in progress.failedBlocks. */
  async heal(serverId: string, progress: Progress, active: () => boolean): Promise<PassOutcome> {
    for await (const page of this.mapPages(active)) {
      const { lacking } = await this.compare(serverId, page);
      progress.totalBlocks += lacking.length;
      progress.totalBytes += lacking.reduce((sum, b) => sum + b.lengthBytes, 0);
    }
    progress.compared = true;
    const client = this.options.clientOf(serverId);
    for await (const page of this.mapPages(active)) {
      const { lacking, older } = await this.compare(serverId, page);
      await forEachBounded(lacking, this.options.concurrency, active, async (block) => {
        if (await this.repairBlock(serverId, block, 'heal')) progress.doneBlocks++;
        else progress.failedBlocks++;
        progress.doneBytes += block.lengthBytes;
        progress.totalBlocks = Math.max(progress.totalBlocks, progress.doneBlocks + progress.failedBlocks);
        progress.totalBytes = Math.max(progress.totalBytes, progress.doneBytes);
      });
      await forEachBounded(older, this.options.concurrency, active, async (b) => {
        const key = blockId(b.ino, b.index);
        await client.call(dataMethods.deleteOlderThan, { key, version: b.version }, { timeoutMs: limits.repairCallTimeoutMs }).catch(() => undefined);
      });
    }
    progress.endedMs = this.options.clock.nowMs();
    if (!active()) return { complete: false, reason: 'stopped' };
    if (progress.failedBlocks > 0) return { complete: false, reason: `${progress.failedBlocks} blocks could not be copied` };
    return { complete: true };
  }

  /** Writes a verified copy of `block` to `serverId`; false if that failed. */
  async repairBlock(serverId: string, block: MapBlock, why: string): Promise<boolean> {
    const key = blockId(block.ino, block.index);
    await this.options.limiter.take(block.lengthBytes);
    try {
      const deadlineMs = this.options.clock.nowMs() + limits.repairCallTimeoutMs;
      const data = await this.options.replicator.readVerifiedCopy(key, block, deadlineMs, serverId);
      await this.options.clientOf(serverId).call(dataMethods.put, { key, version: block.version, checksum: block.checksum }, { payload: data, timeoutMs: limits.repairCallTimeoutMs });
      this.options.onRepaired(serverId, key, block.version, why);
      return true;
    } catch (err) {
      this.options.log('repair failed', { server: serverId, key, version: block.version, code: codeOf(err), err: messageOf(err) });
      return false;
    }
  }

  /** One scrub pass: each server verifies each committed block in place (in batches); bad or
   * missing copies are rewritten from verified replicas. Then each server's listing is walked
   * and orphans (versions nothing refers to) are deleted once every pass since one at least
   * `orphanMinAgeMs` earlier saw them so. `expectedBlocks` sizes the progress. On servers in
   * `beingFilled` (a heal is copying to them) missing copies are left to the heal. */
  async scrub(
    serverIds: string[],
    progress: Progress,
    active: () => boolean,
    orphanMinAgeMs: number,
    expectedBlocks: number,
    beingFilled: ReadonlySet<string> = new Set(),
  ): Promise<PassOutcome> {
    progress.totalBlocks = expectedBlocks * serverIds.length;
    progress.compared = true;
    const unreachable = new Map<string, string>();
    for await (const page of this.mapPages(active)) {
      const pageBytes = page.reduce((sum, b) => sum + b.lengthBytes, 0);
      progress.totalBytes += pageBytes * serverIds.length;
      await Promise.all(
        serverIds.map(async (id) => {
          if (!unreachable.has(id)) {
            const failure = await this.verifyPage(id, page, progress, active, beingFilled.has(id));
            if (failure !== undefined) unreachable.set(id, failure);
          }
          progress.doneBlocks += page.length;
          progress.doneBytes += pageBytes;
        }),
      );
      progress.totalBlocks = Math.max(progress.totalBlocks, progress.doneBlocks);
    }
    for (const id of serverIds) {
      if (unreachable.has(id) || !active()) continue;
      await this.removeOrphans(id, orphanMinAgeMs, active).catch((err: unknown) => unreachable.set(id, messageOf(err)));
    }
    progress.endedMs = this.options.clock.nowMs();
    progress.totalBlocks = progress.doneBlocks;
    if (!active()) return { complete: false, reason: 'stopped' };
    const problems = [...unreachable].map(([id, why]) => `${id}: ${why}`);
    if (progress.failedBlocks > 0) problems.unshift(`${progress.failedBlocks} bad copies could not be repaired`);
    return problems.length === 0 ? { complete: true } : { complete: false, reason: problems.join('; ') };
  }

  /** Verifies one page of blocks on one server and repairs what is bad. Returns why the server
   * could not be asked, or undefined. */
  private async verifyPage(serverId: string, page: MapBlock[], progress: Progress, active: () => boolean, beingFilled: boolean): Promise<string | undefined> {
    const client = this.options.clientOf(serverId);
    for (const batch of byteBatches(page, limits.verifyBatchBytes)) {
      if (!active()) return undefined;
      await this.options.limiter.take(batch.reduce((sum, b) => sum + b.lengthBytes, 0));
      let results;
      try {
        const blocks = batch.map((b) => ({ key: blockId(b.ino, b.index), version: b.version }));
        results = (await client.call(dataMethods.verifyMany, { blocks }, { timeoutMs: limits.repairCallTimeoutMs })).results;
      } catch (err) {
        return messageOf(err);
      }
      const bad = batch
        .map((block, i) => ({ block, verdict: verdictOf(results[i], block) }))
        // A copy missing on a server a heal is filling is the heal's to copy, not a bad replica.
        .filter(({ verdict }) => verdict !== 'ok' && !(beingFilled && verdict === 'missing'));
      await forEachBounded(bad, this.options.concurrency, active, async ({ block, verdict }) => {
        this.options.onBadCopy(serverId, blockId(block.ino, block.index), block.version, verdict);
        if (!(await this.repairBlock(serverId, block, `scrub: ${verdict}`))) progress.failedBlocks++;
      });
    }
    return undefined;
  }

  private async removeOrphans(serverId: string, minAgeMs: number, active: () => boolean): Promise<void> {
    const client = this.options.clientOf(serverId);
    const listedMs = this.options.clock.nowMs();
    const previous = this.options.orphanSightings.get(serverId);
    // Candidates still orphans, with the time a pass first saw each.
    const candidates = new Map<string, number>();
    let after: Cursor | undefined;
    do {
      const page = await client.call(dataMethods.list, { after }, { timeoutMs: limits.repairCallTimeoutMs });
      // The committed versions are read after the listing, so a block written and committed
      // in between is not taken for an orphan.
      const asked = page.entries.map((e) => parseBlockKey(e.key) ?? { ino: 0, index: 0 });
      const { versions } = await this.options.meta.call(metaMethods.committedVersions, { blocks: asked }, { timeoutMs: limits.repairCallTimeoutMs });
      for (const id of orphanCandidatesInPage(page.entries, versions)) {
        const firstSeenMs = previous?.get(id);
        if (orphanRipe(firstSeenMs, listedMs, minAgeMs)) {
          const at = id.lastIndexOf('@');
          await client.call(dataMethods.delete, { key: id.slice(0, at), version: Number(id.slice(at + 1)) }, { timeoutMs: limits.repairCallTimeoutMs }).catch(() => undefined);
        } else if (candidates.size < limits.maxOrphanCandidatesPerServer) {
          candidates.set(id, firstSeenMs ?? listedMs);
        }
      }
      after = page.next;
    } while (after !== undefined && active());
    this.options.orphanSightings.set(serverId, candidates);
  }

}

function verdictOf(result: { status: string; checksum?: string } | undefined, block: MapBlock): string {
  if (result === undefined) throw qfsError('INTERNAL', 'verifyMany answered fewer results than asked');
  return copyVerdict(result, block.checksum);
}

/** `blocks` cut into runs whose lengths add up to about `maxBytes` (at least one block each). */
function byteBatches(blocks: MapBlock[], maxBytes: number): MapBlock[][] {
  const out: MapBlock[][] = [];
  let current: MapBlock[] = [];
  let bytes = 0;
  for (const b of blocks) {
    if (current.length > 0 && bytes + b.lengthBytes > maxBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(b);
    bytes += b.lengthBytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}
