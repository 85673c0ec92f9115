// Framed RPC server over node:net. Each request frame is decoded, its arguments validated by
// the method's decoder, and its handler run; the reply carries the request's id. Limits:
// connections, requests in flight per connection, frame and header size. A malformed or
// oversized frame gets an error reply and the connection is closed: the stream is out of sync.

import net from 'node:net';
import { codeOf, messageOf, qfsError, type ErrorCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Address } from '../common/address.js';
import { FRAME_EVENT, FRAME_REQUEST, FRAME_RESPONSE, FrameDecoder, encodeFrameHead } from '../protocol/frame-codec.js';
import type { Method } from '../protocol/method.js';
import { object, optional, str, uint, unknownValue } from '../protocol/schema.js';
import { mayCall, type Role } from '../core/access-policy.js';
import { createRpcListener, peerRoleOf, type ServerSecurity } from './secure-socket.js';

export interface RequestContext {
  /** Absolute deadline, in Date.now() milliseconds, after which the caller has given up. */
  deadlineMs: number;
  /** The request's payload (block bytes); a view owned by the handler. */
  payload: Buffer;
  peer: string;
  connection: RpcConnection;
}

/** A result with a payload attached. Handlers return this to send bytes back. */
export class PayloadReply<R> {
  constructor(
    readonly result: R,
    readonly payload: Uint8Array,
  ) {}
}

export type Handler<A, R> = (args: A, ctx: RequestContext) => Promise<R | PayloadReply<R>> | R | PayloadReply<R>;

interface Route {
  decodeArgs: (value: unknown) => unknown;
  handler: Handler<unknown, unknown>;
}

const requestHeader = object({ id: uint, op: str, timeoutMs: optional(uint), args: unknownValue });

export interface RpcServerOptions {
  name: string;
  maxConnections?: number;
  maxInFlightPerConnection?: number;
  /** TLS-PSK authentication and the roles allowed per method; without it, plain TCP and no
   * role checks (only for --insecure-loopback and in-process tests). */
  security?: ServerSecurity;
  /** Called for each failed request, for logging; the reply has already been sent. */
  onError?: (op: string, code: ErrorCode, message: string) => void;
}

/** One accepted connection; handlers may push events on it (e.g. cache invalidations). */
export class RpcConnection {
  private inFlight = 0;
  private broken = false;
  private readonly decoder = new FrameDecoder();
  /** The peer's authenticated role; undefined on a plain connection. */
  readonly role: Role | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly server: RpcServer,
  ) {
    this.role = peerRoleOf(socket);
  }

  sendEvent(event: string, data: unknown): void {
    if (this.socket.destroyed) return;
    this.socket.write(encodeFrameHead(FRAME_EVENT, { event, data }, 0));
  }

  onData(chunk: Buffer): void {
    if (this.broken) return;
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      // The stream is out of sync: say why, then close. Nothing more is read from it.
      this.broken = true;
      this.server.reportError(undefined, err);
      this.reply(0, undefined, err, () => this.socket.end());
      return;
    }
    for (const frame of frames) {
      if (frame.kind !== FRAME_REQUEST) {
        this.reply(0, undefined, qfsError('BAD_FRAME', `expected a request frame, got kind ${frame.kind}`));
        continue;
      }
      void this.handle(frame.header, frame.payload);
    }
  }

  private async handle(rawHeader: unknown, payload: Buffer): Promise<void> {
    let id = 0;
    try {
      const header = requestHeader(rawHeader, 'header');
      id = header.id;
      if (this.inFlight >= this.server.maxInFlightPerConnection) {
        throw qfsError('TOO_MANY_REQUESTS', `more than ${this.server.maxInFlightPerConnection} requests in flight`);
      }
      this.inFlight++;
      try {
        const route = this.server.route(header.op);
        const args = route.decodeArgs(header.args);
        this.server.checkAccess(header.op, this.role);
        const timeoutMs = header.timeoutMs ?? limits.defaultCallTimeoutMs;
        const ctx: RequestContext = {
          deadlineMs: Date.now() + timeoutMs,
          payload,
          peer: `${this.socket.remoteAddress}:${this.socket.remotePort}`,
          connection: this,
        };
        const out = await route.handler(args, ctx);
        this.reply(id, out, undefined);
      } finally {
        this.inFlight--;
      }
    } catch (err) {
      this.server.reportError(rawHeader, err);
      this.reply(id, undefined, err);
    }
  }

  private reply(id: number, out: unknown, err: unknown, then?: () => void): void {
    if (this.socket.destroyed) return;
    let head: Buffer;
    let payload: Uint8Array | undefined;
    if (err === undefined) {
      const reply = out instanceof PayloadReply ? out : new PayloadReply(out ?? {}, Buffer.alloc(0));
      payload = reply.payload;
      try {
        head = encodeFrameHead(FRAME_RESPONSE, { id, ok: true, result: reply.result }, payload.length);
      } catch (encodeErr) {
        return this.reply(id, undefined, encodeErr, then);
      }
    } else {
      head = encodeFrameHead(FRAME_RESPONSE, { id, ok: false, code: codeOf(err), message: messageOf(err) }, 0);
    }
    this.socket.cork();
    this.socket.write(head);
    if (payload && payload.length > 0) this.socket.write(payload);
    this.socket.uncork();
    then?.();
  }
}

