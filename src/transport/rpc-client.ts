// Framed RPC client over node:net: one connection to one peer, made lazily and made again after
// it breaks. Every call has a deadline; a call still unanswered at its deadline fails TIMEOUT,
// and every call in flight fails UNAVAILABLE when the connection breaks. Only idempotent methods
// are retried, and only while their deadline allows. Replies are validated by the method's
// result decoder before they reach the caller.

import net from 'node:net';
import { QfsError, asQfsError, isErrorCode, qfsError } from '../common/errors.js';
import { formatAddress, type Address } from '../common/address.js';
import { limits } from '../common/limits.js';
import { namesToWire } from '../protocol/wire-names.js';
import { FRAME_EVENT, FRAME_REQUEST, FRAME_RESPONSE, FrameDecoder, encodeFrameHead } from '../protocol/frame-codec.js';
import type { Method } from '../protocol/method.js';
import { bool, object, optional, str, uint, unknownValue } from '../protocol/schema.js';
import { findClusterCredentials } from '../common/credential-store.js';
import type { Credential } from '../common/credentials.js';
import { dial, isHandshakeRefusal, type ClientTransport } from './secure-socket.js';
import type { CallOptions, CallReply, ClosableChannel } from './rpc-channel.js';

export type { CallOptions, CallReply } from './rpc-channel.js';

export interface RpcClientOptions {
  /** The identity and key to authenticate with. Without it (and without plaintext), the
   * credentials of the peer's cluster are looked up in the standard place
   * (~/.config/quorumfs/clusters) at connect time; none there fails UNAUTHENTICATED. */
  credentials?: Credential;
  /** Plain TCP, no authentication: for a server run without security (--insecure-loopback, or
   * an RPC server in a test). */
  plaintext?: boolean;
  /** Used in error messages: "data server 127.0.0.1:60000". */
  peerName?: string;
  defaultTimeoutMs?: number;
  connectTimeoutMs?: number;
  retryIdempotent?: boolean;
  /** Called with every event frame the peer pushes. */
  onEvent?: (event: string, data: unknown) => void;
  /** Called after a new connection is established (not the first one). */
  onReconnect?: () => void;
  /** Called once per attempt of a call, with whether the peer answered it (any reply, an error
   * reply included) or why it did not (no connection, connection lost, no reply in time).
   * Not called for calls failed by close(). */
  onAttempt?: (outcome: AttemptOutcome) => void;
}

export type AttemptOutcome = { answered: true; startedAtMs: number } | { answered: false; startedAtMs: number; error: QfsError };

interface Pending {
  resolve: (reply: { header: ResponseHeader; payload: Buffer }) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** The connection the request went out on: only its loss fails the call. */
  socket: net.Socket;
}

const responseHeader = object({
  id: uint,
  ok: bool,
  result: unknownValue,
  code: optional(str),
  message: optional(str),
});
type ResponseHeader = ReturnType<typeof responseHeader>;

const eventHeader = object({ event: str, data: unknownValue });

/** Errors of calls that never left this process (the connection could not be made): any
 * method, idempotent or not, may be sent again after one of these. */
const unsent = new WeakSet<Error>();

export class RpcClient implements ClosableChannel {
  readonly address: Address;
  readonly peerName: string;
  private socket: net.Socket | undefined;
  /** Per socket, the wait of the callers held back by a full send queue (waitForDrain). */
  private readonly drainWaits = new WeakMap<net.Socket, Promise<void>>();
  private connecting: Promise<net.Socket> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly options: Required<Omit<RpcClientOptions, 'onEvent' | 'onReconnect' | 'onAttempt' | 'peerName' | 'credentials' | 'plaintext'>> &
    Pick<RpcClientOptions, 'onEvent' | 'onReconnect' | 'onAttempt'>;
  private transport: ClientTransport | undefined;
  private transportLookedUp = false;
  private connectedOnce = false;
  private closed = false;

  constructor(address: Address, options: RpcClientOptions = {}) {
    this.address = address;
    this.peerName = options.peerName ?? formatAddress(address);
    if (options.plaintext) this.transport = { kind: 'plain' };
    else if (options.credentials) this.transport = { kind: 'psk', credential: options.credentials };
    this.options = {
      defaultTimeoutMs: options.defaultTimeoutMs ?? limits.defaultCallTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? limits.connectTimeoutMs,
      retryIdempotent: options.retryIdempotent ?? false,
      onEvent: options.onEvent,
      onReconnect: options.onReconnect,
      onAttempt: options.onAttempt,
    };
  }

