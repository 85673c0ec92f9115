// Framed RPC client over node:net: one connection at a time to one peer, made lazily and made
// again after it breaks. Every call has a deadline; a call still unanswered at its deadline fails
// TIMEOUT, and every call in flight fails UNAVAILABLE when the connection breaks. Only idempotent
// methods are retried, and only while their deadline allows. Replies are validated by the
// method's result decoder before they reach the caller.
// Given several addresses (or a resolver), the client fails over: an address that refuses, resets
// or does not answer, or answers NOT_LEADER, gives way to the next (peer-addresses.ts); a call
// answered NOT_LEADER or never sent goes to the next address whatever its method, round after
// round until its deadline. Such a client also drops a connection that stays silent for
// limits.rpcSilenceMs while calls are outstanding on it (a live server sends keepalives meanwhile):
// a host cut off the network costs seconds, not a call's deadline.

import net from 'node:net';
import { QfsError, asQfsError, isErrorCode, qfsError } from '../common/errors.js';
import { formatAddress, type Address } from '../common/address.js';
import { FailoverWalk, PeerAddresses, addressKey, type AddressResolver } from './peer-addresses.js';
import { limits } from '../common/limits.js';
import { namesToWire } from '../protocol/wire-names.js';
import { FRAME_EVENT, FRAME_REQUEST, FRAME_RESPONSE, FrameDecoder, KEEPALIVE_EVENT, encodeFrameHead } from '../protocol/frame-codec.js';
import type { Method } from '../protocol/method.js';
import { bool, object, optional, str, uint, unknownValue } from '../protocol/schema.js';
import { findClusterCredentials } from '../common/credential-store.js';
import type { Credential } from '../common/credentials.js';
import { dial, isHandshakeRefusal, type ClientTransport } from './secure-socket.js';
import type { CallOptions, CallReply, ClosableChannel } from './rpc-channel.js';

export type { CallOptions, CallReply } from './rpc-channel.js';
export type { AddressResolver } from './peer-addresses.js';

export interface RpcClientOptions {
  /** The identity and key to authenticate with. Without it (and without plaintext), the
   * credentials of the peer's cluster are looked up in the standard place
   * (~/.config/quorumfs/clusters) at connect time; none there fails UNAUTHENTICATED. */
  credentials?: Credential;
  /** Plain TCP, no authentication: for a server run without security (--insecure-loopback, or
   * an RPC server in a test). */
  plaintext?: boolean;
  /** Used in error messages: "data server 127.0.0.1:60000". With several addresses or a
   * resolver, messages add the address: "mediator 10.0.0.2:51234". */
  peerName?: string;
  /** Finds the peer's address anew (the metadata server of the leading mediator): asked before
   * every new connection but the first, and after a NOT_LEADER, a failed connection or a call
   * left unanswered; the client then fails over as with several addresses. If it fails, it is
   * asked once more at once; if that fails too, the last address is used. */
  resolveAddress?: AddressResolver;
  defaultTimeoutMs?: number;
  connectTimeoutMs?: number;
  retryIdempotent?: boolean;
  /** Called with every event frame the peer pushes (keepalives excepted). */
  onEvent?: (event: string, data: unknown) => void;
  /** Called after a new connection is established (not the first one), to the same address or
   * to another one after a failover. */
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

/** What a failing-over client knows of a connection's liveness. */
interface Hearing {
  /** When something last arrived, or calls became outstanding on a quiet connection (ms). */
  heardAtMs: number;
  /** Calls sent on the connection and not settled. */
  outstanding: number;
  /** Armed while calls are outstanding on the connection. */
  timer: NodeJS.Timeout | undefined;
  /** Set once the connection was dropped for its silence: the message of its calls' failure. */
  silentForMs: number | undefined;
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

/** How an address failed a call, for failing over: it could not be reached (the call was not
 * sent), it answered NOT_LEADER (the call was not carried out), or the call was lost on it (the
 * connection broke, or no reply came in time: it may have been carried out). */
type AddressFailure = { address: Address; kind: 'unreachable' | 'not-leader' | 'lost' };
const addressFailures = new WeakMap<Error, AddressFailure>();

function isAddressList(address: Address | readonly Address[]): address is readonly Address[] {
  return Array.isArray(address);
}

export class RpcClient implements ClosableChannel {
  readonly peerName: string;
  private readonly peers: PeerAddresses;
  /** Whether peerName was given (messages then add the address) or is the address list. */
  private readonly peerNameGiven: boolean;
  private socket: net.Socket | undefined;
  private readonly socketAddress = new WeakMap<net.Socket, Address>();
  /** Sockets to an address that failed, kept until the calls in flight on them settle (their
   * count); later calls go on a connection to the next address. */
  private readonly retiring = new Map<net.Socket, number>();
  /** The resolver's answer is fresh: the next connection needs no new one. */
  private resolvedFresh = true;
  private resolving: Promise<void> | undefined;
  /** Per socket of a failing-over client, when it was last heard from (watchSilence). */
  private readonly hearing = new WeakMap<net.Socket, Hearing>();
  /** Per socket, the wait of the callers held back by a full send queue (waitForDrain). */
  private readonly drainWaits = new WeakMap<net.Socket, Promise<void>>();
  private connecting: Promise<net.Socket> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly options: Required<Omit<RpcClientOptions, 'onEvent' | 'onReconnect' | 'onAttempt' | 'peerName' | 'credentials' | 'plaintext' | 'resolveAddress'>> &
    Pick<RpcClientOptions, 'onEvent' | 'onReconnect' | 'onAttempt'>;
  /** The transport given at construction, for every address. */
  private readonly fixedTransport: ClientTransport | undefined;
  /** Without one, the transport the standard place has, by address. */
  private readonly lookedUpTransports = new Map<string, ClientTransport>();
  private connectedOnce = false;
  private closed = false;

