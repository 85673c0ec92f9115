// Framed RPC server over node:net. Each request frame is decoded, its arguments validated by
// the method's decoder, and its handler run; the reply carries the request's id. Limits:
// connections (in all and per peer address), requests in flight per connection, frame and
// header size, reply bytes queued per connection (past them the connection is not read until the
// peer takes its replies), an idle and a partial-frame timeout (connection-bounds.ts). A
// malformed or oversized frame gets an error reply and the connection is closed: the stream is
// out of sync. A connection with requests in flight (or a frame partly received) gets a keepalive
// event at least every limits.rpcKeepaliveMs, so a client can tell a long call from a dead host.

import net from 'node:net';
import { codeOf, messageOf, qfsError, type ErrorCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Address } from '../common/address.js';
import { FRAME_EVENT, FRAME_REQUEST, FRAME_RESPONSE, FrameDecoder, KEEPALIVE_EVENT, encodeFrame, encodeFrameHead } from '../protocol/frame-codec.js';
import type { Method } from '../protocol/method.js';
import { object, optional, str, uint, unknownValue } from '../protocol/schema.js';
import { connectionBounds, type ConnectionBounds } from './connection-bounds.js';
import { mayCall, type Role } from '../core/access-policy.js';
import { createRpcListener, peerRoleOf, type ServerSecurity } from './secure-socket.js';
import { PayloadReply, RouteTable, type BasicRequestContext, type HandlerOf, type HandlerRegistry, type Route } from './handler-registry.js';

export interface RequestContext extends BasicRequestContext {
  peer: string;
  connection: RpcConnection;
}

export { PayloadReply };

export type Handler<A, R> = HandlerOf<A, R, RequestContext>;

/** Sees each request's method, outcome ('ok' or an error code) and duration in seconds. */
export type RequestObserver = (method: string, outcome: string, durationSeconds: number) => void;

const requestHeader = object({ id: uint, op: str, timeoutMs: optional(uint), args: unknownValue });

/** Sent as is on every busy connection (never changed). */
const keepaliveFrame = encodeFrame(FRAME_EVENT, { event: KEEPALIVE_EVENT, data: null });

export interface RpcServerOptions {
  name: string;
  maxConnections?: number;
  maxInFlightPerConnection?: number;
  /** Caps, backpressure and timeouts per connection; defaults from limits.ts (see
   * connection-bounds.ts). maxConnections above wins over bounds.maxConnections. */
  bounds?: Partial<ConnectionBounds>;
  /** TLS-PSK authentication and the roles allowed per method; without it, plain TCP and no
   * role checks (only for --insecure-loopback and in-process tests). */
  security?: ServerSecurity;
  /** Called for each failed request, for logging; the reply has already been sent. */
  onError?: (op: string, code: ErrorCode, message: string) => void;
  /** Told of every request once answered (metrics): its method (a bound one, or 'unknown'),
   * 'ok' or the error code, and how long it took. */
  observer?: RequestObserver;
  /** The longest a busy connection goes without a frame from this server (limits.rpcKeepaliveMs);
   * 0 sends no keepalives, as a server of an older version (for tests). */
  keepaliveMs?: number;
}