  /** Calls a method and returns its validated result. */
  async call<A, R>(m: Method<A, R>, args: A, options: CallOptions = {}): Promise<R> {
    return (await this.callWithPayload(m, args, options)).result;
  }

  /** Calls a method and returns its validated result and the reply's payload. */
  async callWithPayload<A, R>(m: Method<A, R>, args: A, options: CallOptions = {}): Promise<CallReply<R>> {
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    const deadlineMs = Date.now() + timeoutMs;
    const retryAllowed = options.retry ?? this.options.retryIdempotent;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(m, args, options.payload, deadlineMs);
      } catch (err) {
        const backoffMs = limits.rpcRetryBackoffMs[Math.min(attempt, limits.rpcRetryBackoffMs.length - 1)]!;
        const safeToResend = err instanceof QfsError && err.retryable && (m.idempotent || unsent.has(err));
        const canRetry = retryAllowed && safeToResend && Date.now() + backoffMs < deadlineMs;
        if (!canRetry) throw err;
        await new Promise((r) => setTimeout(r, backoffMs));
      }
    }
  }

  /** Closes the connection; calls in flight fail UNAVAILABLE and later calls fail at once. */
  close(): void {
    this.closed = true;
    this.socket?.destroy();
    this.failAll(qfsError('UNAVAILABLE', `${this.peerName}: client closed`));
  }

  get isConnected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  private async attempt<A, R>(
    m: Method<A, R>,
    args: A,
    payload: Uint8Array | undefined,
    deadlineMs: number,
  ): Promise<CallReply<R>> {
    const startedAtMs = Date.now();
    const remainingMs = deadlineMs - startedAtMs;
    if (remainingMs <= 0) throw qfsError('TIMEOUT', `${m.name} to ${this.peerName}: deadline passed`);
    let reply: { header: ResponseHeader; payload: Buffer };
    try {
      const socket = await this.connect(Math.min(remainingMs, this.options.connectTimeoutMs), deadlineMs);
      const id = this.nextId++;
      const head = encodeFrameHead(FRAME_REQUEST, { id, op: m.name, timeoutMs: remainingMs, args: m.carriesNames ? namesToWire(args) : args }, payload?.length ?? 0);
      reply = await new Promise<{ header: ResponseHeader; payload: Buffer }>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          reject(qfsError('TIMEOUT', `${m.name} to ${this.peerName}: no reply within ${Math.round(remainingMs)} ms`));
        }, deadlineMs - Date.now());
        this.pending.set(id, { resolve, reject, timer, socket });
        socket.cork();
        socket.write(head);
        if (payload && payload.length > 0) socket.write(payload);
        socket.uncork();
      });
    } catch (err) {
      if (!this.closed) this.reportAttempt({ answered: false, startedAtMs, error: asQfsError(err) });
      throw err;
    }
    this.reportAttempt({ answered: true, startedAtMs });
    if (!reply.header.ok) {
      const code = isErrorCode(reply.header.code) ? reply.header.code : 'INTERNAL';
      throw qfsError(code, reply.header.message ?? `${m.name} failed on ${this.peerName}`);
    }
    return { result: m.result(reply.header.result, `${m.name} result`), payload: reply.payload };
  }

  private reportAttempt(outcome: AttemptOutcome): void {
    try {
      this.options.onAttempt?.(outcome);
    } catch {
      // An observer's failure must not fail the call.
    }
  }

  private connect(timeoutMs: number, deadlineMs: number): Promise<net.Socket> {
    if (this.closed) return Promise.reject(qfsError('UNAVAILABLE', `${this.peerName}: client closed`));
    // A socket the server has ended (idle timeout) is not reused: a new connection is made.
    if (this.socket && !this.socket.destroyed && this.socket.writable) return this.waitForDrain(this.socket, deadlineMs);
    // Callers that arrive while connecting also wait for the send queue to drain.
    if (this.connecting) return this.connecting.then((socket) => this.waitForDrain(socket, deadlineMs));
    this.connecting = this.resolveTransport().then((transport) => new Promise<net.Socket>((resolve, reject) => {
      const { socket, readyEvent } = dial(this.address, transport);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(markUnsent(qfsError('UNAVAILABLE', `cannot connect to ${this.peerName}: no answer within ${timeoutMs} ms`)));
      }, timeoutMs);
      socket.once(readyEvent, () => {
        clearTimeout(timer);
        socket.off('error', onConnectError);
        this.adopt(socket);
        resolve(socket);
      });
      const onConnectError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        if (isHandshakeRefusal(err)) {
          // Credentials from the standard place may be stale (a new cluster on this address):
          // look again on the next attempt.
          const refused = qfsError('UNAUTHENTICATED', `${this.peerName} refused our credentials (${this.identityText()}): ${err.message.split('\n')[0]}`, err);
          if (this.transportLookedUp) this.transport = undefined;
          reject(refused);
          return;
        }
        reject(markUnsent(qfsError('UNAVAILABLE', `cannot connect to ${this.peerName}: ${err.message}`, err)));
      };
      socket.on('error', onConnectError);
    })).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** The transport given at construction, or the one the standard place has for this peer
   * (looked up once per client; UNAUTHENTICATED if there is none). */
  private async resolveTransport(): Promise<ClientTransport> {
    if (this.transport) return this.transport;
    let found;
    try {
      found = await findClusterCredentials(this.address);
    } catch (err) {
      // Nothing listening is the more useful news than having no key for it (a wrong port).
      await this.probeListening(Math.min(this.options.connectTimeoutMs, 1_000));
      throw err;
    }
    this.transport = found.plaintext ? { kind: 'plain' } : { kind: 'psk', credential: found };
    this.transportLookedUp = true;
    return this.transport;
  }

  /** Resolves if something accepts a TCP connection at the address; UNAVAILABLE if not. */
  private probeListening(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.address.host, port: this.address.port });
      const done = (err?: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(markUnsent(qfsError('UNAVAILABLE', `cannot connect to ${this.peerName}: ${err.message}`, err)));
        else resolve();
      };
      const timer = setTimeout(() => done(), timeoutMs);
      socket.once('connect', () => done());
      socket.once('error', done);
    });
  }

  private identityText(): string {
    return this.transport?.kind === 'psk' ? `identity ${this.transport.credential.identity}` : 'plain';
  }

  /** Waits while too many bytes are queued on the socket, so a fast caller cannot grow memory;
   * TIMEOUT (the request unsent) if the queue is still full at the call's deadline. Every caller
   * waiting on one socket shares one pair of listeners, removed once it fires (a listener per
   * waiter grew without bound under a busy mount). */
  private async waitForDrain(socket: net.Socket, deadlineMs: number): Promise<net.Socket> {
    while (socket.writableLength > limits.maxQueuedSendBytes && !socket.destroyed) {
      let wait = this.drainWaits.get(socket);
      if (!wait) {
        wait = new Promise<void>((resolve) => {
          const done = (): void => {
            socket.off('drain', done).off('close', done);
            this.drainWaits.delete(socket);
            resolve();
          };
          socket.on('drain', done).on('close', done);
        });
        this.drainWaits.set(socket, wait);
      }
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), Math.max(0, deadlineMs - Date.now()))));
      const timedOut = await Promise.race([wait.then(() => false), expired]);
      clearTimeout(timer);
      if (timedOut) throw markUnsent(qfsError('TIMEOUT', `${this.peerName}: the send queue stayed full (${socket.writableLength} bytes) until the deadline`));
    }
    return socket;
  }

  private adopt(socket: net.Socket): void {
    this.socket = socket;
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) this.dispatch(frame.kind, frame.header, frame.payload);
      } catch (err) {
        socket.destroy(err instanceof Error ? err : undefined);
      }
    });
    socket.on('error', () => socket.destroy());
    // The server ends a connection it found idle; calls made from now on go on a new one.
    socket.on('end', () => {
      if (this.socket === socket) this.socket = undefined;
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.failAll(qfsError('UNAVAILABLE', `connection to ${this.peerName} lost`), socket);
    });
    if (this.connectedOnce) this.options.onReconnect?.();
    this.connectedOnce = true;
  }

  private dispatch(kind: number, rawHeader: unknown, payload: Buffer): void {
    if (kind === FRAME_EVENT) {
      const { event, data } = eventHeader(rawHeader, 'event');
      this.options.onEvent?.(event, data);
      return;
    }
    if (kind !== FRAME_RESPONSE) throw qfsError('BAD_FRAME', `unexpected frame kind ${kind} from ${this.peerName}`);
    const header = responseHeader(rawHeader, 'response');
    const pending = this.pending.get(header.id);
    if (!pending) return; // timed out already
    this.pending.delete(header.id);
    clearTimeout(pending.timer);
    pending.resolve({ header, payload });
  }

  /** Fails the calls in flight on `socket`, or all of them. */
  private failAll(err: QfsError, socket?: net.Socket): void {
    for (const [id, pending] of this.pending) {
      if (socket !== undefined && pending.socket !== socket) continue;
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(err);
    }
  }
}

function markUnsent(err: QfsError): QfsError {
  unsent.add(err);
  return err;
}
