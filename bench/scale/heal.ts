// The heal measurement of the scale benchmark: `quorumfs terminate` one data server, then poll
// status until its replacement is live, its heal has ended without failures and no block is
// under-replicated; the time from terminate to then is the heal time. The result is confirmed
// with `status --json` and `list-contents --json` of the replacement, which must hold every
// block the fill committed; a heal that makes no visible progress for a while fails the step
// with the mediator's last complaint rather than waiting for the deadline.

import type { Cluster } from '../../test/helpers/cluster.js';
import { runQuorumfs } from './command.js';
import { parseListContents } from './listings.js';
import { lastComplaint } from './mediator-log.js';
import { sleep } from './step-runner.js';
import { counter, dataServers, describeServer, type ServerView } from './status-fields.js';

const POLL_MS = 250;
const REPLACEMENT_APPEARS_MS = 30_000;

export interface HealFigure {
  /** committed blocks the replacement had to receive */
  blocks: number;
  terminatedPort: number;
  replacementPort: number | undefined;
  /** terminate → the replacement shows in status (healing or live): the fixed part of a heal */
  replaceSeconds: number | undefined;
  /** terminate → status says healed; undefined until then */
  seconds: number | undefined;
  blocksPerS: number | undefined;
  /** what the replacement's own heal progress counted, if status shows it */
  healReportedBlocks: number | undefined;
  /** list-contents of the replacement holds every committed block */
  verified: boolean;
}

export interface HealInput {
  cluster: Cluster;
  victimPort: number;
  /** block keys every data server must hold */
  keys: string[];
  stallMs: number;
}

/** Fills `figure` as it goes (so a failure keeps what was measured) and throws one line on failure. */
export async function measureHeal(input: HealInput, figure: HealFigure, signal: AbortSignal): Promise<void> {
  const { cluster, victimPort } = input;
  const victimId = `127.0.0.1:${victimPort}`;
  const before = await cluster.status();
  const knownIds = new Set(dataServers(before).map((s) => s.id));
  if (dataServers(before).find((s) => s.id === victimId)?.state !== 'live') throw new Error(`data server ${victimId} is not live before terminate: ${describeServer(dataServers(before).find((s) => s.id === victimId))}`);
  const logOffset = cluster.stderr().length;
  const mediatorSaid = (): string => lastComplaint(cluster.stderr().slice(logOffset)) ?? 'nothing';

  const startMs = performance.now();
  await runQuorumfs(['terminate', String(victimPort)], signal);
  let replacement: ServerView | undefined;
  let signature = '';
  let changedMs = performance.now();
  let lastError = '';
  for (;;) {
    await sleep(POLL_MS, signal);
    const status = await cluster.status().catch((err: unknown) => {
      lastError = `status failed: ${(err as Error).message}`;
      return undefined;
    });
    const nowMs = performance.now();
    if (status !== undefined) {
      const data = dataServers(status);
      replacement = data.find((s) => s.replaces === victimId) ?? data.find((s) => !knownIds.has(s.id));
      figure.replacementPort = replacement?.port;
      if (figure.replaceSeconds === undefined && (replacement?.state === 'healing' || replacement?.state === 'live')) figure.replaceSeconds = (nowMs - startMs) / 1000;
      const underReplicated = counter(status, 'underReplicated');
      const heal = replacement?.heal;
      const healEnded = heal === undefined || (heal.endedMs !== undefined && (heal.failedBlocks ?? 0) === 0);
      if (replacement?.state === 'live' && healEnded && (underReplicated ?? 0) === 0) {
        figure.seconds = (nowMs - startMs) / 1000;
        figure.blocksPerS = figure.blocks / figure.seconds;
        figure.healReportedBlocks = heal?.totalBlocks;
        break;
      }
      const now = JSON.stringify([replacement?.id, replacement?.state, replacement?.blocks, heal?.doneBlocks, heal?.startedMs, heal?.endedMs, underReplicated]);
      if (now !== signature) [signature, changedMs] = [now, nowMs];
      if (!replacement && nowMs - startMs > REPLACEMENT_APPEARS_MS) throw new Error(`no replacement for ${victimId} in status after ${REPLACEMENT_APPEARS_MS / 1000} s; the mediator said: ${mediatorSaid()}`);
    }
    if (nowMs - changedMs > input.stallMs) {
      const under = status === undefined ? '?' : String(counter(status, 'underReplicated') ?? 'absent');
      throw new Error(`no heal progress for ${input.stallMs / 1000} s: replacement ${describeServer(replacement)}; underReplicated ${under}${lastError ? `; ${lastError}` : ''}; the mediator said: ${mediatorSaid()}`);
    }
  }
  await confirmHeal(input, figure, signal);
}

/** `status --json` says the replacement is live and nothing is under-replicated, and its
 * `list-contents --json` holds every committed block. */
async function confirmHeal(input: HealInput, figure: HealFigure, signal: AbortSignal): Promise<void> {
  const { cluster } = input;
  const statusJson: unknown = JSON.parse((await runQuorumfs(['status', '--json', '--mediator', `127.0.0.1:${cluster.mediatorPort}`], signal)).stdout.toString('utf8'));
  const rep = dataServers(statusJson).find((s) => s.port === figure.replacementPort);
  if (rep?.state !== 'live') throw new Error(`status --json after the heal: replacement ${describeServer(rep)}`);
  const under = counter(statusJson, 'underReplicated');
  if (under !== undefined && under !== 0) throw new Error(`status --json after the heal: underReplicated ${under}`);
  const committed = counter(statusJson, 'blocks');
  const listing = parseListContents((await runQuorumfs(['list-contents', String(figure.replacementPort), '--json'], signal)).stdout);
  const missing = input.keys.filter((k) => !listing.keys.has(k));
  if (missing.length > 0) {
    throw new Error(`status said healed after ${figure.seconds?.toFixed(1)} s, but list-contents --json of ${rep.id} lacks ${missing.length} of ${input.keys.length} committed blocks (e.g. ${missing.slice(0, 3).join(', ')})`);
  }
  if (committed !== undefined && listing.keys.size < committed) {
    throw new Error(`list-contents --json of ${rep.id} has ${listing.keys.size} keys, status counts ${committed} committed blocks`);
  }
  figure.verified = true;
}
