// Which mount sessions are alive, as the mediator sees them. A session (one per mount, named by
// the mount) is attached while at least one open connection has named it; when its last one
// closes it has graceMs to come back (the mount reconnects and names it again), after which it is
// gone and the holds it has on open inodes are to be released. Pure: time is passed in and
// connections are opaque keys; the mediator carries out the releases.

interface SessionState<C> {
  connections: Set<C>;
  /** Since when no connection has named it; undefined while attached. */
  detachedAtMs: number | undefined;
}

export class SessionTable<C> {
  private readonly sessions = new Map<string, SessionState<C>>();
  private readonly byConnection = new Map<C, Set<string>>();

  constructor(private readonly graceMs: number) {}

  /** A call on `connection` named `session`. True if the connection is new to the table: the
   * caller then reports its close (connectionClosed). */
  attach(session: string, connection: C): boolean {
    const state = this.sessions.get(session) ?? { connections: new Set<C>(), detachedAtMs: undefined };
    state.connections.add(connection);
    state.detachedAtMs = undefined;
    this.sessions.set(session, state);
    const named = this.byConnection.get(connection);
    if (named) {
      named.add(session);
      return false;
    }
    this.byConnection.set(connection, new Set([session]));
    return true;
  }

  /** The connection closed: a session left with no connection starts its grace period. */
  connectionClosed(connection: C, nowMs: number): void {
    for (const session of this.byConnection.get(connection) ?? []) {
      const state = this.sessions.get(session);
      if (!state) continue;
      state.connections.delete(connection);
      if (state.connections.size === 0) state.detachedAtMs = nowMs;
    }
    this.byConnection.delete(connection);
  }

  /** Sessions that hold something in the metadata store: the ones not known here (the mediator
   * started after them, or a release of theirs failed and was forgotten) start a grace period now,
   * so a mount that is still there can come back, and one that is not does not hold forever. */
  adopt(sessions: readonly string[], nowMs: number): void {
    for (const session of sessions) {
      if (!this.sessions.has(session)) this.sessions.set(session, { connections: new Set(), detachedAtMs: nowMs });
    }
  }

  /** Sessions detached for at least the grace period: to be released, then forgotten. */
  expired(nowMs: number): string[] {
    const out: string[] = [];
    for (const [session, state] of this.sessions) {
      if (state.detachedAtMs !== undefined && nowMs - state.detachedAtMs >= this.graceMs) out.push(session);
    }
    return out;
  }

  /** The session's holds were released: forget it, unless it came back meanwhile. */
  forget(session: string): void {
    if (this.sessions.get(session)?.detachedAtMs !== undefined) this.sessions.delete(session);
  }

  isAttached(session: string): boolean {
    return (this.sessions.get(session)?.connections.size ?? 0) > 0;
  }

  get size(): number {
    return this.sessions.size;
  }
}
