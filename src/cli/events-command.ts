// `quorumfs events`: the mediator's recent cluster events, one line each (--json: one JSON
// object per line), oldest first. --follow then keeps asking for new ones with a long poll until
// interrupted; a follower that fell behind the mediator's ring says how many it missed.

import { formatAddress } from '../common/address.js';
import { limits } from '../common/limits.js';
import { mediatorMethods, type EventPageReply } from '../protocol/mediator-messages.js';
import { RpcClient } from '../transport/rpc-client.js';
import { addressListArg } from './arguments.js';
import { credentialsOption, type CredentialsFlag } from './credentials-flag.js';

type ClusterEventLine = EventPageReply['events'][number];

/** How long each --follow call waits for a new event before asking again. */
const FOLLOW_WAIT_MS = 10_000;

export async function eventsCommand(flags: { mediator: string; follow?: boolean; json?: boolean } & CredentialsFlag): Promise<void> {
  const addresses = addressListArg(flags.mediator, '--mediator');
  const peerName = addresses.length === 1 ? `mediator ${formatAddress(addresses[0]!)}` : 'mediator';
  const client = new RpcClient(addresses, { peerName, defaultTimeoutMs: limits.cliCallTimeoutMs, ...(await credentialsOption(flags)) });
  try {
    let afterSeq: number | undefined;
    for (;;) {
      const waitMs = flags.follow ? FOLLOW_WAIT_MS : undefined;
      const timeoutMs = limits.cliCallTimeoutMs + (waitMs ?? 0);
      const page = await client.call(mediatorMethods.events, { ...(afterSeq === undefined ? {} : { afterSeq }), ...(waitMs === undefined ? {} : { waitMs }) }, { timeoutMs });
      if (page.missed !== undefined) process.stderr.write(`quorumfs: missed ${page.missed} event${page.missed === 1 ? '' : 's'}: the mediator keeps only the last ${limits.maxEventsKept}\n`);
      process.stdout.write(page.events.map((e) => `${flags.json ? JSON.stringify(e) : formatEvent(e)}\n`).join(''));
      // A mediator that restarted numbers from 1 again: start over from what it holds.
      if (page.lastSeq < (afterSeq ?? 0)) {
        afterSeq = undefined;
        continue;
      }
      const last = page.events.length > 0 ? page.events[page.events.length - 1]!.seq : Math.max(afterSeq ?? 0, page.lastSeq);
      afterSeq = last;
      if (last >= page.lastSeq && !flags.follow) return;
    }
  } finally {
    client.close();
  }
}

export function formatEvent(e: ClusterEventLine): string {
  return `${new Date(e.timeMs).toISOString()}  #${e.seq}  ${e.kind}${e.server ? `  ${e.server}` : ''}  ${e.message}`;
}