export class RpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly connections = new Set<RpcConnection>();
  private readonly server: net.Server;
  readonly name: string;
  readonly maxInFlightPerConnection: number;
  private readonly maxConnections: number;
  private readonly onError: RpcServerOptions['onError'];
  private readonly security: ServerSecurity | undefined;

  constructor(options: RpcServerOptions) {
    this.name = options.name;
    this.maxInFlightPerConnection = options.maxInFlightPerConnection ?? limits.maxInFlightPerConnection;
    this.maxConnections = options.maxConnections ?? limits.maxConnections;
    this.onError = options.onError;
    this.security = options.security;
    this.server = createRpcListener(options.security, (socket) => this.accept(socket));
  }

  register<A, R>(m: Method<A, R>, handler: Handler<A, R>): this {
    if (this.routes.has(m.name)) throw qfsError('INTERNAL', `method ${m.name} registered twice`);
    this.routes.set(m.name, {
      decodeArgs: (value) => m.args(value, 'args'),
      handler: handler as Handler<unknown, unknown>,
    });
    return this;
  }

  route(op: string): Route {
    const route = this.routes.get(op);
    if (!route) throw qfsError('UNKNOWN_OPERATION', `${this.name} does not serve '${op}'`);
    return route;
  }

  /** PERMISSION unless the connection's role may call the method (authenticated servers only). */
  checkAccess(op: string, role: Role | undefined): void {
    if (!this.security) return;
    if (role === undefined || !mayCall(this.security.access, op, role)) {
      throw qfsError('PERMISSION', `${this.name}: role '${role ?? 'none'}' may not call '${op}'`);
    }
  }

  reportError(rawHeader: unknown, err: unknown): void {
    const op = typeof rawHeader === 'object' && rawHeader !== null ? String((rawHeader as { op?: unknown }).op) : '?';
    this.onError?.(op, codeOf(err), messageOf(err));
  }

  /** Starts listening; resolves with the bound address. Rejects with the listen error
   * (EADDRINUSE, EACCES) so callers can report it. */
  listen(address: Address): Promise<Address> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        this.server.off('error', onError);
        const bound = this.server.address() as net.AddressInfo;
        resolve({ host: bound.address, port: bound.port });
      });
    });
  }

  /** Every open connection, e.g. to broadcast an event. */
  get openConnections(): ReadonlySet<RpcConnection> {
    return this.connections;
  }

  close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= this.maxConnections) {
      socket.destroy();
      return;
    }
    const connection = new RpcConnection(socket, this);
    this.connections.add(connection);
    socket.on('data', (chunk: Buffer) => connection.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.connections.delete(connection));
  }
}
