// An RPC method: its name on the wire, decoders for its arguments and result (both ends validate
// what they receive), and whether it is safe to send again after a timeout or a lost connection.

import type { Decoder } from './schema.js';

export interface Method<A, R> {
  readonly name: string;
  readonly args: Decoder<A>;
  readonly result: Decoder<R>;
  /** True if sending the same call twice has the same effect as once (reads, puts of a fixed
   * version, deletes). The client retries only these. */
  readonly idempotent: boolean;
  /** Its arguments or result hold names (wire-names.ts): strings that are not text are sent as
   * bin. Only such methods pay for the walk over the message. */
  readonly carriesNames: boolean;
}

export function method<A, R>(
  name: string,
  args: Decoder<A>,
  result: Decoder<R>,
  idempotent: boolean,
  carriesNames = false,
): Method<A, R> {
  return { name, args, result, idempotent, carriesNames };
}
