// The simulated network: channels from the mediator to in-process servers over virtual time.
// Every message is a real frame (encoded and decoded), and the fault plan, drawn from the seed,
// may delay it (so messages overtake each other), drop it (the caller times out), duplicate a
// request (the handler runs twice; the second reply is ignored), flip a bit of a payload (TCP
// would not let that through unnoticed, but a bad NIC or a kernel bug would) and cut a server
// off (partition). A server that is down refuses connections at once.

import { asQfsError, isErrorCode, qfsError, type ErrorCode } from '../src/common/errors.js';
import { limits } from '../src/common/limits.js';
import { FRAME_REQUEST, FRAME_RESPONSE, FrameDecoder, encodeFrame } from '../src/protocol/frame-codec.js';
import type { Method } from '../src/protocol/method.js';
import { namesToWire } from '../src/protocol/wire-names.js';
import type { CallOptions, CallReply, ClosableChannel } from '../src/transport/rpc-channel.js';
import type { Random } from '../src/common/random.js';
import type { LocalRegistry, Outcome } from './local-registry.js';
import type { VirtualClock } from './virtual-clock.js';

/** Per-message fault probabilities; all zero is a perfect network. */
export interface NetworkFaults {
  dropRequest: number;
  dropReply: number;
  duplicateRequest: number;
  flipPayloadBit: number;
  /** A message is delayed 0..maxDelayMs (uniform), so later ones may arrive first. */
  maxDelayMs: number;
  /** A fraction of messages wait up to slowDelayMs instead (a stalled link). */
  slow: number;
  slowDelayMs: number;
}

/** A refused call (the request never left) is sent again after this pause, as RpcClient does. */
const REFUSED_RETRY_MS = 50;
/** Every channel here is the mediator's, which authenticates as server.mediator. */
const CALLER_ROLE = 'server';

export const perfectNetwork: NetworkFaults = { dropRequest: 0, dropReply: 0, duplicateRequest: 0, flipPayloadBit: 0, maxDelayMs: 0, slow: 0, slowDelayMs: 0 };

/** A server as the network sees it. */
export interface Endpoint {
  readonly name: string;
  readonly registry: LocalRegistry;
  /** False while the process is down: connections are refused. */
  up(): boolean;
  /** True while cut off: messages to and from it are lost. */
  partitioned(): boolean;
  /** Changes on every crash: a reply computed before it is never sent. */
  epoch(): number;
}

/** Called with every request as it is sent (before any fault touches it), for the checker. */
export type SendObserver = (to: string, op: string, args: unknown, payload: Buffer) => void;

export class SimNetwork {
  faults: NetworkFaults = perfectNetwork;
  /** A planted bug may replace a request's payload before it is sent (tests only). */
  tamper: ((op: string, args: unknown, payload: Buffer) => Buffer) | undefined;
  /** Counts of what the network did, for the run's report. */
  readonly stats = { messages: 0, dropped: 0, duplicated: 0, flipped: 0, refused: 0 };

  constructor(
    readonly clock: VirtualClock,
    private readonly random: Random,
    private readonly observe: SendObserver,
  ) {}

  /** A channel to `endpoint`; `retryRefused`: a refused call is sent again until its deadline
   * (a refused connection means the request never left, so this is safe for any method). */
  channel(endpoint: () => Endpoint | undefined, faulty: boolean, retryRefused: boolean): ClosableChannel {
    return new SimChannel(this, endpoint, faulty, retryRefused);
  }

  delayMs(faulty: boolean): number {
    if (!faulty) return 0;
    const f = this.faults;
    if (f.slow > 0 && this.random() < f.slow) return Math.floor(this.random() * f.slowDelayMs);
    return Math.floor(this.random() * (f.maxDelayMs + 1));
  }

  chance(p: number, faulty: boolean): boolean {
    return faulty && p > 0 && this.random() < p;
  }

  flipBit(payload: Buffer): Buffer {
    if (payload.length === 0) return payload;
    const copy = Buffer.from(payload);
    const i = Math.floor(this.random() * copy.length);
    copy[i] = copy[i]! ^ (1 << Math.floor(this.random() * 8));
    this.stats.flipped++;
    return copy;
  }

  notify(to: string, op: string, args: unknown, payload: Buffer): void {
    this.observe(to, op, args, payload);
  }
}

class SimChannel implements ClosableChannel {
  private closed = false;

  constructor(
    private readonly net: SimNetwork,
    private readonly endpoint: () => Endpoint | undefined,
    private readonly faulty: boolean,
    private readonly retryRefused: boolean,
  ) {}

  close(): void {
    this.closed = true;
  }

