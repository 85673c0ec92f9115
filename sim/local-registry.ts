// An in-process server for the simulator: the same handlers the RPC server binds (data and
// metadata methods), reached by the simulated network with real frames. Arguments are validated
// by each method's decoder and the caller's role by the server's access policy, as on the wire;
// errors leave as a code and a message, as on the wire.

import { asQfsError, qfsError } from '../src/common/errors.js';
import type { Method } from '../src/protocol/method.js';
import { PayloadReply, type BasicRequestContext, type HandlerOf, type HandlerRegistry } from '../src/transport/handler-registry.js';
import { namesToWire } from '../src/protocol/wire-names.js';
import { mayCall, type AccessPolicy, type Role } from '../src/core/access-policy.js';

interface Route {
  method: Method<unknown, unknown>;
  handler: HandlerOf<unknown, unknown, BasicRequestContext>;
}

export type Outcome = { ok: true; result: unknown; payload: Buffer } | { ok: false; code: string; message: string };

export class LocalRegistry implements HandlerRegistry {
  private readonly routes = new Map<string, Route>();

  /** `access`: the roles the server lets call each method, checked as RpcServer does once a
   * connection is authenticated (the mediator calls as role 'server'). */
  constructor(private readonly access: AccessPolicy) {}

  register<A, R>(m: Method<A, R>, handler: HandlerOf<A, R, BasicRequestContext>): this {
    if (this.routes.has(m.name)) throw qfsError('INTERNAL', `method ${m.name} registered twice`);
    this.routes.set(m.name, { method: m as Method<unknown, unknown>, handler: handler as HandlerOf<unknown, unknown, BasicRequestContext> });
    return this;
  }

  /** Runs one request as the RPC server would: decode, handle, encode the result for the wire. */
  async dispatch(op: string, wireArgs: unknown, payload: Buffer, deadlineMs: number, role: Role): Promise<Outcome> {
    const route = this.routes.get(op);
    if (!route) return { ok: false, code: 'UNKNOWN_OPERATION', message: `no such operation ${op}` };
    try {
      const args = route.method.args(wireArgs, 'args');
      if (!mayCall(this.access, op, role)) throw qfsError('PERMISSION', `role '${role}' may not call '${op}'`);
      const out = await route.handler(args, { deadlineMs, payload });
      if (out instanceof PayloadReply) return { ok: true, result: out.result, payload: Buffer.from(out.payload) };
      return { ok: true, result: route.method.carriesNames ? namesToWire(out) : out, payload: Buffer.alloc(0) };
    } catch (err) {
      const e = asQfsError(err);
      return { ok: false, code: e.code, message: e.message };
    }
  }
}
