// Where a server's methods are bound to handlers: the RpcServer (framed TCP) is the real registry;
// a simulation binds the same handlers to its own in-process server. Handlers that need only
// their arguments, payload and deadline are written against this interface.

import type { Method } from '../protocol/method.js';

export interface BasicRequestContext {
  /** Absolute deadline, in the server clock's milliseconds, after which the caller gave up. */
  deadlineMs: number;
  /** The request's payload (block bytes); a view owned by the handler. */
  payload: Buffer;
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
