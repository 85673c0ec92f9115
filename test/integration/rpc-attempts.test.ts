// The RPC client reports each attempt of a call to its observer (onAttempt): answered when a
// reply came back (an error reply too), unanswered with the error when none did (no reply in
// time, no connection); calls failed by close() are not reported. The mount's outage log rests
// on this.

import assert from 'node:assert/strict';
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
