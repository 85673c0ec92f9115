// Which data servers are live, and what to do when one fails: a deterministic state machine
// (step(state, event) → state, actions) with no clock, timers or I/O inside. The mediator feeds
// it heartbeat results and child-process exits and carries out its actions. A failed server the
// mediator runs itself is replaced on the next free spare port; a replacement that cannot start
// there (the port is taken) moves on to the next one, as the same replacement: it never served,
// so it is not a server that failed. When spares run out, one error is reported, the failed
// server stays down and the cluster goes on with the servers it has.

import { assertNever } from './quorum.js';

/** starting: spawned, not yet answering; healing: answering and taking writes, being filled or
 * caught up with what it lacks (reads do not count on it yet); live: complete. */
type ServerState = 'starting' | 'healing' | 'live' | 'down' | 'replaced';

export interface ServerRecord {
  /** host:port, the server's identity. */
  id: string;
  host: string;
  port: number;
  state: ServerState;
  /** Spawned and supervised by this mediator (so it can be replaced). */
  local: boolean;
  missedHeartbeats: number;
  /** The server this one replaced, or the one that replaced it. */
  replaces?: string;
  replacedBy?: string;
  /** Why the server went down, for status. */
  downReason?: string;
}

export interface MembershipState {
  servers: ServerRecord[];
  /** Data servers that joined as standbys (--spare): the first replacement of a failed server. */
  standbys: Array<{ id: string; host: string; port: number }>;
  /** Where a replacement on a spare port runs: this mediator's host. */
  host: string;
  /** Servers this mediator does not run are replaced too (a cluster of joined servers, --etcd);
   * otherwise only its own children are. */
  replaceRemote: boolean;
  /** Spare ports not yet used, in the order they are taken. */
  sparePorts: number[];
  missesBeforeDown: number;
  /** Set once spare ports ran out, so the error is reported once per exhaustion. */
  sparesExhaustedReported: boolean;
}

export type MembershipEvent =
  | { type: 'heartbeatOk'; id: string }
  | { type: 'heartbeatFailed'; id: string; reason: string }
  | { type: 'processExited'; id: string; reason: string }
  /** A process could not be started for this server; `portInUse`: its port was taken. */
  | { type: 'spawnFailed'; id: string; reason: string; portInUse: boolean }
  | { type: 'healed'; id: string }
  /** A data server joined the cluster (a new member, or a standby with `spare`). */
  | { type: 'joined'; id: string; host: string; port: number; spare: boolean };

export type MembershipAction =
  | { type: 'spawnReplacement'; replaces: string; host: string; port: number }
  /** The standby `id` takes the place of `replaces` (it is healed as a replacement is). */
  | { type: 'promoteStandby'; replaces: string; id: string }
  | { type: 'serverJoined'; id: string; spare: boolean }
  | { type: 'stopProcess'; id: string }
  | { type: 'serverDown'; id: string; reason: string }
  | { type: 'serverLive'; id: string }
  | { type: 'startHeal'; id: string }
  /** The replacement of `replaces` could not start on `failure.port` and is started on `toPort`. */
  | { type: 'replacementMoved'; replaces: string; failure: SpawnFailure; toPort: number }
  /** Nothing can replace `replaces`; `lastFailure`: why the last spare port tried did not do. */
  | { type: 'sparesExhausted'; replaces: string; lastFailure?: SpawnFailure };

/** Why a server's process could not be started on `port`. */
export interface SpawnFailure {
  port: number;
  reason: string;
  portInUse: boolean;
}

interface StepResult {
  state: MembershipState;
  actions: MembershipAction[];
}

export function initialMembership(
  servers: Array<{ host: string; port: number; local: boolean }>,
  sparePorts: number[],
  missesBeforeDown: number,
  where: { host: string; replaceRemote: boolean } = { host: servers[0]?.host ?? '127.0.0.1', replaceRemote: false },
): MembershipState {
  const used = new Set(servers.filter((s) => s.host === where.host || s.local).map((s) => s.port));
  return {
    standbys: [],
    host: where.host,
    replaceRemote: where.replaceRemote,
    servers: servers.map((s) => ({
      id: `${s.host}:${s.port}`,
      host: s.host,
      port: s.port,
      local: s.local,
      state: 'starting',
      missedHeartbeats: 0,
    })),
    sparePorts: sparePorts.filter((p) => !used.has(p)),
    missesBeforeDown,
    sparesExhaustedReported: false,
  };
}