  /** One address, or several of one service to fail over between (INVALID if none, or more
   * than limits.maxPeerAddresses). */
  constructor(address: Address | readonly Address[], options: RpcClientOptions = {}) {
    this.peers = new PeerAddresses(isAddressList(address) ? address : [address], options.resolveAddress);
    this.peerNameGiven = options.peerName !== undefined;
    this.peerName = options.peerName ?? this.peers.describe();
    if (options.plaintext) this.fixedTransport = { kind: 'plain' };
    else if (options.credentials) this.fixedTransport = { kind: 'psk', credential: options.credentials };
    this.options = {
      defaultTimeoutMs: options.defaultTimeoutMs ?? limits.defaultCallTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? limits.connectTimeoutMs,
      retryIdempotent: options.retryIdempotent ?? false,
      onEvent: options.onEvent,
      onReconnect: options.onReconnect,
      onAttempt: options.onAttempt,
    };
  }

  /** The address of the connection in use, or else the one the next connection goes to. */
  get address(): Address {
    const socket = this.socket;
    return (socket && this.socketAddress.get(socket)) ?? this.peers.current;
  }

  /** Every address given (the resolver's answers are not listed). */
  get addresses(): readonly Address[] {
    return this.peers.list;
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
    const walk = this.peers.failsOver ? new FailoverWalk() : undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(m, args, options.payload, deadlineMs);
      } catch (err) {
        const failure = err instanceof QfsError ? addressFailures.get(err) : undefined;
        if (walk && failure && !this.closed) {
          await this.failOver(walk, failure, err as QfsError, m, { timeoutMs, deadlineMs, retryAllowed });
          continue;
        }
        const backoffMs = limits.rpcRetryBackoffMs[Math.min(attempt, limits.rpcRetryBackoffMs.length - 1)]!;
        const safeToResend = err instanceof QfsError && err.retryable && (m.idempotent || unsent.has(err));
        const canRetry = retryAllowed && safeToResend && Date.now() + backoffMs < deadlineMs;
        if (!canRetry) throw err;
        await new Promise((r) => setTimeout(r, backoffMs));
      }
    }
  }