/** One accepted connection; handlers may push events on it (e.g. cache invalidations). */
export class RpcConnection {
  private inFlight = 0;
  private broken = false;
  private readonly decoder = new FrameDecoder();
  /** Not reading: too many reply bytes are queued for a peer that does not take them. */
  private paused = false;
  /** When the last frame arrived or the last request finished (Date.now() ms). */
  private lastActivityMs = Date.now();
  /** When the first byte of the incomplete frame arrived; undefined when none is buffered. */
  private partialSinceMs: number | undefined;
  // Lazy timers: armed once and, when they fire early, re-armed for what is left, so a busy
  // connection costs a Date.now() per chunk rather than a timer per frame.
  private idleTimer: NodeJS.Timeout | undefined;
  private partialTimer: NodeJS.Timeout | undefined;
  /** Armed while the connection is busy (requests in flight, a frame partly received). */
  private keepaliveTimer: NodeJS.Timeout | undefined;
  /** When a frame was last written to the peer (Date.now() ms). */
  private lastSentMs = 0;
  /** The peer's authenticated role; undefined on a plain connection. */
  readonly role: Role | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly server: RpcServer,
  ) {
    this.armIdleTimer(server.bounds.idleTimeoutMs);
    this.role = peerRoleOf(socket);
  }

  /** Pushes an event. A peer that lets more than bounds.maxQueuedEventBytes pile up unread is
   * disconnected rather than buffered without end; its client reconnects on its next call. */
  sendEvent(event: string, data: unknown): void {
    if (this.socket.destroyed || this.broken) return;
    if (this.socket.writableLength > this.server.bounds.maxQueuedEventBytes) {
      this.server.reportError(undefined, qfsError('UNAVAILABLE', `peer ${this.peer} does not read: ${this.socket.writableLength} bytes queued; disconnected`));
      this.socket.destroy();
      return;
    }
    this.socket.write(encodeFrameHead(FRAME_EVENT, { event, data }, 0));
    this.lastSentMs = Date.now();
    this.holdIfQueued();
  }

  onData(chunk: Buffer): void {
    if (this.broken) return;
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      // The stream is out of sync: say why, then close. Nothing more is read from it.
      this.server.reportError(undefined, err);
      this.closeWith(err);
      return;
    }
    this.trackPartialFrame(frames.length > 0);
    if (frames.length > 0) this.lastActivityMs = Date.now();
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
    const startedNs = process.hrtime.bigint();
    try {
      const header = requestHeader(rawHeader, 'header');
      id = header.id;
      if (this.inFlight >= this.server.maxInFlightPerConnection) {
        throw qfsError('TOO_MANY_REQUESTS', `more than ${this.server.maxInFlightPerConnection} requests in flight`);
      }
      this.inFlight++;
      this.keepAlive();
      try {
        const route = this.server.route(header.op);
        const args = route.decodeArgs(header.args);
        this.server.checkAccess(header.op, this.role);
        const timeoutMs = header.timeoutMs ?? limits.defaultCallTimeoutMs;
        const ctx: RequestContext = {
          deadlineMs: Date.now() + timeoutMs,
          payload,
          peer: this.peer,
          connection: this,
          role: this.role,
        };
        const out = await route.handler(args, ctx);
        this.reply(id, out instanceof PayloadReply ? out : route.resultToWire(out), undefined);
        this.server.observe(header.op, 'ok', startedNs);
      } finally {
        this.inFlight--;
        if (this.inFlight === 0) this.lastActivityMs = Date.now();
      }
    } catch (err) {
      this.server.reportError(rawHeader, err);
      this.reply(id, undefined, err);
      this.server.observe(opOf(rawHeader), codeOf(err), startedNs);
    }
  }

  private get peer(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  private reply(id: number, out: unknown, err: unknown): void {
    // After the end (a broken stream, a timeout), replies of requests still in flight go nowhere.
    if (this.socket.destroyed || this.socket.writableEnded) return;
    let head: Buffer;
    let payload: Uint8Array | undefined;
    if (err === undefined) {
      const reply = out instanceof PayloadReply ? out : new PayloadReply(out ?? {}, Buffer.alloc(0));
      payload = reply.payload;
      try {
        head = encodeFrameHead(FRAME_RESPONSE, { id, ok: true, result: reply.result }, payload.length);
      } catch (encodeErr) {
        return this.reply(id, undefined, encodeErr);
      }
    } else {
      head = encodeFrameHead(FRAME_RESPONSE, { id, ok: false, code: codeOf(err), message: messageOf(err) }, 0);
    }
    this.socket.cork();
    this.socket.write(head);
    if (payload && payload.length > 0) this.socket.write(payload);
    this.socket.uncork();
    this.lastSentMs = Date.now();
    this.holdIfQueued();
  }

  /** Arms the keepalive timer if it is not armed. While the connection is busy, a keepalive goes
   * out whenever nothing else did for keepaliveMs; not while bytes are still queued (the peer
   * gets those) nor once the connection is ending. The timer stops when the connection is idle. */
  private keepAlive(): void {
    const keepaliveMs = this.server.keepaliveMs;
    if (this.keepaliveTimer !== undefined || keepaliveMs <= 0) return;
    const tick = (delayMs: number): void => {
      this.keepaliveTimer = setTimeout(() => {
        this.keepaliveTimer = undefined;
        const busy = this.inFlight > 0 || this.partialSinceMs !== undefined;
        if (!busy || this.broken || this.socket.destroyed || this.socket.writableEnded) return;
        const leftMs = this.lastSentMs + keepaliveMs - Date.now();
        if (leftMs > 0) return tick(leftMs);
        if (this.socket.writableLength === 0) {
          this.socket.write(keepaliveFrame);
          this.lastSentMs = Date.now();
        }
        tick(keepaliveMs);
      }, delayMs);
      this.keepaliveTimer.unref();
    };
    tick(keepaliveMs);
  }

  /** Backpressure: past the bound of queued bytes, stop reading this connection (the peer's
   * further requests wait in its own buffers) until the queue has drained. */
  private holdIfQueued(): void {
    if (this.paused || this.socket.writableLength <= this.server.bounds.maxQueuedReplyBytes) return;
    this.paused = true;
    this.socket.pause();
    // 'drain' comes once the queue is empty (write() has returned false by then: the bound is
    // above the socket's high-water mark).
    this.socket.once('drain', () => {
      this.paused = false;
      if (this.broken || this.socket.destroyed) return;
      // The peer could not send while this side was not reading: its frame starts afresh.
      if (this.partialSinceMs !== undefined) this.partialSinceMs = Date.now();
      this.lastActivityMs = Date.now();
      this.socket.resume();
    });
  }

  /** Notes when the buffered incomplete frame began, and arms its timer. */
  private trackPartialFrame(completedFrame: boolean): void {
    if (this.decoder.pendingBytes === 0) {
      this.partialSinceMs = undefined;
      return;
    }
    if (this.partialSinceMs === undefined || completedFrame) this.partialSinceMs = Date.now();
    if (this.partialTimer === undefined) this.armPartialTimer(this.server.bounds.partialFrameTimeoutMs);
    // A large request arriving slowly: the client hears that this side is alive meanwhile.
    this.keepAlive();
  }

  private armPartialTimer(delayMs: number): void {
    this.partialTimer = setTimeout(() => {
      this.partialTimer = undefined;
      if (this.partialSinceMs === undefined || this.broken) return;
      const leftMs = this.partialSinceMs + this.server.bounds.partialFrameTimeoutMs - Date.now();
      // While this side is not reading, the peer cannot finish its frame: look again later (the
      // frame's clock restarts when reading resumes).
      if (this.paused) return this.armPartialTimer(this.server.bounds.partialFrameTimeoutMs);
      if (leftMs > 0) return this.armPartialTimer(leftMs);
      const err = qfsError('TIMEOUT', `frame not completed within ${this.server.bounds.partialFrameTimeoutMs} ms (${this.decoder.pendingBytes} bytes received)`);
      this.server.reportError(undefined, err);
      this.closeWith(err);
    }, delayMs);
    this.partialTimer.unref();
  }

  private armIdleTimer(delayMs: number): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.broken || this.socket.destroyed) return;
      const idleTimeoutMs = this.server.bounds.idleTimeoutMs;
      const busy = this.inFlight > 0 || this.paused || this.partialSinceMs !== undefined || this.socket.writableLength > 0;
      const leftMs = this.lastActivityMs + idleTimeoutMs - Date.now();
      if (busy || leftMs > 0) return this.armIdleTimer(busy ? idleTimeoutMs : leftMs);
      // Quietly: a well-behaved client just reconnects on its next call.
      this.closeWith(undefined);
    }, delayMs);
    this.idleTimer.unref();
  }

  /** Ends the connection (after an error reply, if any); destroys it if the peer has not taken
   * the last bytes within bounds.closeGraceMs. Nothing more is read from it. */
  private closeWith(err: unknown): void {
    this.broken = true;
    this.stopTimers();
    if (err !== undefined) this.reply(0, undefined, err);
    this.socket.end();
    const grace = setTimeout(() => this.socket.destroy(), this.server.bounds.closeGraceMs);
    grace.unref();
    this.socket.once('close', () => clearTimeout(grace));
  }

  /** Called when the socket closes. */
  stopTimers(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.partialTimer) clearTimeout(this.partialTimer);
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.idleTimer = undefined;
    this.partialTimer = undefined;
    this.keepaliveTimer = undefined;
  }
}

