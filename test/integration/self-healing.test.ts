// Self-healing with real processes: a replacement is filled with every block it should hold,
// read repair and the scrubber fix corrupt replicas, a returning server catches up with only
// what it missed, and status/explain report it all.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { blockKey, ROOT_INO } from '../../src/common/types.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import { CLI, awaitReplacement, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { DataClient } from '../helpers/data-client.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function explain(c: Cluster, ino: number) {
  return c.client.rpc.call(mediatorMethods.explain, { ino });
}

/** Every block of every file is good on every data server the cluster counts on. */
async function assertFullyReplicated(c: Cluster, inos: number[]): Promise<void> {
  const servers = (await c.status()).servers.filter((s) => s.role === 'data' && (s.state === 'live' || s.state === 'healing'));
  for (const ino of inos) {
    for (const block of (await explain(c, ino)).blocks) {
      assert.deepEqual(block.bad, [], `inode ${ino} block ${block.index}`);
      assert.equal(block.good.length, servers.length, `inode ${ino} block ${block.index}`);
    }
  }
}

describe('self-healing', { timeout: 180_000 }, () => {
  it('fills a replacement with every block it should hold', async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 3, dataServers: 3, faultInjection: true });
    const c = cluster;
    const inos: number[] = [];
    for (let i = 0; i < 200; i++) inos.push((await c.client.writeFile(`/f${i}`, randomBytes(1 + ((i * 7919) % 40_000)))).ino);
    inos.push((await c.client.writeFile('/big', randomBytes(3 * 1024 * 1024 + 5))).ino);
    assert.equal((await runCli(['terminate', String(c.dataPorts[0])])).code, 0);
    const { port } = await awaitReplacement(c, c.dataPorts[0]!, 30_000);
    const held = await DataClient.list(port);
    for (const ino of inos) {
      const map = await c.client.blockMap(ino);
      for (const b of map.blocks) {
        assert.ok(held.some((h) => h.key === blockKey(ino, b.index) && h.version === b.version && h.checksum === b.checksum), `${ino}:${b.index}`);
      }
    }
    const status = await c.status();
    assert.equal(status.counters.underReplicated, 0);
    assert.ok(status.counters.healedBlocks >= 203);
    await assertFullyReplicated(c, inos);
    const heal = await runCli(['heal', '--wait', '--mediator', `127.0.0.1:${c.mediatorPort}`]);
    assert.equal(heal.code, 0, heal.stderr);
    assert.match(heal.stdout, /heal done: 0 blocks under-replicated/);
  });

  it('repairs corrupt replicas found by reads, and the scrubber repairs those never read', async () => {
    cluster = await startCluster({ readQuorum: 3, writeQuorum: 3, dataServers: 3, faultInjection: true });
    const c = cluster;
    const read: number[] = [];
    const unread: number[] = [];
    for (let i = 0; i < 20; i++) read.push((await c.client.writeFile(`/r${i}`, randomBytes(5000))).ino);
    for (let i = 0; i < 20; i++) unread.push((await c.client.writeFile(`/u${i}`, randomBytes(5000))).ino);
    // One bad replica per block, spread over the servers.
    for (const [i, ino] of [...read, ...unread].entries()) {
      const r = await runCli(['corrupt', String(c.dataPorts[i % 3]), blockKey(ino, 0)]);
      assert.equal(r.code, 0, r.stderr);
    }
    for (const [i, ino] of read.entries()) assert.equal((await c.client.readFile(`/r${i}`)).length, 5000, `read ${ino}`);
    await waitFor(async () => (await c.status()).counters.corruptRepaired >= 20, 10_000, 'read repairs');
    await assertFullyReplicated(c, read);
    const scrub = await runCli(['scrub', '--wait', '--mediator', `127.0.0.1:${c.mediatorPort}`]);
    assert.equal(scrub.code, 0, scrub.stderr);
    await assertFullyReplicated(c, [...read, ...unread]);
    const status = await c.status();
    assert.equal(status.counters.corruptRepaired, 40);
    assert.ok(status.counters.scrubPasses >= 1);
    const text = await runCli(['explain', '/u3', '--mediator', `127.0.0.1:${c.mediatorPort}`]);
    assert.match(text.stdout, /block 0 +v\d+ +5000 bytes .*good on 3/);
  });

  it('catches up a server that returns with its old directory, copying only what it missed', async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: 'none' });
    const c = cluster;
    for (let i = 0; i < 10; i++) await c.client.writeFile(`/before${i}`, randomBytes(3000));
    const victim = c.dataPorts[2]!;
    assert.equal((await runCli(['terminate', String(victim)])).code, 0);
    await waitFor(async () => (await c.status()).servers.find((s) => s.port === victim)?.state === 'down', 5_000, 'the server to be down');
    const missed: number[] = [];
    for (let i = 0; i < 15; i++) missed.push((await c.client.writeFile(`/during${i}`, randomBytes(2000))).ino);
    await c.client.unlink(ROOT_INO, 'before0');
    const healedBefore = (await c.status()).counters.healedBlocks;
    const server = spawn(process.execPath, [CLI, 'data-server', '--port', String(victim), '--dir', path.join(c.dataDir, `data-${victim}`), '--fault-injection'], { stdio: 'ignore' });
    try {
      await waitFor(async () => (await c.status()).servers.find((s) => s.port === victim)?.state === 'live', 20_000, 'the catch-up');
      const status = await c.status();
      assert.equal(status.counters.healedBlocks - healedBefore, missed.length, 'only the missed blocks were copied');
      assert.equal(status.counters.underReplicated, 0);
      await assertFullyReplicated(c, missed);
    } finally {
      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
    }
  });
});