  /** After `failure` of the address a call went to: moves the client on to the next address and
   * returns once the call may be sent again, after a pause if every address failed in this
   * round. Throws instead if the call may have been carried out and may not be resent (the
   * idempotent-retry rules), or when its deadline leaves no time (the last error, naming every
   * address tried). */
  private async failOver<A, R>(
    walk: FailoverWalk,
    failure: AddressFailure,
    err: QfsError,
    m: Method<A, R>,
    call: { timeoutMs: number; deadlineMs: number; retryAllowed: boolean },
  ): Promise<void> {
    walk.failedAt(failure.address, err);
    this.addressFailed(failure.address);
    // NOT_LEADER and unsent calls were not carried out; a lost one may have been.
    if (failure.kind === 'lost' && !(call.retryAllowed && m.idempotent)) throw err;
    if (this.peers.resolver) await this.resolve(call.deadlineMs);
    // Near the deadline the pauses shorten (half what is left), so the last rounds still run;
    // the call fails once too little is left for even a short pause.
    const remainingMs = call.deadlineMs - Date.now();
    const pauseMs = Math.min(walk.pauseBefore(this.address), remainingMs / 2);
    if (remainingMs <= 0 || (pauseMs > 0 && pauseMs < limits.failoverRoundBackoffMs[0]! / 2)) {
      throw walk.exhausted(m.name, this.peerName, call.timeoutMs, err);
    }
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    if (this.closed) throw err;
  }

  /** The next connection goes to the next address; a connection to the failed one is retired. */
  private addressFailed(address: Address): void {
    this.peers.failed(address);
    const socket = this.socket;
    if (socket && addressKey(this.socketAddress.get(socket)!) === addressKey(address)) this.retire(socket);
  }

  /** Later calls will not use `socket`; it is closed once its calls in flight have settled. */
  private retire(socket: net.Socket): void {
    if (this.socket === socket) this.socket = undefined;
    let inFlight = 0;
    for (const pending of this.pending.values()) if (pending.socket === socket) inFlight++;
    if (inFlight === 0) socket.destroy();
    else this.retiring.set(socket, inFlight);
  }

  /** A call on `socket` settled: a retiring socket closes after its last. */
  private settled(socket: net.Socket): void {
    const hearing = this.hearing.get(socket);
    if (hearing) hearing.outstanding--;
    const left = this.retiring.get(socket);
    if (left === undefined) return;
    if (left > 1) this.retiring.set(socket, left - 1);
    else {
      this.retiring.delete(socket);
      socket.destroy();
    }
  }

  /** Asks the resolver for the peer's address, within half the time the call has left (the
   * other half is for the call) and the connect timeout; concurrent callers share one question.
   * A failed question is asked once more at once: the resolver's own client (the mediators') may
   * have just given up on a host cut off the network, as this one did, and now asks another. Two
   * failed answers keep the last address. */
  private resolve(deadlineMs: number): Promise<void> {
    const resolver = this.peers.resolver;
    if (!resolver) return Promise.resolve();
    this.resolving ??= (async () => {
      for (let question = 0; question < 2 && deadlineMs - Date.now() >= 1; question++) {
        try {
          // Whole milliseconds: a deadline crosses the wire as an unsigned integer.
          this.peers.setResolved(await resolver(Math.max(1, Math.min(Math.floor((deadlineMs - Date.now()) / 2), this.options.connectTimeoutMs))));
          break;
        } catch {
          // The last address may still serve: it is tried again, and asked about once more after.
        }
      }
      this.resolvedFresh = true;
    })().finally(() => (this.resolving = undefined));
    return this.resolving;
  }

  /** Closes the connection; calls in flight fail UNAVAILABLE and later calls fail at once. */
  close(): void {
    this.closed = true;
    this.socket?.destroy();
    for (const socket of this.retiring.keys()) socket.destroy();
    this.retiring.clear();
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
    let address: Address;
    try {
      const socket = await this.connect(Math.min(remainingMs, this.options.connectTimeoutMs), deadlineMs);
      address = this.socketAddress.get(socket)!;
      const id = this.nextId++;
      const head = encodeFrameHead(FRAME_REQUEST, { id, op: m.name, timeoutMs: remainingMs, args: m.carriesNames ? namesToWire(args) : args }, payload?.length ?? 0);
      reply = await new Promise<{ header: ResponseHeader; payload: Buffer }>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          this.settled(socket);
          reject(failedAt(qfsError('TIMEOUT', `${m.name} to ${this.nameOf(address)}: no reply within ${Math.round(remainingMs)} ms`), address, 'lost'));
        }, deadlineMs - Date.now());
        this.pending.set(id, { resolve, reject, timer, socket });
        this.watchSilence(socket);
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
      const err = qfsError(code, reply.header.message ?? `${m.name} failed on ${this.nameOf(address)}`);
      // Not carried out: another address may serve it.
      throw code === 'NOT_LEADER' ? failedAt(err, address, 'not-leader') : err;
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

