// Where a server's methods are bound to handlers: the RpcServer (framed TCP) is the real registry;
// a simulation binds the same handlers to its own in-process server. Handlers that need only
// their arguments, payload and deadline are written against this interface. Both keep their
// routes in a RouteTable, so a request is decoded and its result encoded the same way.

import { qfsError } from '../common/errors.js';
import type { Role } from '../core/access-policy.js';
import type { Method } from '../protocol/method.js';
import { namesToWire } from '../protocol/wire-names.js';

export interface BasicRequestContext {
  /** Absolute deadline, in the server clock's milliseconds, after which the caller gave up. */
  deadlineMs: number;
  /** The request's payload (block bytes); a view owned by the handler. */
  payload: Buffer;
  /** The caller's authenticated role; undefined on a plain connection or in process. */
  role?: Role;
}

/** A result with a payload attached. Handlers return this to send bytes back. */
export class PayloadReply<R> {
  constructor(
    readonly result: R,
    readonly payload: Uint8Array,
  ) {}
}

export type HandlerOf<A, R, C> = (args: A, ctx: C) => Promise<R | PayloadReply<R>> | R | PayloadReply<R>;

export interface HandlerRegistry<C extends BasicRequestContext = BasicRequestContext> {
  /** Binds a method; binding one twice fails INTERNAL. */
  register<A, R>(m: Method<A, R>, handler: HandlerOf<A, R, C>): this;
}

/** One bound method: its arguments' decoder, its result as it is packed (names that are not
 * text as bytes: wire-names.ts) and its handler. */
export interface Route<C> {
  decodeArgs: (value: unknown) => unknown;
  resultToWire: (result: unknown) => unknown;
  handler: HandlerOf<unknown, unknown, C>;
}

export class RouteTable<C extends BasicRequestContext> implements HandlerRegistry<C> {
  private readonly routes = new Map<string, Route<C>>();

  /** `serverName` names the server in UNKNOWN_OPERATION errors. */
  constructor(private readonly serverName: string) {}

  register<A, R>(m: Method<A, R>, handler: HandlerOf<A, R, C>): this {
    if (this.routes.has(m.name)) throw qfsError('INTERNAL', `method ${m.name} registered twice`);
    this.routes.set(m.name, {
      decodeArgs: (value) => m.args(value, 'args'),
      resultToWire: m.carriesNames ? namesToWire : (result) => result,
      handler: handler as HandlerOf<unknown, unknown, C>,
    });
    return this;
  }

  /** Whether a method named `op` is bound. */
  has(op: string): boolean {
    return this.routes.has(op);
  }

  /** The route of `op`; UNKNOWN_OPERATION if none is bound. */
  route(op: string): Route<C> {
    const route = this.routes.get(op);
    if (!route) throw qfsError('UNKNOWN_OPERATION', `${this.serverName} does not serve '${op}'`);
    return route;
  }
}
