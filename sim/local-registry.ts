// An in-process server for the simulator: the same handlers the RPC server binds (data and
// metadata methods), reached by the simulated network with real frames. Routes are the RPC
// server's RouteTable, so arguments are decoded and results encoded as on the wire; the caller's
// role is checked against the server's access policy; errors leave as a code and a message.

import { asQfsError, qfsError } from '../src/common/errors.js';
import { PayloadReply, RouteTable, type BasicRequestContext } from '../src/transport/handler-registry.js';
import { mayCall, type AccessPolicy, type Role } from '../src/core/access-policy.js';

export type Outcome = { ok: true; result: unknown; payload: Buffer } | { ok: false; code: string; message: string };

export class LocalRegistry extends RouteTable<BasicRequestContext> {
  /** `access`: the roles the server lets call each method, checked as RpcServer does once a
   * connection is authenticated (the mediator calls as role 'server'). */
  constructor(
    name: string,
    private readonly access: AccessPolicy,
  ) {
    super(name);
  }

  /** Runs one request as the RPC server would: decode, check the role, handle, encode. */
  async dispatch(op: string, wireArgs: unknown, payload: Buffer, deadlineMs: number, role: Role): Promise<Outcome> {
    try {
      const route = this.route(op);
      const args = route.decodeArgs(wireArgs);
      if (!mayCall(this.access, op, role)) throw qfsError('PERMISSION', `role '${role}' may not call '${op}'`);
      const out = await route.handler(args, { deadlineMs, payload });
      if (out instanceof PayloadReply) return { ok: true, result: out.result, payload: Buffer.from(out.payload) };
      return { ok: true, result: route.resultToWire(out), payload: Buffer.alloc(0) };
    } catch (err) {
      const e = asQfsError(err);
      return { ok: false, code: e.code, message: e.message };
    }
  }
}
