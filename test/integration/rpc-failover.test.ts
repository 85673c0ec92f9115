// An RpcClient given several addresses fails over: from an address that refuses connections, or
// answers NOT_LEADER (the call, even a non-idempotent one, sent again elsewhere and carried out
// once), round after round until one leads or the deadline passes (then the last error, naming
// the addresses tried); a call lost mid-flight follows the idempotent-retry rules. onReconnect
// fires on the switch and events come from the new address. The mount's metadata client follows
// the leading mediator's answer of metaServer. Real RpcServers on ephemeral loopback ports.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { qfsError, type QfsError } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import type { Address } from '../../src/common/address.js';
import { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import { method } from '../../src/protocol/method.js';
import { object, str, uint } from '../../src/protocol/schema.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { RpcServer, type RpcConnection } from '../../src/transport/rpc-server.js';
import { freePorts } from '../helpers/cluster.js';

const echo = method('echo', object({ n: uint }), object({ n: uint, from: str }), true);
const append = method('append', object({ item: str }), object({ count: uint, from: str }), false);
/** Idempotent, but the server breaks the connection instead of answering (when told to). */
const flaky = method('flaky', object({}), object({ from: str }), true);
/** Not idempotent, and broken off the same way. */
const flakyChange = method('flakyChange', object({}), object({ from: str }), false);
const subscribe = method('subscribe', object({}), object({}), true);

/** A peer that leads or not, as a mediator of the HA design: every call but ping answered
 * NOT_LEADER, having done nothing, while it does not lead. */
class Peer {
  leader: boolean;
  /** What `append` carried out here. */
  readonly log: string[] = [];
  notLeaderAnswers = 0;
  breakConnections = false;
  metaServerAnswers = 0;
  metaServer: Address | undefined;
  connections: RpcConnection[] = [];
  readonly server: RpcServer;
  address!: Address;
  name!: string;

  constructor(leader: boolean) {
    this.leader = leader;
    const lead = (): void => {
      if (this.leader) return;
      this.notLeaderAnswers++;
      throw qfsError('NOT_LEADER', `${this.name} does not lead`);
    };
    const broken = (connection: RpcConnection): { from: string } => {
      lead();
      if (this.breakConnections) {
        connection.socket.destroy();
        return new Promise<never>(() => undefined) as never;
      }
      return { from: this.name };
    };
    this.server = new RpcServer({ name: 'peer' })
      .register(mediatorMethods.ping, () => ({ pid: process.pid }))
      .register(echo, (a) => {
        lead();
        return { n: a.n, from: this.name };
      })
      .register(append, (a) => {
        lead();
        this.log.push(a.item);
        return { count: this.log.length, from: this.name };
      })
      .register(flaky, (_a, ctx) => broken(ctx.connection))
      .register(flakyChange, (_a, ctx) => broken(ctx.connection))
      .register(subscribe, (_a, ctx) => {
        this.connections.push(ctx.connection);
        return {};
      })
      .register(mediatorMethods.metaServer, () => {
        lead();
        this.metaServerAnswers++;
        return this.metaServer!;
      });
  }

  async start(): Promise<this> {
    this.address = await this.server.listen({ host: '127.0.0.1', port: 0 });
    this.name = `127.0.0.1:${this.address.port}`;
    return this;
  }
}

const started: Peer[] = [];
const clients: Array<{ close(): void }> = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(started.map((p) => p.server.close()));
});

async function peers(...leading: boolean[]): Promise<Peer[]> {
  const list = await Promise.all(leading.map((l) => new Peer(l).start()));
  started.push(...list);
  return list;
}

async function deadAddresses(count: number): Promise<Address[]> {
  return (await freePorts(count)).map((port) => ({ host: '127.0.0.1', port }));
}

function client(addresses: Address[], options: ConstructorParameters<typeof RpcClient>[1] = {}): RpcClient {
  const c = new RpcClient(addresses, { plaintext: true, peerName: 'mediator', defaultTimeoutMs: 3_000, ...options });
  clients.push(c);
  return c;
}