  async call<A, R>(m: Method<A, R>, args: A, options: CallOptions = {}): Promise<R> {
    return (await this.callWithPayload(m, args, options)).result;
  }

  async callWithPayload<A, R>(m: Method<A, R>, args: A, options: CallOptions = {}): Promise<CallReply<R>> {
    const clock = this.net.clock;
    const deadlineMs = clock.nowMs() + Math.max(1, options.timeoutMs ?? limits.defaultCallTimeoutMs);
    const payload = Buffer.from(options.payload ?? new Uint8Array(0));
    for (;;) {
      const outcome = await this.attempt(m, args, payload, deadlineMs);
      if (outcome.ok) return { result: m.result(outcome.result, `${m.name} result`), payload: outcome.payload };
      const code: ErrorCode = isErrorCode(outcome.code) ? outcome.code : 'INTERNAL';
      const refused = outcome.refused === true;
      if (refused && this.retryRefused && clock.nowMs() + REFUSED_RETRY_MS < deadlineMs) {
        await clock.sleep(REFUSED_RETRY_MS);
        continue;
      }
      throw qfsError(code, outcome.message);
    }
  }

  /** One request and its reply, or the failure the caller sees. */
  private attempt<A, R>(m: Method<A, R>, args: A, payload: Buffer, deadlineMs: number): Promise<Outcome & { refused?: boolean }> {
    const net = this.net;
    const clock = net.clock;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (o: Outcome & { refused?: boolean }): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(o);
      };
      const timer = clock.setTimer(deadlineMs - clock.nowMs(), () => settle({ ok: false, code: 'TIMEOUT', message: `${m.name}: no reply within the deadline` }));
      const target = this.endpoint();
      if (this.closed || !target) {
        settle({ ok: false, code: 'UNAVAILABLE', message: `${m.name}: channel closed`, refused: false });
        return;
      }
      net.stats.messages++;
      const wireArgs = m.carriesNames ? namesToWire(args) : args;
      const sent = net.tamper ? net.tamper(m.name, args, payload) : payload;
      net.notify(target.name, m.name, args, sent);
      // The request as bytes on the wire.
      const frame = encodeFrame(FRAME_REQUEST, { op: m.name, args: wireArgs }, sent);
      const deliver = (copy: boolean): void => {
        clock.setTimer(net.delayMs(this.faulty), () => {
          if (!target.up()) {
            net.stats.refused++;
            if (!copy) settle({ ok: false, code: 'UNAVAILABLE', message: `${target.name}: connection refused`, refused: true });
            return;
          }
          if (target.partitioned() || net.chance(net.faults.dropRequest, this.faulty)) {
            net.stats.dropped++;
            return; // lost: the caller times out
          }
          const [request] = new FrameDecoder().push(frame);
          const header = request!.header as { op: string; args: unknown };
          const body = net.chance(net.faults.flipPayloadBit, this.faulty) ? net.flipBit(request!.payload) : request!.payload;
          const epoch = target.epoch();
          void target.registry.dispatch(header.op, header.args, body, deadlineMs, CALLER_ROLE).then((outcome) => {
            if (copy || target.epoch() !== epoch || !target.up()) return; // a crashed server sends nothing
            const replyFrame = encodeReply(outcome);
            clock.setTimer(net.delayMs(this.faulty), () => {
              if (target.partitioned() || net.chance(net.faults.dropReply, this.faulty)) {
                net.stats.dropped++;
                return;
              }
              const [reply] = new FrameDecoder().push(replyFrame);
              const h = reply!.header as { result?: unknown; error?: { code: string; message: string } };
              if (h.error) return settle({ ok: false, code: h.error.code, message: h.error.message });
              const body = net.chance(net.faults.flipPayloadBit, this.faulty) ? net.flipBit(reply!.payload) : reply!.payload;
              settle({ ok: true, result: h.result, payload: body });
            });
          });
        });
      };
      deliver(false);
      if (net.chance(net.faults.duplicateRequest, this.faulty)) {
        net.stats.duplicated++;
        deliver(true);
      }
    });
  }
}

/** The reply as bytes on the wire; a result that does not fit a frame goes back as its error,
 * as RpcServer answers. */
function encodeReply(outcome: Outcome): Buffer {
  const error = (code: string, message: string): Buffer => encodeFrame(FRAME_RESPONSE, { error: { code, message } });
  if (!outcome.ok) return error(outcome.code, outcome.message);
  try {
    return encodeFrame(FRAME_RESPONSE, { result: outcome.result }, outcome.payload);
  } catch (err) {
    const e = asQfsError(err);
    return error(e.code, e.message);
  }
}
