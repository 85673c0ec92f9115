// The membership state machine: failure detection, replacement on spare ports, a replacement
// moving past spare ports it cannot start on, exhaustion.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialMembership, keptMembership, liveServers, step, takenOverMembership, writableServers, type MembershipEvent, type MembershipState } from '../../src/core/membership.js';

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
      { type: 'spawnFailed', id: '127.0.0.1:60000', reason: 'port 60000 is already in use', portInUse: true },
    ]);
    assert.ok(r.actions.some((a) => a.type === 'spawnReplacement' && a.port === 60001));
  });

  it('moves the same replacement to the next spare port: no server is recorded on a port where none ran', () => {
    const crashed = run(three(), [...allUp, { type: 'processExited', id: '127.0.0.1:5001', reason: 'killed' }]);
    const r = step(crashed.state, { type: 'spawnFailed', id: '127.0.0.1:60000', reason: 'port 60000 is already in use', portInUse: true });
    assert.deepEqual(r.actions, [
      { type: 'replacementMoved', replaces: '127.0.0.1:5001', failure: { port: 60000, reason: 'port 60000 is already in use', portInUse: true }, toPort: 60001 },
      { type: 'spawnReplacement', replaces: '127.0.0.1:5001', host: '127.0.0.1', port: 60001 },
    ]);
    assert.equal(r.state.servers.find((s) => s.port === 60000), undefined);
    assert.equal(r.state.servers.find((s) => s.id === '127.0.0.1:5001')!.replacedBy, '127.0.0.1:60001');
    const replacement = r.state.servers.find((s) => s.id === '127.0.0.1:60001')!;
    assert.equal(replacement.state, 'starting');
    assert.equal(replacement.replaces, '127.0.0.1:5001');
    assert.deepEqual(r.state.sparePorts, []);
    const up = run(r.state, [{ type: 'heartbeatOk', id: '127.0.0.1:60001' }, { type: 'healed', id: '127.0.0.1:60001' }]);
    assert.deepEqual(liveServers(up.state).map((s) => s.port), [5002, 5003, 60001]);
  });

  it('with no spare port left for a replacement that cannot start: one error naming the crashed server, which stays down', () => {
    const r = run(three(), [
      ...allUp,
      { type: 'processExited', id: '127.0.0.1:5001', reason: 'killed' },
      { type: 'spawnFailed', id: '127.0.0.1:60000', reason: 'port 60000 is already in use', portInUse: true },
      { type: 'spawnFailed', id: '127.0.0.1:60001', reason: 'data server on port 60001 exited with code 1', portInUse: false },
    ]);
    assert.deepEqual(r.actions.filter((a) => a.type === 'sparesExhausted'), [
      { type: 'sparesExhausted', replaces: '127.0.0.1:5001', lastFailure: { port: 60001, reason: 'data server on port 60001 exited with code 1', portInUse: false } },
    ]);
    assert.deepEqual(r.state.servers.map((s) => [s.id, s.state, s.replacedBy]), [
      ['127.0.0.1:5001', 'down', undefined],
      ['127.0.0.1:5002', 'live', undefined],
      ['127.0.0.1:5003', 'live', undefined],
    ]);
    assert.ok(!r.actions.some((a) => a.type === 'serverDown' && a.id !== '127.0.0.1:5001'), 'no replacement is reported down: none ran');
    // Another crash now: no spare, no second report.
    const again = step(r.state, { type: 'processExited', id: '127.0.0.1:5002', reason: 'killed' });
    assert.ok(!again.actions.some((a) => a.type === 'sparesExhausted' || a.type === 'spawnReplacement'));
    assert.equal(again.state.servers.find((s) => s.id === '127.0.0.1:5002')!.state, 'down');
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

describe('joined servers and standbys (a cluster on etcd)', () => {
  const cluster = () => initialMembership([], [61000, 61001], 1, { host: '10.0.0.5', replaceRemote: true });

  it('a joined server is watched, healed and then live; joining again changes nothing', () => {
    let state = cluster();
    const join = { type: 'joined' as const, id: '10.0.0.1:7000', host: '10.0.0.1', port: 7000, spare: false };
    let r = step(state, join);
    assert.deepEqual(r.actions, [{ type: 'serverJoined', id: '10.0.0.1:7000', spare: false }]);
    state = r.state;
    r = step(state, join);
    assert.equal(r.state, state);
    state = run(state, [{ type: 'heartbeatOk', id: '10.0.0.1:7000' }, { type: 'healed', id: '10.0.0.1:7000' }]).state;
    assert.deepEqual(liveServers(state).map((s) => s.id), ['10.0.0.1:7000']);
  });

  it('a failed remote server is replaced by a standby first, then on this mediator\'s spare ports', () => {
    let state = cluster();
    for (const port of [7000, 7001]) {
      state = step(state, { type: 'joined', id: `10.0.0.1:${port}`, host: '10.0.0.1', port, spare: false }).state;
      state = run(state, [{ type: 'heartbeatOk', id: `10.0.0.1:${port}` }, { type: 'healed', id: `10.0.0.1:${port}` }]).state;
    }
    state = step(state, { type: 'joined', id: '10.0.0.2:7000', host: '10.0.0.2', port: 7000, spare: true }).state;
    let r = step(state, { type: 'heartbeatFailed', id: '10.0.0.1:7000', reason: 'cut' });
    assert.ok(r.actions.some((a) => a.type === 'promoteStandby' && a.id === '10.0.0.2:7000' && a.replaces === '10.0.0.1:7000'));
    assert.equal(r.state.standbys.length, 0);
    state = r.state;
    r = step(state, { type: 'heartbeatFailed', id: '10.0.0.1:7001', reason: 'cut' });
    const spawn = r.actions.find((a) => a.type === 'spawnReplacement');
    assert.deepEqual(spawn, { type: 'spawnReplacement', replaces: '10.0.0.1:7001', host: '10.0.0.5', port: 61000 });
    assert.equal(r.state.servers.find((s) => s.id === '10.0.0.5:61000')?.state, 'starting');
  });

  it('a standby that joins while a failed server waits replaces it at once', () => {
    let state = initialMembership([], [], 1, { host: '10.0.0.5', replaceRemote: true });
    state = step(state, { type: 'joined', id: '10.0.0.1:7000', host: '10.0.0.1', port: 7000, spare: false }).state;
    state = run(state, [{ type: 'heartbeatOk', id: '10.0.0.1:7000' }, { type: 'heartbeatFailed', id: '10.0.0.1:7000', reason: 'gone' }]).state;
    assert.equal(state.servers[0]!.state, 'down');
    const r = step(state, { type: 'joined', id: '10.0.0.3:7000', host: '10.0.0.3', port: 7000, spare: true });
    assert.ok(r.actions.some((a) => a.type === 'promoteStandby' && a.id === '10.0.0.3:7000'));
    assert.equal(r.state.servers[0]!.state, 'replaced');
  });

  it('a membership taken over keeps live servers live, starts the others again and owns none', () => {
    let state = initialMembership([{ host: '10.0.0.5', port: 60000, local: true }, { host: '10.0.0.1', port: 7000, local: false }], [], 1, { host: '10.0.0.5', replaceRemote: true });
    state = run(state, [{ type: 'heartbeatOk', id: '10.0.0.5:60000' }, { type: 'healed', id: '10.0.0.5:60000' }, { type: 'heartbeatOk', id: '10.0.0.1:7000' }]).state;
    const taken = takenOverMembership(keptMembership(state), [60000, 60001], 1, '10.0.0.6');
    assert.deepEqual(taken.servers.map((s) => [s.id, s.state, s.local]), [['10.0.0.5:60000', 'live', false], ['10.0.0.1:7000', 'starting', false]]);
    assert.deepEqual(taken.sparePorts, [60000, 60001]); // another host's ports are not this one's
    const r = step(taken, { type: 'heartbeatFailed', id: '10.0.0.5:60000', reason: 'host gone' });
    assert.ok(r.actions.some((a) => a.type === 'spawnReplacement' && a.host === '10.0.0.6'));
  });
});