describe('RPC client over several addresses', () => {
  it('fails over from an address that refuses connections to a live one, for any method', async () => {
    const [live] = await peers(true);
    const [dead] = await deadAddresses(1);
    const c = client([dead!, live!.address]);
    assert.deepEqual(await c.call(echo, { n: 1 }, { retry: false }), { n: 1, from: live!.name });
    assert.equal(c.address.port, live!.address.port);
    // Not idempotent and never sent to the dead address: it went to the live one, once.
    const c2 = client([dead!, live!.address]);
    assert.deepEqual(await c2.call(append, { item: 'a' }), { count: 1, from: live!.name });
    assert.deepEqual(live!.log, ['a']);
  });

  it('sends a call answered NOT_LEADER, even a non-idempotent one, to the leader; the follower carried out nothing', async () => {
    const [follower, leader] = await peers(false, true);
    const c = client([follower!.address, leader!.address]);
    assert.deepEqual(await c.call(append, { item: 'x' }, { retry: false }), { count: 1, from: leader!.name });
    assert.equal(follower!.notLeaderAnswers, 1);
    assert.deepEqual(follower!.log, []);
    assert.deepEqual(leader!.log, ['x']);
    // Later calls go straight to the leader.
    assert.deepEqual(await c.call(append, { item: 'y' }), { count: 2, from: leader!.name });
    assert.equal(follower!.notLeaderAnswers, 1);
  });

  it('goes round while every address answers NOT_LEADER, with a pause each round, until one leads', async () => {
    const [a, b] = await peers(false, false);
    const c = client([a!.address, b!.address]);
    const startedMs = Date.now();
    setTimeout(() => (b!.leader = true), 500);
    const r = await c.call(append, { item: 'late' }, { timeoutMs: 4_000 });
    const tookMs = Date.now() - startedMs;
    assert.deepEqual(r, { count: 1, from: b!.name });
    assert.ok(tookMs >= 450 && tookMs < 2_000, `served ${tookMs} ms after the call, once b led (at 500 ms)`);
    assert.deepEqual(a!.log, []);
    assert.deepEqual(b!.log, ['late']);
    // Paused between rounds (50, 100, 200, 400 ms...), not a busy loop: a handful of rounds.
    assert.ok(a!.notLeaderAnswers >= 2 && a!.notLeaderAnswers <= 8, `${a!.notLeaderAnswers} NOT_LEADER answers from a in 500 ms`);
  });

  it('fails at the deadline with a clear error naming every address when all are down', async () => {
    const dead = await deadAddresses(2);
    const c = client(dead);
    const startedMs = Date.now();
    const err = (await c.call(echo, { n: 1 }, { timeoutMs: 700 }).catch((e: unknown) => e)) as QfsError;
    const tookMs = Date.now() - startedMs;
    assert.equal(err.code, 'UNAVAILABLE');
    assert.ok(tookMs >= 600 && tookMs < 1_500, `failed after ${tookMs} ms, at its 700 ms deadline`);
    assert.match(err.message, /^echo to mediator: no address served it within 700 ms; tried /);
    for (const a of dead) assert.ok(err.message.includes(`127.0.0.1:${a.port} (UNAVAILABLE)`), err.message);
    assert.match(err.message, /last: cannot connect to mediator 127\.0\.0\.1:\d+: /);
  });

  it('fails at the deadline with NOT_LEADER when no address leads', async () => {
    const [a, b] = await peers(false, false);
    const c = client([a!.address, b!.address]);
    const startedMs = Date.now();
    const err = (await c.call(append, { item: 'never' }, { timeoutMs: 600 }).catch((e: unknown) => e)) as QfsError;
    assert.ok(Date.now() - startedMs < 1_500);
    assert.equal(err.code, 'NOT_LEADER');
    assert.ok(err.message.includes(`${a!.name} (NOT_LEADER)`) && err.message.includes(`${b!.name} (NOT_LEADER)`), err.message);
    assert.deepEqual([...a!.log, ...b!.log], []);
  });

  it('keeps the behaviour of one address: NOT_LEADER is the answer, at once', async () => {
    const [a] = await peers(false);
    const c = new RpcClient(a!.address, { plaintext: true, defaultTimeoutMs: 3_000, retryIdempotent: true });
    clients.push(c);
    const startedMs = Date.now();
    await assert.rejects(c.call(echo, { n: 1 }), { code: 'NOT_LEADER' });
    assert.ok(Date.now() - startedMs < 500);
    assert.equal(a!.notLeaderAnswers, 1);
  });

  it('fires onReconnect when it switches to another address, and events come from there', async () => {
    const [a, b] = await peers(true, false);
    let reconnects = 0;
    const events: unknown[] = [];
    const c = client([a!.address, b!.address], { retryIdempotent: true, onReconnect: () => reconnects++, onEvent: (event, data) => events.push({ event, data }) });
    await c.call(subscribe, {});
    assert.equal((await c.call(echo, { n: 1 })).from, a!.name);
    assert.equal(reconnects, 0);
    // a dies (its connections reset); b is elected.
    await a!.server.close();
    b!.leader = true;
    assert.equal((await c.call(echo, { n: 2 })).from, b!.name);
    assert.equal(reconnects, 1);
    await c.call(subscribe, {});
    b!.connections.at(-1)!.sendEvent('invalidate', { from: b!.name });
    const waitStart = Date.now();
    while (events.length === 0 && Date.now() - waitStart < 2_000) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(events, [{ event: 'invalidate', data: { from: b!.name } }]);
  });

  it('leaves a leader that stops answering (cut off): after a call times out there, the next goes to the next address', async () => {
    const [a, b] = await peers(true, true);
    const c = client([a!.address, b!.address]);
    assert.equal((await c.call(echo, { n: 1 })).from, a!.name);
    // a now answers nothing (cut off): the call times out, the next one goes to b.
    const silent = method('silent', object({}), object({}), true);
    a!.server.register(silent, () => new Promise<never>(() => undefined));
    await assert.rejects(c.call(silent, {}, { timeoutMs: 300, retry: false }), { code: 'TIMEOUT' });
    assert.equal((await c.call(echo, { n: 2 })).from, b!.name);
  });

  it('a call lost mid-flight: an idempotent one is sent again at the next address, a non-idempotent one fails UNAVAILABLE', async () => {
    const [a, b] = await peers(true, true);
    a!.breakConnections = true;
    const c = client([a!.address, b!.address], { retryIdempotent: true });
    assert.deepEqual(await c.call(flaky, {}), { from: b!.name });
    const [a2, b2] = await peers(true, true);
    a2!.breakConnections = true;
    b2!.breakConnections = true; // would hang if it were sent there
    const c2 = client([a2!.address, b2!.address], { retryIdempotent: true });
    await assert.rejects(c2.call(flakyChange, {}, { timeoutMs: 2_000 }), { code: 'UNAVAILABLE', message: /connection to mediator 127\.0\.0\.1:\d+ lost/ });
  });

  it('refuses no address and too many addresses', async () => {
    assert.throws(() => new RpcClient([]), { code: 'INVALID' });
    const many = Array.from({ length: limits.maxPeerAddresses + 1 }, (_, i) => ({ host: '127.0.0.1', port: 1000 + i }));
    assert.throws(() => new RpcClient(many), { code: 'INVALID' });
  });
});