  /** The peer as messages name it: with several addresses, which one. */
  private nameOf(address: Address): string {
    if (!this.peers.failsOver) return this.peerName;
    return this.peerNameGiven ? `${this.peerName} ${formatAddress(address)}` : formatAddress(address);
  }

  private connect(timeoutMs: number, deadlineMs: number): Promise<net.Socket> {
    if (this.closed) return Promise.reject(qfsError('UNAVAILABLE', `${this.peerName}: client closed`));
    // A socket the server has ended (idle timeout) is not reused: a new connection is made.
    if (this.socket && !this.socket.destroyed && this.socket.writable) return this.waitForDrain(this.socket, deadlineMs);
    // Callers that arrive while connecting also wait for the send queue to drain.
    if (this.connecting) return this.connecting.then((socket) => this.waitForDrain(socket, deadlineMs));
    this.connecting = this.dial(timeoutMs, deadlineMs).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Connects to the current address (asking the resolver first, if there is one and its last
   * answer was used); every failure names that address (an AddressFailure, 'unreachable'). */
  private async dial(timeoutMs: number, deadlineMs: number): Promise<net.Socket> {
    if (this.peers.resolver && !this.resolvedFresh) {
      await this.resolve(deadlineMs);
      timeoutMs = Math.max(1, Math.min(timeoutMs, deadlineMs - Date.now()));
    }
    this.resolvedFresh = false;
    const address = this.peers.current;
    const name = this.nameOf(address);
    let transport: ClientTransport;
    try {
      transport = await this.resolveTransport(address, name);
    } catch (err) {
      throw failedAt(asQfsError(err), address, 'unreachable');
    }
    return new Promise<net.Socket>((resolve, reject) => {
      const { socket, readyEvent } = dial(address, transport);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(failedAt(markUnsent(qfsError('UNAVAILABLE', `cannot connect to ${name}: no answer within ${timeoutMs} ms`)), address, 'unreachable'));
      }, timeoutMs);
      socket.once(readyEvent, () => {
        clearTimeout(timer);
        socket.off('error', onConnectError);
        if (this.closed) {
          socket.destroy();
          reject(qfsError('UNAVAILABLE', `${this.peerName}: client closed`));
          return;
        }
        this.adopt(socket, address);
        resolve(socket);
      });
      const onConnectError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        if (isHandshakeRefusal(err)) {
          // Credentials from the standard place may be stale (a new cluster on this address):
          // look again on the next attempt.
          const refused = qfsError('UNAUTHENTICATED', `${name} refused our credentials (${identityText(transport)}): ${err.message.split('\n')[0]}`, err);
          this.lookedUpTransports.delete(addressKey(address));
          reject(failedAt(refused, address, 'unreachable'));
          return;
        }
        reject(failedAt(markUnsent(qfsError('UNAVAILABLE', `cannot connect to ${name}: ${err.message}`, err)), address, 'unreachable'));
      };
      socket.on('error', onConnectError);
    });
  }

  /** The transport given at construction, or the one the standard place has for this address
   * (looked up once per address; UNAUTHENTICATED if there is none). */
  private async resolveTransport(address: Address, name: string): Promise<ClientTransport> {
    if (this.fixedTransport) return this.fixedTransport;
    const key = addressKey(address);
    const known = this.lookedUpTransports.get(key);
    if (known) return known;
    let found;
    try {
      found = await findClusterCredentials(address);
    } catch (err) {
      // Nothing listening is the more useful news than having no key for it (a wrong port).
      await probeListening(address, name, Math.min(this.options.connectTimeoutMs, 1_000));
      throw err;
    }
    const transport: ClientTransport = found.plaintext ? { kind: 'plain' } : { kind: 'psk', credential: found };
    // Bounded: a resolver may name new addresses over time.
    if (this.lookedUpTransports.size >= limits.maxPeerAddresses) this.lookedUpTransports.clear();
    this.lookedUpTransports.set(key, transport);
    return transport;
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
    // Closed while the call waited (dropped for its silence, reset): the call never left.
    if (socket.destroyed) {
      const address = this.socketAddress.get(socket)!;
      throw failedAt(markUnsent(qfsError('UNAVAILABLE', `connection to ${this.nameOf(address)} lost before the call was sent`)), address, 'unreachable');
    }
    return socket;
  }

  /** With several addresses or a resolver: a connection with calls outstanding from which nothing
   * at all arrives for limits.rpcSilenceMs is destroyed, failing its calls as a reset would
   * (UNAVAILABLE; resent elsewhere only under the idempotent-retry rules). The silence counts
   * from the last arrival, or from when calls became outstanding on a quiet connection. A live
   * server sends keepalives while it works on a call, so a long call is not cut. */
  private watchSilence(socket: net.Socket): void {
    const hearing = this.hearing.get(socket);
    if (!hearing) return;
    // A connection without calls may rightly have been quiet: its silence counts from now.
    if (hearing.outstanding++ === 0) hearing.heardAtMs = Date.now();
    if (hearing.timer !== undefined) return;
    const silenceMs = limits.rpcSilenceMs;
    const check = (delayMs: number): void => {
      hearing.timer = setTimeout(() => {
        // Judged after this turn's I/O, so what arrived while this process was busy (a long
        // turn of its event loop) is read first and counts.
        setImmediate(() => {
          hearing.timer = undefined;
          if (socket.destroyed || hearing.outstanding === 0) return;
          const quietMs = Date.now() - hearing.heardAtMs;
          if (quietMs < silenceMs) return check(silenceMs - quietMs);
          hearing.silentForMs = quietMs;
          // Calls made from now on go to the next address, not to a new connection to this one.
          this.peers.failed(this.socketAddress.get(socket)!);
          socket.destroy();
        });
      }, delayMs);
      hearing.timer.unref();
    };
    check(silenceMs);
  }

  private adopt(socket: net.Socket, address: Address): void {
    this.socket = socket;
    this.socketAddress.set(socket, address);
    const decoder = new FrameDecoder();
    const hearing: Hearing | undefined = this.peers.failsOver ? { heardAtMs: Date.now(), outstanding: 0, timer: undefined, silentForMs: undefined } : undefined;
    if (hearing) this.hearing.set(socket, hearing);
    socket.on('data', (chunk: Buffer) => {
      if (hearing) hearing.heardAtMs = Date.now();
      try {
        for (const frame of decoder.push(chunk)) this.dispatch(socket, frame.kind, frame.header, frame.payload);
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
      this.retiring.delete(socket);
      if (hearing?.timer) clearTimeout(hearing.timer);
      const why = hearing?.silentForMs === undefined ? 'lost' : `dropped: nothing arrived for ${hearing.silentForMs} ms with calls outstanding`;
      this.failAll(failedAt(qfsError('UNAVAILABLE', `connection to ${this.nameOf(address)} ${why}`), address, 'lost'), socket);
    });
    if (this.connectedOnce) this.options.onReconnect?.();
    this.connectedOnce = true;
  }

  private dispatch(socket: net.Socket, kind: number, rawHeader: unknown, payload: Buffer): void {
    if (kind === FRAME_EVENT) {
      const { event, data } = eventHeader(rawHeader, 'event');
      if (event === KEEPALIVE_EVENT) return; // its arrival is all it says
      this.options.onEvent?.(event, data);
      return;
    }
    if (kind !== FRAME_RESPONSE) throw qfsError('BAD_FRAME', `unexpected frame kind ${kind} from ${this.nameOf(this.socketAddress.get(socket)!)}`);
    const header = responseHeader(rawHeader, 'response');
    const pending = this.pending.get(header.id);
    if (!pending) return; // timed out already
    this.pending.delete(header.id);
    clearTimeout(pending.timer);
    this.settled(pending.socket);
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

/** Marks `err` as a failure of `address`, for failing over. */
function failedAt(err: QfsError, address: Address, kind: AddressFailure['kind']): QfsError {
  addressFailures.set(err, { address, kind });
  return err;
}

function identityText(transport: ClientTransport): string {
  return transport.kind === 'psk' ? `identity ${transport.credential.identity}` : 'plain';
}

/** Resolves if something accepts a TCP connection at the address; UNAVAILABLE if not. */
function probeListening(address: Address, name: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(markUnsent(qfsError('UNAVAILABLE', `cannot connect to ${name}: ${err.message}`, err)));
      else resolve();
    };
    const timer = setTimeout(() => done(), timeoutMs);
    socket.once('connect', () => done());
    socket.once('error', done);
  });
}