export class RpcServer implements HandlerRegistry<RequestContext> {
  private readonly routes: RouteTable<RequestContext>;
  private readonly connections = new Set<RpcConnection>();
  private readonly server: net.Server;
  readonly name: string;
  readonly maxInFlightPerConnection: number;
  readonly bounds: ConnectionBounds;
  readonly keepaliveMs: number;
  private readonly onError: RpcServerOptions['onError'];
  private readonly observer: RequestObserver | undefined;
  /** Open connections per peer address, for maxConnectionsPerPeer. */
  private readonly perPeer = new Map<string, number>();
  /** Connections closed at accept for being over a cap, since the start. */
  refusedConnections = 0;
  private readonly security: ServerSecurity | undefined;

  constructor(options: RpcServerOptions) {
    this.name = options.name;
    this.routes = new RouteTable(options.name);
    this.maxInFlightPerConnection = options.maxInFlightPerConnection ?? limits.maxInFlightPerConnection;
    this.bounds = connectionBounds({ ...options.bounds, ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }) });
    this.keepaliveMs = options.keepaliveMs ?? limits.rpcKeepaliveMs;
    this.onError = options.onError;
    this.observer = options.observer;
    this.security = options.security;
    this.server = createRpcListener(options.security, (socket) => this.accept(socket));
  }

  register<A, R>(m: Method<A, R>, handler: Handler<A, R>): this {
    this.routes.register(m, handler);
    return this;
  }

  route(op: string): Route<RequestContext> {
    return this.routes.route(op);
  }

  /** PERMISSION unless the connection's role may call the method (authenticated servers only). */
  checkAccess(op: string, role: Role | undefined): void {
    if (!this.security) return;
    if (role === undefined || !mayCall(this.security.access, op, role)) {
      throw qfsError('PERMISSION', `${this.name}: role '${role ?? 'none'}' may not call '${op}'`);
    }
  }

  reportError(rawHeader: unknown, err: unknown): void {
    this.onError?.(opOf(rawHeader), codeOf(err), messageOf(err));
  }

  /** Tells the observer of a request answered; an op no method is bound to is 'unknown', so
   * a peer cannot grow the set of label values. */
  observe(op: string, outcome: string, startedNs: bigint): void {
    if (!this.observer) return;
    const method = this.routes.has(op) ? op : 'unknown';
    this.observer(method, outcome, Number(process.hrtime.bigint() - startedNs) / 1e9);
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
    // Refused before anything is allocated or read: a flood of connections costs an accept and
    // a close each.
    const peer = socket.remoteAddress ?? '?';
    const fromPeer = this.perPeer.get(peer) ?? 0;
    if (this.connections.size >= this.bounds.maxConnections || fromPeer >= this.bounds.maxConnectionsPerPeer) {
      this.refusedConnections++;
      socket.destroy();
      return;
    }
    this.perPeer.set(peer, fromPeer + 1);
    const connection = new RpcConnection(socket, this);
    this.connections.add(connection);
    socket.on('data', (chunk: Buffer) => connection.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      connection.stopTimers();
      this.connections.delete(connection);
      const left = (this.perPeer.get(peer) ?? 1) - 1;
      if (left > 0) this.perPeer.set(peer, left);
      else this.perPeer.delete(peer);
    });
  }
}

/** The op a request header names, as text ('?' when it names none). */
function opOf(rawHeader: unknown): string {
  return typeof rawHeader === 'object' && rawHeader !== null ? String((rawHeader as { op?: unknown }).op) : '?';
}