/** Servers reads count on: complete copies. */
export function liveServers(state: MembershipState): ServerRecord[] {
  return state.servers.filter((s) => s.state === 'live');
}

/** Servers writes go to: complete ones and those being healed (so they do not fall behind). */
export function writableServers(state: MembershipState): ServerRecord[] {
  return state.servers.filter((s) => s.state === 'live' || s.state === 'healing');
}

/** Servers that should be watched: not yet replaced. */
export function watchedServers(state: MembershipState): ServerRecord[] {
  return state.servers.filter((s) => s.state !== 'replaced');
}

/** A membership as kept (in etcd) and taken over by another mediator: what it knew of each
 * server, none of them its own children; replacements go to its own spare ports. A server that
 * was still starting or being healed starts again (it is healed once it answers). */
export function takenOverMembership(
  kept: { servers: ServerRecord[]; standbys: MembershipState['standbys'] },
  sparePorts: number[],
  missesBeforeDown: number,
  host: string,
): MembershipState {
  const servers = kept.servers.map((s): ServerRecord => ({
    ...s,
    local: false,
    missedHeartbeats: 0,
    state: s.state === 'live' || s.state === 'replaced' || s.state === 'down' ? s.state : 'starting',
  }));
  const used = new Set(servers.filter((s) => s.host === host).map((s) => s.port));
  return { servers, standbys: kept.standbys, host, replaceRemote: true, sparePorts: sparePorts.filter((p) => !used.has(p)), missesBeforeDown, sparesExhaustedReported: false };
}

/** What is kept of a membership for another mediator to take over. */
export function keptMembership(state: MembershipState): { servers: ServerRecord[]; standbys: MembershipState['standbys'] } {
  return { servers: state.servers, standbys: state.standbys };
}

export function step(state: MembershipState, event: MembershipEvent): StepResult {
  if (event.type === 'joined') return join(state, event);
  const index = state.servers.findIndex((s) => s.id === event.id);
  if (index < 0) return { state, actions: [] };
  const server = state.servers[index]!;
  if (server.state === 'replaced') return { state, actions: [] };
  switch (event.type) {
    case 'heartbeatOk': {
      // A server that answers for the first time, or again after being down, may lack blocks:
      // it is healed before reads count on it.
      const answering = { ...server, missedHeartbeats: 0, downReason: undefined };
      if (server.state === 'live' || server.state === 'healing') return withServer(state, index, answering, []);
      return withServer(state, index, { ...answering, state: 'healing' }, [{ type: 'startHeal', id: server.id }]);
    }
    case 'healed':
      if (server.state !== 'healing') return { state, actions: [] };
      return withServer(state, index, { ...server, state: 'live' }, [{ type: 'serverLive', id: server.id }]);
    case 'heartbeatFailed': {
      const missed = server.missedHeartbeats + 1;
      if (server.state === 'down' || missed < state.missesBeforeDown) {
        return withServer(state, index, { ...server, missedHeartbeats: missed }, []);
      }
      return fail(state, index, `missed ${missed} heartbeats (${event.reason})`);
    }
    case 'processExited':
      return fail(state, index, event.reason);
    case 'spawnFailed': {
      const failure = { port: server.port, reason: event.reason, portInUse: event.portInUse };
      if (server.state === 'starting' && server.replaces !== undefined) return moveReplacement(state, index, failure);
      return fail(state, index, `could not start: ${event.reason}`);
    }
    default:
      return assertNever(event);
  }
}

