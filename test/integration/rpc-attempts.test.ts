// The RPC client reports each attempt of a call to its observer (onAttempt): answered when a
// reply came back (an error reply too), unanswered with the error when none did (no reply in
// time, no connection); calls failed by close() are not reported. The mount's outage log rests
// on this.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { qfsError } from '../../src/common/errors.js';
import { method } from '../../src/protocol/method.js';
import { object, uint } from '../../src/protocol/schema.js';
import { RpcClient, type AttemptOutcome } from '../../src/transport/rpc-client.js';
import { RpcServer } from '../../src/transport/rpc-server.js';
import { freePorts } from '../helpers/cluster.js';
import { randomBytes } from 'node:crypto';
import { RevokedIds } from '../../src/common/cluster-secret.js';
import { credentialFor } from '../../src/services/server-security.js';

const echo = method('echo', object({ n: uint }), object({ n: uint }), true);
const refuse = method('refuse', object({}), object({}), true);
const hang = method('hang', object({}), object({}), true);

describe('RPC client: attempt outcomes', () => {
  let server: RpcServer;
  let port: number;
  const hanging: Array<() => void> = [];
  // Over the real transport: TLS-PSK with a secret of this test's own.
  const clusterSecret = randomBytes(32);
  const credentials = credentialFor(clusterSecret, 'client.test');
  before(async () => {
    const security = { clusterSecret, revoked: new RevokedIds('/nonexistent/revoked-ids'), access: { defaultRoles: ['client'] as const } };
    server = new RpcServer({ name: 'test', security })
      .register(echo, (a) => ({ n: a.n }))
      .register(refuse, () => {
        throw qfsError('NOT_FOUND', 'no such thing');
      })
      .register(hang, () => new Promise<Record<string, never>>((resolve) => hanging.push(() => resolve({}))));
    port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
  });
  after(async () => {
    for (const release of hanging) release();
    await server.close();
  });

  function client(outcomes: AttemptOutcome[], atPort = port): RpcClient {
    return new RpcClient({ host: '127.0.0.1', port: atPort }, { credentials, onAttempt: (o) => outcomes.push(o), defaultTimeoutMs: 2_000 });
  }

  it('a reply, an error reply included, is an answer', async () => {
    const outcomes: AttemptOutcome[] = [];
    const c = client(outcomes);
    const before = Date.now();
    assert.deepEqual(await c.call(echo, { n: 7 }), { n: 7 });
    await assert.rejects(c.call(refuse, {}), { code: 'NOT_FOUND' });
    c.close();
    assert.deepEqual(outcomes.map((o) => o.answered), [true, true]);
    assert.ok(outcomes.every((o) => o.startedAtMs >= before));
  });

  it('no reply within the deadline is unanswered, with TIMEOUT', async () => {
    const outcomes: AttemptOutcome[] = [];
    const c = client(outcomes);
    await assert.rejects(c.call(hang, {}, { timeoutMs: 200 }), { code: 'TIMEOUT' });
    c.close();
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.answered, false);
    assert.equal(!outcomes[0]!.answered && outcomes[0]!.error.code, 'TIMEOUT');
  });

  it('no connection is unanswered, with UNAVAILABLE, once per attempt', async () => {
    const [closedPort] = await freePorts(1);
    const outcomes: AttemptOutcome[] = [];
    const c = client(outcomes, closedPort);
    await assert.rejects(c.call(echo, { n: 1 }, { retry: false }), { code: 'UNAVAILABLE' });
    await assert.rejects(c.call(echo, { n: 1 }, { retry: true, timeoutMs: 300 }), { code: 'UNAVAILABLE' });
    c.close();
    assert.ok(outcomes.length >= 3, `${outcomes.length} attempts: one, then retries`);
    assert.ok(outcomes.every((o) => !o.answered && o.error.code === 'UNAVAILABLE'));
  });

  it('calls failed by close() are not reported', async () => {
    const outcomes: AttemptOutcome[] = [];
    const c = client(outcomes);
    await c.call(echo, { n: 1 });
    const pending = c.call(hang, {}, { timeoutMs: 10_000 });
    await new Promise((resolve) => setImmediate(resolve)); // the request is on the wire
    c.close();
    await assert.rejects(pending, { code: 'UNAVAILABLE' });
    await assert.rejects(c.call(echo, { n: 2 }), { code: 'UNAVAILABLE' });
    assert.deepEqual(outcomes.map((o) => o.answered), [true]);
  });
});

describe('RPC client: a full send queue', () => {
  it('holds back any number of callers with one pair of listeners on the socket, each until its deadline', { timeout: 30_000 }, async () => {
    // A peer that accepts and never reads: the client's queue fills past maxQueuedSendBytes.
    const sockets: net.Socket[] = [];
    const peer = net.createServer((socket) => {
      socket.pause();
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const c = new RpcClient({ host: '127.0.0.1', port: (peer.address() as net.AddressInfo).port }, { plaintext: true, defaultTimeoutMs: 2_000 });
    try {
      // Connected first (the peer answers nothing: the call times out), so that the callers
      // below find the socket up and its queue filling.
      await assert.rejects(c.call(echo, { n: 0 }, { timeoutMs: 200, retry: false }), { code: 'TIMEOUT' });
      const payload = Buffer.alloc(2 * 1024 * 1024);
      const send = (n: number): Promise<unknown> => c.call(echo, { n }, { payload, retry: false }).catch((err: unknown) => err);
      // Forty fill the queue (80 MiB against the 64 MiB bound); thirty more find it full and wait.
      const calls = Array.from({ length: 40 }, (_, n) => send(n));
      await new Promise((resolve) => setImmediate(resolve));
      const waiting = Array.from({ length: 30 }, (_, n) => send(40 + n));
      const started = Date.now();
      const outcomes = await Promise.all([...calls, ...waiting]);
      assert.ok(Date.now() - started < 10_000, `the waiting calls ended near their 2 s deadline, not ${Date.now() - started} ms later`);
      assert.ok(outcomes.every((o) => o instanceof Error && (o as { code?: string }).code === 'TIMEOUT'), 'each timed out');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
    } finally {
      process.off('warning', onWarning);
      c.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => peer.close(() => resolve()));
    }
  });
});
