// quorumfs at a real size: a cluster of three holding 22,500 blocks (20,000 one-block files in
// one directory, and a sparse file above 4 GiB with 2,500 blocks). Every listing that grows
// with the data must page: list-contents, scrub, heal of a replacement after terminate (checked
// against the block maps, and never reported complete before it is), a mediator restart after
// which every server is complete again, the 20,000-entry directory through a real mount, and
// explain of the sparse file. These once worked on every test and failed silently past 2,000.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mediatorMethods, type StatusReport } from '../../src/protocol/mediator-messages.js';
import { blockKey } from '../../src/common/types.js';
import { freePorts, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { run, startMount } from '../helpers/mount.js';
import type { QuorumfsClient } from '../../src/client/quorumfs-client.js';

const FILES = 20_000;
const SPARSE_BLOCKS = 2_500;
/** Every other MiB: the last block starts at 4,998 MiB, past 4 GiB. */
const SPARSE_STRIDE = 2;
const MiB = 1024 * 1024;
const FILL_CONCURRENCY = 128;
const BIG_WAIT_MS = 300_000;

/** Runs `work` over `items` with at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** Every committed (key, version), from the block maps of the files named. */
async function committedBlocks(client: QuorumfsClient, inos: number[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await eachLimited(inos, 64, async (ino) => {
    let fromIndex: number | undefined = 0;
    while (fromIndex !== undefined) {
      const page: ReturnType<typeof mediatorMethods.blockMap.result> = await client.rpc.call(mediatorMethods.blockMap, { ino, fromIndex });
      for (const b of page.blocks) out.set(blockKey(ino, b.index), b.version);
      fromIndex = page.nextIndex;
    }
  });
  return out;
}

async function listContents(port: number): Promise<Array<{ key: string; version: number; sizeBytes: number }>> {
  const r = await runCli(['list-contents', String(port), '--json'], 120_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Array<{ key: string; version: number; sizeBytes: number }>;
}

function missingFrom(held: Array<{ key: string; version: number }>, committed: Map<string, number>): string[] {
  const have = new Set(held.map((e) => `${e.key}@${e.version}`));
  return [...committed].filter(([key, version]) => !have.has(`${key}@${version}`)).map(([key]) => key);
}

function dataServers(s: StatusReport) {
  return s.servers.filter((x) => x.role === 'data' && x.state !== 'replaced' && x.state !== 'down');
}

describe('at size: 22,500 blocks on a cluster of three', () => {
  let cluster: Cluster;
  let inos: number[] = [];
  let sparseIno = 0;
  let committed = new Map<string, number>();

  before(async () => {
    const [spare] = await freePorts(1);
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: String(spare) });
    const c = cluster.client;
    const dir = await c.mkdir(1, 'big');
    const names = Array.from({ length: FILES }, (_, i) => `f${i}`);
    const created: number[] = [];
    await eachLimited(names, FILL_CONCURRENCY, async (name) => {
      const attr = await c.create(dir.ino, name);
      await c.write(attr.ino, 0, Buffer.from(`${name} holds one small block\n`));
      created.push(attr.ino);
    });
    inos = created;
    // A sparse file: one byte at the start of every other block up to past 4 GiB, written in
    // batches of 32 blocks (one writev each).
    const sparse = await c.create(1, 'sparse');
    sparseIno = sparse.ino;
    for (let first = 0; first < SPARSE_BLOCKS; first += 32) {
      const count = Math.min(32, SPARSE_BLOCKS - first);
      const extents = Array.from({ length: count }, (_, i) => ({ offset: (first + i) * SPARSE_STRIDE * MiB, length: 1 }));
      await c.rpc.call(mediatorMethods.writev, { ino: sparse.ino, extents }, { payload: Buffer.alloc(count, 0x61) });
    }
    committed = await committedBlocks(c, [...inos, sparseIno]);
    assert.equal(committed.size, FILES + SPARSE_BLOCKS);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('list-contents streams every block of every server, in JSON and as a table', async () => {
    for (const port of cluster.dataPorts) {
      const held = await listContents(port);
      assert.deepEqual(missingFrom(held, committed), [], `data server ${port} lacks blocks`);
    }
    const table = await runCli(['list-contents', String(cluster.dataPorts[0])], 120_000);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.equal(lines.at(-1), `${committed.size} blocks`);
    assert.equal(lines.length, committed.size + 2, 'a header, one line per block, a count');
  });

  it('explain pages through a sparse file above 4 GiB with thousands of blocks', async () => {
    const r = await runCli(['explain', '/sparse', '--json', '--mediator', `127.0.0.1:${cluster.mediatorPort}`], 120_000);
    assert.equal(r.code, 0, r.stderr);
    const explained = JSON.parse(r.stdout) as { attr: { size: number }; blocks: Array<{ index: number; good: string[] }> };
    assert.ok(explained.attr.size > 4 * 1024 * MiB, `size ${explained.attr.size}`);
    assert.deepEqual(explained.blocks.map((b) => b.index), Array.from({ length: SPARSE_BLOCKS }, (_, i) => i * SPARSE_STRIDE));
    assert.ok(explained.blocks.every((b) => b.good.length === 3), 'every block good on all three servers');
    const text = await runCli(['explain', '/sparse', '--mediator', `127.0.0.1:${cluster.mediatorPort}`], 120_000);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout.trimEnd().split('\n').at(-1)!, new RegExp(`^${SPARSE_BLOCKS} blocks$`));
  });

  it('a 20,000-entry directory lists completely through a mount', async () => {
    const mount = await startMount(cluster.mediatorPort);
    try {
      const ls = await run('ls', ['-f', `${mount.dir}/big`]);
      assert.equal(ls.code, 0, ls.stderr);
      const names = ls.stdout.split('\n').filter((n) => n !== '' && n !== '.' && n !== '..');
      assert.equal(names.length, FILES);
      assert.equal(new Set(names).size, FILES, 'no entry listed twice');
    } finally {
      await mount.stop();
    }
  });

  it('scrub --wait verifies every copy and says so', async () => {
    const r = await runCli(['scrub', '--wait', '--mediator', `127.0.0.1:${cluster.mediatorPort}`], BIG_WAIT_MS);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /scrub done: 0 blocks under-replicated/);
    const s = await cluster.status();
    assert.equal(s.scrub?.complete, true);
    assert.ok(s.scrub!.progress.doneBlocks >= 3 * committed.size, `${s.scrub!.progress.doneBlocks} copies checked`);
  });

  it('terminate: the replacement is healed to every committed block, and status never claims it early', async () => {
    const victim = cluster.dataPorts[1]!;
    const t = await runCli(['terminate', String(victim)]);
    assert.equal(t.code, 0, t.stderr);
    let replacement: string | undefined;
    const claims: string[] = [];
    await waitFor(async () => {
      const s = await cluster.status();
      replacement = s.servers.find((x) => x.replaces === `127.0.0.1:${victim}`)?.id;
      const target = s.servers.find((x) => x.id === replacement);
      const complete = target?.state === 'live';
      // Once the crash is seen and until the replacement is complete, nothing may say every
      // block has its copies.
      if (replacement !== undefined && !complete && (s.counters.underReplicated === 0 || s.fullyReplicated === true)) {
        claims.push(`under-replicated ${s.counters.underReplicated}, fully ${s.fullyReplicated}, replacement ${target?.state} lacking ${target?.lackingBlocks}`);
      }
      return complete && s.fullyReplicated === true;
    }, BIG_WAIT_MS, 'the replacement to be healed');
    assert.deepEqual(claims, [], 'status claimed full redundancy before the replacement was complete');
    const port = Number(replacement!.split(':')[1]);
    assert.deepEqual(missingFrom(await listContents(port), committed), [], 'the replacement lacks blocks');
    const s = await cluster.status();
    assert.equal(s.counters.underReplicated, 0);
    assert.ok(s.counters.healedBlocks >= committed.size, `healed ${s.counters.healedBlocks}`);
  });

  it('after a mediator restart every server is compared and complete again', async () => {
    await cluster.stop({ keepData: true });
    cluster = await cluster.restart();
    await waitFor(async () => {
      const s = await cluster.status();
      return s.fullyReplicated === true && dataServers(s).length === 3 && dataServers(s).every((x) => x.state === 'live' && x.lackingBlocks === 0);
    }, BIG_WAIT_MS, 'every server to be complete after the restart');
    const s = await cluster.status();
    assert.equal(s.counters.underReplicated, 0);
    assert.equal(s.counters.blocks, committed.size);
    for (const server of dataServers(s)) {
      assert.deepEqual(missingFrom(await listContents(server.port), committed), [], `${server.id} lacks blocks`);
    }
    const heal = await runCli(['heal', '--wait', '--mediator', `127.0.0.1:${cluster.mediatorPort}`], BIG_WAIT_MS);
    assert.equal(heal.code, 0, heal.stderr);
    assert.match(heal.stdout, /heal done: 0 blocks under-replicated/);
  });
});
