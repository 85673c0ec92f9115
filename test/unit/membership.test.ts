// The membership state machine: failure detection, replacement on spare ports, exhaustion.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialMembership, liveServers, step, writableServers, type MembershipEvent, type MembershipState } from '../../src/core/membership.js';

function run(state: MembershipState, events: MembershipEvent[]) {
  const actions = [];
  for (const event of events) {
    const r = step(state, event);
    state = r.state;
    actions.push(...r.actions);
  }
  return { state, actions };
}

const three = () =>
  initialMembership(
    [5001, 5002, 5003].map((port) => ({ host: '127.0.0.1', port, local: true })),
    [60000, 60001],
    3,
  );
const allUp: MembershipEvent[] = [5001, 5002, 5003].flatMap((p): MembershipEvent[] => [
  { type: 'heartbeatOk', id: `127.0.0.1:${p}` },
  { type: 'healed', id: `127.0.0.1:${p}` },
]);

describe('membership', () => {
  it('heals servers that answer for the first time, then counts them live', () => {
    const first = run(three(), [{ type: 'heartbeatOk', id: '127.0.0.1:5001' }]);
    assert.deepEqual(first.actions, [{ type: 'startHeal', id: '127.0.0.1:5001' }]);
    assert.equal(first.state.servers[0]!.state, 'healing');
    assert.equal(writableServers(first.state).length, 1);
    assert.equal(liveServers(first.state).length, 0);
    const { state, actions } = run(three(), allUp);
    assert.equal(liveServers(state).length, 3);
    assert.equal(actions.filter((a) => a.type === 'serverLive').length, 3);
  });

  it('catches up a server that comes back after being down', () => {
    const remote = initialMembership([{ host: '10.0.0.9', port: 7000, local: false }], [], 1);
    const r = run(remote, [
      { type: 'heartbeatOk', id: '10.0.0.9:7000' },
      { type: 'healed', id: '10.0.0.9:7000' },
      { type: 'heartbeatFailed', id: '10.0.0.9:7000', reason: 'timeout' },
      { type: 'heartbeatOk', id: '10.0.0.9:7000' },
    ]);
    assert.equal(r.state.servers[0]!.state, 'healing');
    assert.equal(r.actions.filter((a) => a.type === 'startHeal').length, 2);
  });

  it('replaces a crashed local server on the next spare port at once', () => {
    const { state, actions } = run(three(), [...allUp, { type: 'processExited', id: '127.0.0.1:5002', reason: 'killed' }]);
    assert.deepEqual(
      actions.filter((a) => a.type === 'spawnReplacement'),
      [{ type: 'spawnReplacement', replaces: '127.0.0.1:5002', host: '127.0.0.1', port: 60000 }],
    );
    assert.equal(state.servers.find((s) => s.id === '127.0.0.1:5002')!.state, 'replaced');
    assert.equal(state.servers.find((s) => s.id === '127.0.0.1:60000')!.state, 'starting');
    assert.equal(liveServers(state).length, 2);
  });

  it('counts missed heartbeats before declaring a server down', () => {
    const miss: MembershipEvent = { type: 'heartbeatFailed', id: '127.0.0.1:5001', reason: 'timeout' };
    let r = run(three(), [...allUp, miss, miss]);
    assert.equal(liveServers(r.state).length, 3);
    r = run(r.state, [{ type: 'heartbeatOk', id: '127.0.0.1:5001' }, miss, miss]);
    assert.equal(liveServers(r.state).length, 3, 'a success resets the count');
    r = run(r.state, [miss]);
    assert.equal(liveServers(r.state).length, 2);
    assert.ok(r.actions.some((a) => a.type === 'stopProcess' && a.id === '127.0.0.1:5001'));
  });

  it('moves to the next spare port when a replacement cannot start', () => {
    const r = run(three(), [
      ...allUp,
      { type: 'processExited', id: '127.0.0.1:5001', reason: 'killed' },
      { type: 'spawnFailed', id: '127.0.0.1:60000', reason: 'port in use' },
    ]);
    assert.ok(r.actions.some((a) => a.type === 'spawnReplacement' && a.port === 60001));
  });

  it('reports spare-port exhaustion once and keeps the rest serving', () => {
    const exit = (port: number): MembershipEvent => ({ type: 'processExited', id: `127.0.0.1:${port}`, reason: 'killed' });
    const r = run(three(), [
      ...allUp,
      exit(5001),
      { type: 'heartbeatOk', id: '127.0.0.1:60000' },
      { type: 'healed', id: '127.0.0.1:60000' },
      exit(5002),
      { type: 'heartbeatOk', id: '127.0.0.1:60001' },
      { type: 'healed', id: '127.0.0.1:60001' },
      exit(5003),
      exit(60000),
    ]);
    assert.equal(r.actions.filter((a) => a.type === 'sparesExhausted').length, 1);
    assert.deepEqual(liveServers(r.state).map((s) => s.port), [60001]);
  });

  it('does not replace a remote server; it may come back', () => {
    const state = initialMembership([{ host: '10.0.0.9', port: 7000, local: false }], [60000], 1);
    const r = run(state, [
      { type: 'heartbeatOk', id: '10.0.0.9:7000' },
      { type: 'heartbeatFailed', id: '10.0.0.9:7000', reason: 'timeout' },
    ]);
    assert.equal(r.state.servers[0]!.state, 'down');
    assert.ok(!r.actions.some((a) => a.type === 'spawnReplacement'));
    assert.equal(run(r.state, [{ type: 'heartbeatOk', id: '10.0.0.9:7000' }]).state.servers[0]!.state, 'healing');
  });
});
