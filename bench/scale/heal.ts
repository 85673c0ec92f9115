// The heal measurement of the scale benchmark: `quorumfs terminate` one data server, then poll
// status until its replacement is live, its heal has ended without failures, it lacks nothing and
// no block is under-replicated; the time from terminate to then is the heal time. The result is confirmed
// with `status --json` and `list-contents --json` of the replacement, which must hold every
// block the fill committed; a heal that makes no visible progress for a while fails the step
// with the mediator's last complaint rather than waiting for the deadline.

import type { Cluster } from '../../test/helpers/cluster.js';
import { runQuorumfs } from './command.js';
import { parseListContents } from './listings.js';
import { lastComplaint } from './mediator-log.js';
import { sleep } from './step-runner.js';
import { counter, dataServers, describeServer, fullyReplicated, type ServerView } from './status-fields.js';

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

interface HealInput {
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
      const full = fullyReplicated(status);
      const heal = replacement?.heal;
      if (replacement && isHealed(replacement, underReplicated, full)) {
        figure.seconds = (nowMs - startMs) / 1000;
        figure.blocksPerS = figure.blocks / figure.seconds;
        figure.healReportedBlocks = heal?.totalBlocks;
        break;
      }
      // Progress, not attempts: a heal that keeps retrying without copying anything is stalled.
      const now = JSON.stringify([replacement?.id, replacement?.state, replacement?.blocks, replacement?.lackingBlocks, heal?.doneBlocks, underReplicated, full]);
      if (now !== signature) [signature, changedMs] = [now, nowMs];
      if (!replacement && nowMs - startMs > REPLACEMENT_APPEARS_MS) throw new Error(`no replacement for ${victimId} in status after ${REPLACEMENT_APPEARS_MS / 1000} s; the mediator said: ${mediatorSaid()}`);
    }
    if (nowMs - changedMs > input.stallMs) {
      const under = status === undefined ? '?' : describeCounter(counter(status, 'underReplicated'));
      throw new Error(`no heal progress for ${input.stallMs / 1000} s: replacement ${describeServer(replacement)}; underReplicated ${under}${lastError ? `; ${lastError}` : ''}; the mediator said: ${mediatorSaid()}`);
    }
  }
  await confirmHeal(input, figure, signal);
}

function describeCounter(value: number | null | undefined): string {
  return value === undefined ? 'absent' : value === null ? 'unknown' : String(value);
}

/** Healed, by every field status has: the replacement is live, its heal ended without failed
 * blocks and no retry pending, it lacks nothing, nothing is under-replicated and every block
 * has all its copies. A field that is absent is not required; one that is null (not known) is
 * not taken for done. */
function isHealed(replacement: ServerView, underReplicated: number | null | undefined, full: boolean | null | undefined): boolean {
  const h = replacement.heal;
  const healEnded = h === undefined || (h.endedMs !== undefined && (h.failedBlocks ?? 0) === 0 && h.nextRetryMs === undefined);
  return replacement.state === 'live' && healEnded && (replacement.lackingBlocks === undefined || replacement.lackingBlocks === 0) && (underReplicated === undefined || underReplicated === 0) && (full === undefined || full === true);
}

/** `status --json` says the replacement is live and nothing is under-replicated, and its
 * `list-contents --json` holds every committed block. */
async function confirmHeal(input: HealInput, figure: HealFigure, signal: AbortSignal): Promise<void> {
  const { cluster } = input;
  const statusJson: unknown = JSON.parse((await runQuorumfs(['status', '--json', '--mediator', `127.0.0.1:${cluster.mediatorPort}`], signal)).stdout.toString('utf8'));
  const rep = dataServers(statusJson).find((s) => s.port === figure.replacementPort);
  if (!rep || !isHealed(rep, counter(statusJson, 'underReplicated'), fullyReplicated(statusJson))) {
    throw new Error(`status --json after the heal: replacement ${describeServer(rep)}; underReplicated ${String(counter(statusJson, 'underReplicated'))}; fullyReplicated ${String(fullyReplicated(statusJson))}`);
  }
  const committed = counter(statusJson, 'blocks');
  const listing = parseListContents((await runQuorumfs(['list-contents', String(figure.replacementPort), '--json'], signal)).stdout);
  const missing = input.keys.filter((k) => !listing.keys.has(k));
  if (missing.length > 0) {
    throw new Error(`status said healed after ${figure.seconds?.toFixed(1)} s, but list-contents --json of ${rep.id} lacks ${missing.length} of ${input.keys.length} committed blocks (e.g. ${missing.slice(0, 3).join(', ')})`);
  }
  if (typeof committed === 'number' && listing.keys.size < committed) {
    throw new Error(`list-contents --json of ${rep.id} has ${listing.keys.size} keys, status counts ${committed} committed blocks`);
  }
  figure.verified = true;
}
