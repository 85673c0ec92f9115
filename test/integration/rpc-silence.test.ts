// A client that fails over gives up on a silent connection in about limits.rpcSilenceMs, not at
// the call's deadline: a host cut off the network (a proxy here that stops forwarding both ways
// and closes nothing) is left for the next address; a call that may have been carried out there
// fails UNAVAILABLE and is not resent unless idempotent; a long call on a live server is not cut,
// since the server sends keepalives while it works; a single-address client is unchanged. Real
// RpcServers on ephemeral loopback ports.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { qfsError, type QfsError } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import type { Address } from '../../src/common/address.js';
import { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import { method } from '../../src/protocol/method.js';
import { encodeFrame, FRAME_REQUEST } from '../../src/protocol/frame-codec.js';
import { object, str, uint } from '../../src/protocol/schema.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { RpcServer, type RpcServerOptions } from '../../src/transport/rpc-server.js';
import { RawPeer } from '../helpers/raw-peer.js';

const echo = method('echo', object({ n: uint }), object({ n: uint, from: str }), true);
/** Not idempotent: carried out at once, answered after `delayMs`. */
const append = method('append', object({ item: str, delayMs: uint }), object({ count: uint, from: str }), false);
/** Idempotent, answered after `delayMs`. */
const slow = method('slow', object({ delayMs: uint }), object({ from: str }), true);

/** Generous: the silence, a connection and a round's pause, on a loaded machine. */
const FAILOVER_BOUND_MS = 8_000;
const CALL_DEADLINE_MS = 20_000;

class Peer {
  leader = true;
  readonly log: string[] = [];
  calls = 0;
  /** What it answers to metaServer, as a mediator. */
  metaServer: Address | undefined;
  readonly server: RpcServer;
  address!: Address;
  name!: string;

  constructor(options: Partial<RpcServerOptions> = {}) {
    const lead = (): void => {
      if (!this.leader) throw qfsError('NOT_LEADER', `${this.name} does not lead`);
    };
    this.server = new RpcServer({ name: 'peer', ...options })
      .register(echo, (a) => {
        lead();
        this.calls++;
        return { n: a.n, from: this.name };
      })
      .register(append, async (a) => {
        lead();
        this.calls++;
        this.log.push(a.item);
        await sleep(a.delayMs);
        return { count: this.log.length, from: this.name };
      })
      .register(mediatorMethods.metaServer, () => {
        lead();
        return this.metaServer!;
      })
      .register(slow, async (a) => {
        lead();
        this.calls++;
        await sleep(a.delayMs);
        return { from: this.name };
      });
  }

  async start(): Promise<this> {
    this.address = await this.server.listen({ host: '127.0.0.1', port: 0 });
    this.name = `127.0.0.1:${this.address.port}`;
    return this;
  }
}

/** Forwards TCP to a target until frozen; then, like a cable pulled, nothing passes either way
 * and nothing is closed (connections made while frozen are accepted and ignored). */
class SilentProxy {
  frozen = false;
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;
  address!: Address;

  constructor(private readonly target: Address) {
    this.server = net.createServer((client) => this.accept(client));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.address = { host: '127.0.0.1', port: (this.server.address() as net.AddressInfo).port };
    return this;
  }

  freeze(): void {
    this.frozen = true;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private accept(client: net.Socket): void {
    this.track(client);
    if (this.frozen) return;
    const upstream = net.connect(this.target.port, this.target.host);
    this.track(upstream);
    client.on('data', (d: Buffer) => void (this.frozen || upstream.write(d)));
    upstream.on('data', (d: Buffer) => void (this.frozen || client.write(d)));
    // Before the freeze, a close passes through; after it, nothing does.
    client.on('close', () => this.frozen || upstream.destroy());
    upstream.on('close', () => this.frozen || client.destroy());
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }
}

const toClose: Array<{ close(): unknown }> = [];
after(async () => {
  for (const c of toClose) await c.close();
});

async function peer(options: Partial<RpcServerOptions> = {}): Promise<Peer> {
  const p = await new Peer(options).start();
  toClose.push(p.server);
  return p;
}

async function proxyTo(p: Peer): Promise<SilentProxy> {
  const proxy = await new SilentProxy(p.address).start();
  toClose.push(proxy);
  return proxy;
}

function client(addresses: Address | Address[], options: ConstructorParameters<typeof RpcClient>[1] = {}): RpcClient {
  const c = new RpcClient(addresses, { plaintext: true, peerName: 'mediator', defaultTimeoutMs: CALL_DEADLINE_MS, ...options });
  toClose.push(c);
  return c;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `f`, returning what it settled with and how long it took. */
async function timed<T>(f: () => Promise<T>): Promise<{ value?: T; error?: QfsError; tookMs: number }> {
  const startedMs = Date.now();
  try {
    const value = await f();
    return { value, tookMs: Date.now() - startedMs };
  } catch (err) {
    return { error: err as QfsError, tookMs: Date.now() - startedMs };
  }
}

describe('RPC client over a silent connection', () => {
  it('fails an idempotent call over from a silent address in about rpcSilenceMs, well before its deadline', async () => {
    const [a, b] = [await peer(), await peer()];
    b.leader = false;
    const proxy = await proxyTo(a);
    let reconnects = 0;
    const c = client([proxy.address, b.address], { retryIdempotent: true, onReconnect: () => reconnects++ });
    assert.equal((await c.call(echo, { n: 1 })).from, a.name);
    // a's host is cut off; b is elected.
    proxy.freeze();
    b.leader = true;
    const r = await timed(() => c.call(echo, { n: 2 }));
    assert.equal(r.error, undefined);
    assert.equal(r.value!.from, b.name);
    assert.ok(r.tookMs >= limits.rpcSilenceMs - 100, `served after ${r.tookMs} ms: not before the silence was long enough`);
    assert.ok(r.tookMs < FAILOVER_BOUND_MS, `served after ${r.tookMs} ms (deadline ${CALL_DEADLINE_MS} ms)`);
    assert.equal(reconnects, 1);
    // Later calls go straight to b.
    const next = await timed(() => c.call(echo, { n: 3 }));
    assert.equal(next.value!.from, b.name);
    assert.ok(next.tookMs < 1_000);
  });

  it('fails over from a silent address with a resolver too', async () => {
    const [a, b] = [await peer(), await peer()];
    const proxy = await proxyTo(a);
    const c = client(proxy.address, { retryIdempotent: true, resolveAddress: async () => (proxy.frozen ? b.address : proxy.address) });
    assert.equal((await c.call(echo, { n: 1 })).from, a.name);
    proxy.freeze();
    const r = await timed(() => c.call(echo, { n: 2 }));
    assert.equal(r.value?.from, b.name, r.error?.message);
    assert.ok(r.tookMs < FAILOVER_BOUND_MS, `served after ${r.tookMs} ms`);
  });

  it('finds the new metadata server when the leading mediator\'s host and its metadata server go silent together', async () => {
    // Mediators a (leading) and b, each with its metadata server; a's host is cut off.
    const [a, b, metaA, metaB] = [await peer(), await peer(), await peer(), await peer()];
    b.leader = false;
    const [toA, toMetaA] = [await proxyTo(a), await proxyTo(metaA)];
    a.metaServer = toMetaA.address;
    b.metaServer = metaB.address;
    const qc = new QuorumfsClient([toA.address, b.address], { plaintext: true, defaultTimeoutMs: 4_000 });
    toClose.push(qc);
    const ns = await qc.connectMetaServer({ plaintext: true, defaultTimeoutMs: 4_000 });
    assert.equal((await ns.call(echo, { n: 1 })).from, metaA.name);
    toA.freeze();
    toMetaA.freeze();
    b.leader = true;
    // The call is dropped after the silence; the mediators' client, asked where the metadata
    // server is, times out at a (its connection there was idle, so nothing told it before) and
    // then asks b: the call is served within its 4 s deadline.
    const r = await timed(() => ns.call(echo, { n: 2 }));
    assert.equal(r.value?.from, metaB.name, r.error?.message);
    assert.ok(r.tookMs < 4_000, `${r.tookMs} ms`);
  });

  it('fails a non-idempotent call in flight on a silent connection UNAVAILABLE, at once, and does not resend it', async () => {
    const [a, b] = [await peer(), await peer()];
    const proxy = await proxyTo(a);
    const c = client([proxy.address, b.address], { retryIdempotent: true });
    assert.equal((await c.call(echo, { n: 1 })).from, a.name);
    // a carries the call out, and is cut off before it answers.
    const call = timed(() => c.call(append, { item: 'once', delayMs: 1_000 }));
    while (a.log.length === 0) await sleep(10);
    proxy.freeze();
    const r = await call;
    assert.equal(r.error?.code, 'UNAVAILABLE', `settled with ${r.error?.message ?? JSON.stringify(r.value)}`);
    assert.match(r.error!.message, /^connection to mediator 127\.0\.0\.1:\d+ dropped: nothing arrived for \d+ ms with calls outstanding$/);
    assert.ok(r.tookMs < FAILOVER_BOUND_MS, `failed after ${r.tookMs} ms`);
    assert.deepEqual(a.log, ['once']);
    assert.deepEqual(b.log, [], 'not resent to b');
    // The client has moved on: the next call goes to b.
    assert.equal((await c.call(echo, { n: 2 })).from, b.name);
  });

  it('does not cut a long call on a live server: its keepalives show it is alive', async () => {
    const [a, b] = [await peer(), await peer()];
    let reconnects = 0;
    const c = client([a.address, b.address], { retryIdempotent: true, onReconnect: () => reconnects++ });
    const delayMs = 3 * limits.rpcSilenceMs;
    const r = await timed(() => c.call(append, { item: 'long', delayMs }));
    assert.equal(r.error, undefined, r.error?.message);
    assert.deepEqual(r.value, { count: 1, from: a.name });
    assert.ok(r.tookMs >= delayMs, `${r.tookMs} ms`);
    assert.equal(a.calls, 1);
    assert.equal(b.calls, 0);
    assert.equal(reconnects, 0);
  });

  it('counts the silence of a connection quiet between calls from the next call, not from the last reply', async () => {
    const [a, b] = [await peer(), await peer()];
    let reconnects = 0;
    const c = client([a.address, b.address], { retryIdempotent: true, onReconnect: () => reconnects++ });
    assert.equal((await c.call(echo, { n: 1 })).from, a.name);
    // Nothing in flight for almost the silence; then a call its first keepalive answers after
    // rpcKeepaliveMs: not dropped for the quiet before it.
    await sleep(limits.rpcSilenceMs - 100);
    const r = await timed(() => c.call(slow, { delayMs: 2 * limits.rpcKeepaliveMs }));
    assert.equal(r.value?.from, a.name, r.error?.message);
    assert.equal(reconnects, 0);
    assert.equal(b.calls, 0);
  });

  it('cuts a long call on a server that sends no keepalives (an older version): servers are upgraded first', async () => {
    const [old, b] = [await peer({ keepaliveMs: 0 }), await peer()];
    const c = client([old.address, b.address], { retryIdempotent: true });
    const r = await timed(() => c.call(slow, { delayMs: 3 * limits.rpcSilenceMs }));
    // Idempotent: sent again to b, which answers it after the same delay.
    assert.equal(r.value?.from, b.name, r.error?.message);
    assert.equal(old.calls, 1);
  });

  it('keeps the behaviour of a single address: a silent connection fails the call at its deadline', async () => {
    const a = await peer();
    const proxy = await proxyTo(a);
    const c = client(proxy.address, { retryIdempotent: true });
    assert.equal((await c.call(echo, { n: 1 })).from, a.name);
    proxy.freeze();
    const timeoutMs = 2 * limits.rpcSilenceMs;
    const r = await timed(() => c.call(echo, { n: 2 }, { timeoutMs }));
    assert.equal(r.error?.code, 'TIMEOUT', r.error?.message);
    assert.ok(r.tookMs >= timeoutMs - 100, `failed after ${r.tookMs} ms, at its ${timeoutMs} ms deadline`);
  });
});

describe('RPC server keepalives', () => {
  it('sends keepalives while a request is in flight, and nothing on an idle connection', async () => {
    const a = await peer();
    const raw = await RawPeer.connect(a.address.port);
    toClose.push({ close: () => raw.destroy() });
    const delayMs = 4 * limits.rpcKeepaliveMs + 200;
    raw.write(encodeFrame(FRAME_REQUEST, { id: 1, op: 'slow', args: { delayMs } }));
    await raw.until(() => raw.frames.length === 1, delayMs + 5_000, 'the reply');
    // One at least every rpcKeepaliveMs (the timer's lateness allowed for).
    assert.ok(raw.events >= 3 && raw.events <= 5, `${raw.events} keepalives in ${delayMs} ms`);
    const afterReply = raw.events;
    await sleep(3 * limits.rpcKeepaliveMs);
    assert.equal(raw.events, afterReply, 'none on an idle connection');
    assert.equal(raw.closed, false);
  });
});
