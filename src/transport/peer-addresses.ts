// Where an RpcClient finds its peer: one fixed address, several addresses of one service to fail
// over between (mediators: one leads, the others answer NOT_LEADER), or one address looked up
// anew by a resolver (the metadata server the leading mediator names). Bookkeeping only: no
// sockets, timers or clock; the client feeds failures in and asks where to go next.

import { formatAddress, type Address } from '../common/address.js';
import { qfsError, type QfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';

/** Finds the peer's address now, within timeoutMs; rejects if it cannot. */
export type AddressResolver = (timeoutMs: number) => Promise<Address>;

export function addressKey(address: Address): string {
  return formatAddress(address);
}

export class PeerAddresses {
  private index = 0;
  private resolved: Address | undefined;
  readonly list: readonly Address[];

  /** INVALID for no address or more than limits.maxPeerAddresses. */
  constructor(
    list: readonly Address[],
    readonly resolver?: AddressResolver,
  ) {
    if (list.length === 0) throw qfsError('INVALID', 'no address to connect to');
    if (list.length > limits.maxPeerAddresses) throw qfsError('INVALID', `${list.length} addresses given, at most ${limits.maxPeerAddresses} are taken`);
    this.list = [...list];
  }

  /** Whether a failure at one address moves the client on: several addresses, or a resolver. */
  get failsOver(): boolean {
    return this.list.length > 1 || this.resolver !== undefined;
  }

  /** The address the next connection goes to. */
  get current(): Address {
    return this.resolved ?? this.list[this.index]!;
  }

  /** `address` refused, reset, timed out or answered NOT_LEADER: the next one in the list becomes
   * current. Only the first report of a failure of the current address moves it, however many
   * calls in flight report the same failure. With a resolver, the next answer decides. */
  failed(address: Address): void {
    if (this.resolver || this.list.length === 1) return;
    if (addressKey(this.list[this.index]!) !== addressKey(address)) return;
    this.index = (this.index + 1) % this.list.length;
  }

  /** The resolver's latest answer. */
  setResolved(address: Address): void {
    this.resolved = address;
  }

  describe(): string {
    return this.list.map(formatAddress).join(',');
  }
}

/** One call's walk over the addresses: what each address it tried answered, which it tried in
 * the current round, and how long to pause before going round again. */
export class FailoverWalk {
  private round = 0;
  private readonly triedThisRound = new Set<string>();
  /** Every address tried during the call (insertion order), with its latest failure. */
  private readonly tried = new Map<string, QfsError>();
  private last: QfsError | undefined;

  failedAt(address: Address, err: QfsError): void {
    const key = addressKey(address);
    this.triedThisRound.add(key);
    this.tried.delete(key);
    // Bounded: a resolver may name new addresses, but the map keeps the latest few.
    if (this.tried.size >= limits.maxPeerAddresses) this.tried.delete(this.tried.keys().next().value!);
    this.tried.set(key, err);
    this.last = err;
  }

  /** 0 if `next` was not tried in this round; otherwise a new round starts and this is the pause
   * before it (limits.failoverRoundBackoffMs, by round). */
  pauseBefore(next: Address): number {
    if (!this.triedThisRound.has(addressKey(next))) return 0;
    this.triedThisRound.clear();
    const backoff = limits.failoverRoundBackoffMs;
    return backoff[Math.min(this.round++, backoff.length - 1)]!;
  }

  /** The error a call fails with once its deadline leaves no time for another attempt: the last
   * failure's code, with a message naming every address tried and what it answered. */
  exhausted(methodName: string, peerName: string, timeoutMs: number, fallback: QfsError): QfsError {
    const last = this.last ?? fallback;
    const tried = [...this.tried].map(([key, err]) => `${key} (${err.code})`).join(', ');
    return qfsError(last.code, `${methodName} to ${peerName}: no address served it within ${timeoutMs} ms; tried ${tried}; last: ${last.message}`, last);
  }
}