describe('the metadata server found through the leading mediator', () => {
  it('follows a new answer of metaServer after NOT_LEADER, and after the metadata server dies', async () => {
    const [m1, m2, meta1, meta2, meta3] = await peers(true, false, true, true, true);
    m1!.metaServer = meta1!.address;
    m2!.metaServer = meta2!.address;
    const qc = new QuorumfsClient([m1!.address, m2!.address], { plaintext: true, defaultTimeoutMs: 3_000 });
    clients.push(qc);
    let reconnects = 0;
    const ns = await qc.connectMetaServer({ plaintext: true, defaultTimeoutMs: 3_000, onReconnect: () => reconnects++ });
    assert.deepEqual(await ns.call(append, { item: 'one' }), { count: 1, from: meta1!.name });
    const askedBefore = m1!.metaServerAnswers;

    // Failover: m2 leads now, m1 and its metadata server refuse (NOT_LEADER); a change goes to
    // m2's metadata server, never carried out by meta1.
    m1!.leader = false;
    meta1!.leader = false;
    m2!.leader = true;
    assert.deepEqual(await ns.call(append, { item: 'two' }, { retry: false }), { count: 1, from: meta2!.name });
    assert.deepEqual(meta1!.log, ['one']);
    assert.deepEqual(meta2!.log, ['two']);
    assert.equal(m1!.metaServerAnswers, askedBefore);
    assert.equal(m2!.metaServerAnswers, 1);
    assert.equal(reconnects, 1);
    assert.equal(ns.address.port, meta2!.address.port);

    // m2's metadata server dies and m2 names another: the reconnect asks m2 again.
    m2!.metaServer = meta3!.address;
    await meta2!.server.close();
    assert.deepEqual(await ns.call(echo, { n: 3 }), { n: 3, from: meta3!.name });
    assert.ok(m2!.metaServerAnswers >= 2);
    assert.equal(reconnects, 2);
  });

  it('asks again on every reconnect, and keeps the last address when no mediator answers', async () => {
    const [m1, meta1] = await peers(true, true);
    m1!.metaServer = meta1!.address;
    const qc = new QuorumfsClient(m1!.address, { plaintext: true, defaultTimeoutMs: 2_000 });
    clients.push(qc);
    const ns = await qc.connectMetaServer({ plaintext: true, defaultTimeoutMs: 2_000 });
    assert.equal((await ns.call(echo, { n: 1 })).from, meta1!.name);
    assert.equal(m1!.metaServerAnswers, 1);
    // The metadata server drops the connection (a restart, an idle close): the next call
    // reconnects, and asks the mediator first.
    const dropConnections = async (): Promise<void> => {
      await ns.call(subscribe, {});
      for (const conn of meta1!.connections) conn.socket.destroy();
      await new Promise((r) => setTimeout(r, 50));
    };
    await dropConnections();
    assert.equal((await ns.call(echo, { n: 2 })).from, meta1!.name);
    assert.equal(m1!.metaServerAnswers, 2);
    // No mediator: the metadata server at the last address still serves, within the deadline.
    await dropConnections();
    await m1!.server.close();
    assert.equal((await ns.call(echo, { n: 3 })).from, meta1!.name);
  });
});
