// Crash handling with real processes: a terminated data server is replaced on the next spare
// port within 2 s and receives new writes; several crashes in a row; spare ports running out;
// write quorums with a server missing. (Spare ports that are taken: spare-ports.test.ts.)

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, afterEach, describe, it } from 'node:test';
import { QfsError } from '../../src/common/errors.js';
import { blockKey } from '../../src/common/types.js';
import { awaitReplacement, freePorts, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function terminate(port: number): Promise<void> {
  const r = await runCli(['terminate', String(port)]);
  assert.equal(r.code, 0, r.stderr);
}

async function liveDataPorts(c: Cluster): Promise<number[]> {
  return (await c.status()).servers.filter((s) => s.role === 'data' && s.state === 'live').map((s) => s.port);
}

async function listKeys(port: number): Promise<string[]> {
  const r = await runCli(['list-contents', String(port), '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Array<{ key: string; version: number; sizeBytes: number }>).map((e) => e.key);
}

describe('replacement of crashed data servers', () => {
  it('replaces a terminated server on port 60000 (the first free default spare) within 2 s and writes reach it', async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 3, dataServers: 3, faultInjection: true });
    const c = cluster;
    await c.client.writeFile('/before', randomBytes(1000));
    await terminate(c.dataPorts[1]!);
    const { port, tookMs } = await awaitReplacement(c, c.dataPorts[1]!, 2_000);
    assert.ok(tookMs <= 2_000);
    const status = await c.status();
    const old = status.servers.find((s) => s.port === c.dataPorts[1]);
    assert.equal(old?.state, 'replaced');
    assert.equal(old?.replacedBy, `127.0.0.1:${port}`);
    const text = await runCli(['status', '--mediator', `127.0.0.1:${c.mediatorPort}`]);
    assert.match(text.stdout, new RegExp(`127\\.0\\.0\\.1:${port}\\s+live`));
    const attr = await c.client.writeFile('/after', Buffer.from('new data'));
    assert.ok((await listKeys(port)).includes(blockKey(attr.ino, 0)));
    assert.deepEqual(await c.client.readFile('/after'), Buffer.from('new data'));
  });

  it('runs out of spare ports: one clear error, and the cluster keeps serving', async () => {
    const spares = await freePorts(1);
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: `${spares[0]}` });
    const c = cluster;
    await terminate(c.dataPorts[0]!);
    await waitFor(async () => (await liveDataPorts(c)).includes(spares[0]!), 2_000, 'the first replacement');
    await terminate(c.dataPorts[1]!);
    await waitFor(() => c.stderr().includes('no spare port left'), 2_000, 'the spare-port error');
    assert.equal(c.stderr().split('no spare port left').length - 1, 1, 'reported once');
    assert.equal((await liveDataPorts(c)).length, 2);
    const attr = await c.client.writeFile('/still', Buffer.from('serving'));
    assert.deepEqual(await c.client.readFile('/still'), Buffer.from('serving'));
    assert.ok(attr.size === 7);
  });

  it('handles three crashes in a row with three replacements', async () => {
    const spares = await freePorts(3);
    const range = spares.sort((a, b) => a - b);
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: `${range[0]}-${range[0]! + 40}` });
    const c = cluster;
    for (const [i, port] of c.dataPorts.entries()) {
      await terminate(port);
      await waitFor(
        async () => (await c.status()).counters.replacements === i + 1 && (await liveDataPorts(c)).length === 3,
        3_000,
        `replacement of ${port}`,
      );
      await c.client.writeFile(`/after-${port}`, Buffer.from(String(port)));
    }
    const status = await c.status();
    assert.equal(status.counters.replacements, 3);
    assert.deepEqual(await c.client.readFile(`/after-${c.dataPorts[2]}`), Buffer.from(String(c.dataPorts[2])));
  });
});

describe('write quorum with a server missing', () => {
  const blockers: net.Server[] = [];
  after(() => blockers.forEach((b) => b.close()));

  /** A spare port that is taken, so the replacement cannot start. */
  async function takenPort(): Promise<number> {
    const blocker = net.createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    return (blocker.address() as net.AddressInfo).port;
  }

  it('Qw = N: writes fail cleanly while a server is missing and the old data stays readable', async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 3, dataServers: 3, faultInjection: true, sparePorts: String(await takenPort()) });
    const c = cluster;
    const old = randomBytes(2000);
    const attr = await c.client.writeFile('/f', old);
    await terminate(c.dataPorts[0]!);
    await waitFor(async () => (await liveDataPorts(c)).length === 2, 2_000, 'the server to be seen down');
    await assert.rejects(c.client.write(attr.ino, 0, randomBytes(2000)), (e: unknown) => e instanceof QfsError && e.code === 'QUORUM_NOT_REACHED');
    assert.deepEqual(await c.client.readFile('/f'), old, 'no half-commit');
    assert.equal((await c.client.getattr(attr.ino)).size, 2000);
  });

  it('Qw < N: writes succeed with N - 1 servers', async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: String(await takenPort()) });
    const c = cluster;
    await terminate(c.dataPorts[0]!);
    await waitFor(async () => (await liveDataPorts(c)).length === 2, 2_000, 'the server to be seen down');
    const data = randomBytes(3 * 1024 * 1024);
    await c.client.writeFile('/g', data);
    assert.deepEqual(await c.client.readFile('/g'), data);
  });
});
