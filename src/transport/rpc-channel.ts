// The transport as the rest of quorumfs sees it: a channel that calls methods on one peer. The
// RpcClient (framed TCP) is the real one; a simulation supplies its own over a simulated
// network. Every call has a deadline and fails with a QfsError code, never hangs.

import type { Method } from '../protocol/method.js';

export interface CallOptions {
  /** Bytes sent as the frame payload; the caller must not change them until the call settles. */
  payload?: Uint8Array;
  timeoutMs?: number;
  /** Retry after UNAVAILABLE/TIMEOUT until the deadline (default: the client's setting); only
   * idempotent methods, or calls that never left this process, are sent again. */
  retry?: boolean;
}

export interface CallReply<R> {
  result: R;
  /** The reply's payload; owned by the caller. */
  payload: Buffer;
}

export interface RpcChannel {
  /** Calls a method and returns its validated result. Errors: the peer's error code, or
   * TIMEOUT at the deadline, UNAVAILABLE when the peer cannot be reached. */
  call<A, R>(m: Method<A, R>, args: A, options?: CallOptions): Promise<R>;
  /** As call, with the reply's payload. */
  callWithPayload<A, R>(m: Method<A, R>, args: A, options?: CallOptions): Promise<CallReply<R>>;
}

/** A channel to a peer this process may drop (a replaced server). */
export interface ClosableChannel extends RpcChannel {
  close(): void;
}