/** A server known already (it restarted and joined again) changes nothing: heartbeats follow it. */
function join(state: MembershipState, event: { id: string; host: string; port: number; spare: boolean }): StepResult {
  if (state.servers.some((s) => s.id === event.id) || state.standbys.some((s) => s.id === event.id)) return { state, actions: [] };
  const { id, host, port } = event;
  const actions: MembershipAction[] = [{ type: 'serverJoined', id, spare: event.spare }];
  if (event.spare) {
    // A standby is taken at once if a failed server waits for a replacement.
    const waiting = state.servers.findIndex((s) => s.state === 'down' && s.replacedBy === undefined);
    const next = { ...state, standbys: [...state.standbys, { id, host, port }] };
    if (waiting < 0) return { state: next, actions };
    const replaced = fail(next, waiting, state.servers[waiting]!.downReason ?? 'down');
    return { state: replaced.state, actions: [...actions, ...replaced.actions] };
  }
  const server: ServerRecord = { id, host, port, state: 'starting', local: false, missedHeartbeats: 0 };
  return { state: { ...state, servers: [...state.servers, server] }, actions };
}

/** Marks a server down and, if it is ours (or any, with replaceRemote), replaces it: with a
 * standby if one joined, else on the next spare port. */
function fail(state: MembershipState, index: number, reason: string): StepResult {
  const server = state.servers[index]!;
  const actions: MembershipAction[] = [];
  if (server.state !== 'down') actions.push({ type: 'serverDown', id: server.id, reason });
  if (!server.local && !state.replaceRemote) {
    return withServer(state, index, { ...server, state: 'down', downReason: reason }, actions);
  }
  const [standby, ...otherStandbys] = state.standbys;
  if (standby) {
    const replacement: ServerRecord = { ...standby, state: 'starting', local: false, missedHeartbeats: 0, replaces: server.id };
    actions.push({ type: 'stopProcess', id: server.id });
    actions.push({ type: 'promoteStandby', replaces: server.id, id: standby.id });
    const servers = state.servers.map((s, i) => (i === index ? { ...s, state: 'replaced' as const, replacedBy: standby.id, downReason: reason } : s));
    servers.push(replacement);
    return { state: { ...state, servers, standbys: otherStandbys }, actions };
  }
  const [port, ...rest] = state.sparePorts;
  if (port === undefined) {
    const next = withServer(state, index, { ...server, state: 'down', downReason: reason }, actions);
    if (!state.sparesExhaustedReported) next.actions.push({ type: 'sparesExhausted', replaces: server.id });
    next.state = { ...next.state, sparesExhaustedReported: true };
    return next;
  }
  const replacement: ServerRecord = {
    id: `${state.host}:${port}`,
    host: state.host,
    port,
    state: 'starting',
    local: true,
    missedHeartbeats: 0,
    replaces: server.id,
  };
  actions.push({ type: 'stopProcess', id: server.id });
  actions.push({ type: 'spawnReplacement', replaces: server.id, host: state.host, port });
  const servers = state.servers.map((s, i) =>
    i === index ? { ...s, state: 'replaced' as const, replacedBy: replacement.id, downReason: reason } : s,
  );
  servers.push(replacement);
  return { state: { ...state, servers, sparePorts: rest }, actions };
}

/** A replacement that could not start goes to the next spare port (same record, new address);
 * with none left it is dropped, and the server it was to replace is down, not replaced. */
function moveReplacement(state: MembershipState, index: number, failure: SpawnFailure): StepResult {
  const replacement = state.servers[index]!;
  const replaces = replacement.replaces!;
  const [port, ...rest] = state.sparePorts;
  if (port === undefined) {
    const servers = state.servers
      .filter((_, i) => i !== index)
      .map((s) => (s.id === replaces ? { ...s, state: 'down' as const, replacedBy: undefined } : s));
    const actions: MembershipAction[] = state.sparesExhaustedReported ? [] : [{ type: 'sparesExhausted', replaces, lastFailure: failure }];
    return { state: { ...state, servers, sparesExhaustedReported: true }, actions };
  }
  const id = `${replacement.host}:${port}`;
  const servers = state.servers.map((s, i) => (i === index ? { ...s, id, port } : s.id === replaces ? { ...s, replacedBy: id } : s));
  return {
    state: { ...state, servers, sparePorts: rest },
    actions: [
      { type: 'replacementMoved', replaces, failure, toPort: port },
      { type: 'spawnReplacement', replaces, host: replacement.host, port },
    ],
  };
}

function withServer(state: MembershipState, index: number, server: ServerRecord, actions: MembershipAction[]): StepResult {
  const servers = state.servers.slice();
  servers[index] = server;
  return { state: { ...state, servers }, actions };
}
