// Spare ports that are taken when a data server crashes. The default range (60000-60010) lies
// inside Linux's ephemeral port range, so another process's connection or listener may hold a
// spare port: the mediator skips it with one log line, starts the replacement on the next spare
// port and heals it; with every spare port taken it reports one clear error and the crashed
// server stays down. The ports here (from 32700) lie below the ephemeral range and no other test
// uses them, so nothing but the test's own listeners holds them.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { blockKey } from '../../src/common/types.js';
import { runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { DataClient } from '../helpers/data-client.js';

const FIRST_SPARE = 32700;

let cluster: Cluster | undefined;
const holders: net.Server[] = [];
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await Promise.all(holders.splice(0).map((h) => new Promise((r) => h.close(r))));
});

/** Listens on 127.0.0.1:port until the test ends, as another process's listener would. */
async function occupy(port: number): Promise<net.Server> {
  const holder = net.createServer();
  await new Promise<void>((resolve, reject) => {
    holder.once('error', (err) => reject(new Error(`the test cannot occupy port ${port}: ${err.message}`)));
    holder.listen({ host: '127.0.0.1', port, exclusive: true }, resolve);
  });
  holders.push(holder);
  return holder;
}

/** Fails the test at once if `port` is held by something else (the checks below assume not). */
async function assertFree(port: number): Promise<void> {
  const probe = await occupy(port);
  holders.splice(holders.indexOf(probe), 1);
  await new Promise((r) => probe.close(r));
}

async function terminate(port: number): Promise<void> {
  const r = await runCli(['terminate', String(port)]);
  assert.equal(r.code, 0, r.stderr);
}

/** The mediator's log lines (JSON) whose message contains `text`. */
function logLines(c: Cluster, text: string): string[] {
  return c.stderr().split('\n').filter((line) => line.includes(text));
}

describe('spare ports that are taken', { timeout: 120_000 }, () => {
  it('skips a taken spare port with one log line, replaces the crashed server on the next one and heals it', async () => {
    const taken = FIRST_SPARE;
    const next = FIRST_SPARE + 1;
    await assertFree(next);
    await assertFree(next + 1);
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 3, dataServers: 3, faultInjection: true, sparePorts: `${taken}-${next + 1}` });
    const c = cluster;
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 30; i++) files.set(`/f${i}`, randomBytes(1 + ((i * 7919) % 40_000)));
    files.set('/big', randomBytes(2 * 1024 * 1024 + 5));
    const inos: number[] = [];
    for (const [name, data] of files) inos.push((await c.client.writeFile(name, data)).ino);

    const holder = await occupy(taken);
    const crashed = `127.0.0.1:${c.dataPorts[0]}`;
    await terminate(c.dataPorts[0]!);
    await waitFor(async () => (await c.status()).servers.some((s) => s.port === next && s.state === 'live'), 15_000, `the replacement on ${next} to be healed`);

    const status = await c.status();
    const data = status.servers.filter((s) => s.role === 'data');
    const old = data.find((s) => s.id === crashed);
    assert.equal(old?.state, 'replaced');
    assert.equal(old?.replacedBy, `127.0.0.1:${next}`, 'the crashed server names the replacement that runs');
    assert.equal(data.find((s) => s.port === next)?.replaces, crashed, 'the replacement names the server it replaces');
    assert.equal(data.find((s) => s.port === taken), undefined, 'no server is listed on the taken port: none ever ran there');
    assert.deepEqual(status.sparePortsLeft, [next + 1]);
    assert.equal(status.counters.replacements, 1);
    assert.equal(status.counters.underReplicated, 0);
    assert.ok(holder.listening, 'the listener on the taken port is left alone');

    assert.equal(logLines(c, `spare port ${taken} is in use`).length, 1, c.stderr());
    assert.deepEqual(logLines(c, 'no spare port left'), []);
    assert.deepEqual(logLines(c, 'failed to start'), []);

    const held = await DataClient.list(next);
    for (const ino of inos) {
      for (const b of (await c.client.blockMap(ino)).blocks) {
        assert.ok(held.some((h) => h.key === blockKey(ino, b.index) && h.version === b.version && h.checksum === b.checksum), `block ${ino}:${b.index} healed onto ${next}`);
      }
    }
    for (const [name, bytes] of files) assert.deepEqual(await c.client.readFile(name), bytes, name);
    const attr = await c.client.writeFile('/after', Buffer.from('after the crash'));
    assert.ok((await DataClient.list(next)).some((h) => h.key === blockKey(attr.ino, 0)), 'new writes reach the replacement');
  });

  it('with every spare port taken: one clear error naming the crashed server, which stays down, and the cluster serves', async () => {
    const spares = [FIRST_SPARE + 10, FIRST_SPARE + 11];
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: `${spares[0]}-${spares[1]}` });
    const c = cluster;
    const before = randomBytes(5000);
    await c.client.writeFile('/before', before);
    for (const port of spares) await occupy(port);
    const crashed = `127.0.0.1:${c.dataPorts[0]}`;
    await terminate(c.dataPorts[0]!);
    await waitFor(() => logLines(c, 'no spare port left').length > 0, 5_000, 'the spare-port error');

    const exhausted = logLines(c, 'no spare port left');
    assert.equal(exhausted.length, 1, 'reported once');
    assert.match(exhausted[0]!, new RegExp(`no spare port left to replace ${crashed}\\b`));
    assert.equal(logLines(c, `spare port ${spares[0]} is in use`).length, 1, c.stderr());
    const status = await c.status();
    const data = status.servers.filter((s) => s.role === 'data');
    const old = data.find((s) => s.id === crashed);
    assert.equal(old?.state, 'down', 'not replaced: no replacement runs');
    assert.equal(old?.replacedBy, undefined);
    assert.deepEqual(data.filter((s) => spares.includes(s.port)), [], 'no server is listed on a taken port');
    assert.deepEqual(status.sparePortsLeft, []);
    assert.equal(status.counters.replacements, 0);

    await c.client.writeFile('/still', Buffer.from('serving'));
    assert.deepEqual(await c.client.readFile('/still'), Buffer.from('serving'));
    assert.deepEqual(await c.client.readFile('/before'), before);
  });
});
