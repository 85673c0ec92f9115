// `quorumfs heal [--wait]`, `quorumfs scrub [--wait]` and `quorumfs explain <path>`. With --wait
// the command follows the pass in status: a progress bar on a terminal, plain lines otherwise,
// until the mediator says the pass is done. --mediator may list several mediators: the calls go
// to the one that leads.

import { realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import { QuorumfsClient } from '../client/quorumfs-client.js';
import { credentialsOption, type CredentialsFlag } from './credentials-flag.js';
import { qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { mountTable } from '../fuse/mount-table.js';
import { mediatorMethods, type StatusReport } from '../protocol/mediator-messages.js';
import { addressListArg } from './arguments.js';

interface Flags extends CredentialsFlag {
  mediator: string;
  wait?: boolean;
}

/** compared: false while a heal is still comparing (its total is not known yet). */
type Progress = { doneBlocks: number; totalBlocks: number; etaMs?: number; compared?: boolean };

async function client(flags: Flags): Promise<QuorumfsClient> {
  return new QuorumfsClient(addressListArg(flags.mediator, '--mediator'), { defaultTimeoutMs: limits.repairCommandCallTimeoutMs, ...(await credentialsOption(flags)) });
}

export async function healCommand(flags: Flags): Promise<void> {
  await runPass(flags, 'heal', (s) => sumProgress(s.servers.map((x) => x.heal).filter((h): h is NonNullable<typeof h> => h !== undefined && h.endedMs === undefined)));
}

export async function scrubCommand(flags: Flags): Promise<void> {
  await runPass(flags, 'scrub', (s) => (s.scrub?.running ? s.scrub.progress : undefined));
}

async function runPass(flags: Flags, what: 'heal' | 'scrub', progressOf: (s: StatusReport) => Progress | undefined): Promise<void> {
  const c = await client(flags);
  try {
    if (!flags.wait) {
      await c.rpc.call(mediatorMethods[what], { wait: false });
      process.stdout.write(`${what} started; 'quorumfs status' shows its progress\n`);
      return;
    }
    const show = progressDisplay(what);
    // Settles once, with the outcome or the error: never left rejected and unobserved.
    const pass = c.rpc.call(mediatorMethods[what], { wait: true }, { timeoutMs: limits.repairPassTimeoutMs, retry: false }).then(
      (outcome) => ({ outcome }),
      (err: unknown) => ({ err }),
    );
    let settled: Awaited<typeof pass> | undefined;
    void pass.then((s) => (settled = s));
    while (settled === undefined) {
      const status = await c.status().catch(() => undefined);
      const p = status && progressOf(status);
      if (p) show.update(p);
      await Promise.race([pass, new Promise((r) => setTimeout(r, limits.repairPollIntervalMs))]);
    }
    show.finish();
    if ('err' in settled) throw settled.err;
    const status = await c.status();
    const counts = `${status.counters.underReplicated ?? 'unknown'} blocks under-replicated, ${status.counters.corruptFound} bad replicas found, ${status.counters.corruptRepaired} repaired`;
    if (!settled.outcome.complete) {
      throw qfsError('INCOMPLETE', `${what} did not finish: ${settled.outcome.reason ?? 'incomplete'} (${counts})`);
    }
    process.stdout.write(`${what} done: ${counts}\n`);
  } finally {
    c.close();
  }
}

function sumProgress(list: Progress[]): Progress | undefined {
  if (list.length === 0) return undefined;
  return {
    doneBlocks: list.reduce((n, p) => n + p.doneBlocks, 0),
    totalBlocks: list.reduce((n, p) => n + p.totalBlocks, 0),
    etaMs: Math.max(0, ...list.map((p) => p.etaMs ?? 0)),
    compared: list.every((p) => p.compared !== false),
  };
}

/** A bar on a terminal; one line per second otherwise (logs, CI). */
function progressDisplay(what: string): { update(p: Progress): void; finish(): void } {
  if (process.stdout.isTTY) {
    const bar = new cliProgress.SingleBar({ format: `${what} [{bar}] {percentage}% | {value}/{total} blocks | ETA {eta_formatted}` }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update(p) {
        if (p.compared === false) return; // no total to show yet
        if (!started) bar.start(p.totalBlocks, p.doneBlocks);
        started = true;
        bar.setTotal(p.totalBlocks);
        bar.update(p.doneBlocks);
      },
      finish: () => started && bar.stop(),
    };
  }
  let lastMs = 0;
  return {
    update(p) {
      if (Date.now() - lastMs < limits.repairProgressLineIntervalMs) return;
      lastMs = Date.now();
      if (p.compared === false) {
        process.stdout.write(`${what}: comparing every server with the block maps\n`);
        return;
      }
      const percent = p.totalBlocks === 0 ? 100 : Math.floor((100 * p.doneBlocks) / p.totalBlocks);
      const eta = p.etaMs === undefined ? '' : `, ETA ${Math.ceil(p.etaMs / 1000)} s`;
      process.stdout.write(`${what}: ${p.doneBlocks}/${p.totalBlocks} blocks (${percent}%)${eta}\n`);
    },
    finish() {},
  };
}

/** Explains a file: `path` is either a file on a quorumfs mount (its inode number is the
 * quorumfs inode) or a path inside the file system, from its root. */
export async function explainCommand(path: string, flags: Flags & { json?: boolean }): Promise<void> {
  const c = await client(flags);
  try {
    const local = await stat(path).catch(() => undefined);
    if (!local && (await onQuorumfsMount(dirname(path)))) throw qfsError('NOT_FOUND', `${path}: no such file or directory`);
    const ino = local && (await onQuorumfsMount(path)) ? local.ino : (await c.resolve(path)).ino;
    // Pages of blocks, printed as they come: a file of a million blocks never sits in memory.
    let fromIndex: number | undefined = 0;
    let count = 0;
    for (let first = true; fromIndex !== undefined; first = false) {
      const page: ReturnType<typeof mediatorMethods.explain.result> = await c.rpc.call(mediatorMethods.explain, { ino, fromIndex });
      if (first) process.stdout.write(flags.json ? `{"attr":${JSON.stringify(page.attr)},"blocks":[` : `inode ${page.attr.ino}, ${page.attr.size} bytes\n`);
      for (const b of page.blocks) {
        if (flags.json) process.stdout.write(`${count === 0 ? '' : ','}\n${JSON.stringify(b)}`);
        else {
          const bad = b.bad.map((x) => `${x.server} ${x.status}`).join(', ');
          process.stdout.write(
            `  block ${b.index}  v${b.version}  ${b.lengthBytes} bytes  ${b.checksum.slice(0, 23)}  good on ${b.good.length}: ${b.good.join(', ') || 'none'}${bad ? `  bad: ${bad}` : ''}\n`,
          );
        }
        count++;
      }
      fromIndex = page.nextIndex;
    }
    process.stdout.write(flags.json ? `\n]}\n` : `${count} block${count === 1 ? '' : 's'}\n`);
  } finally {
    c.close();
  }
}

/** Whether `path` exists and lies on a quorumfs mount. */
async function onQuorumfsMount(path: string): Promise<boolean> {
  const full = await realpath(path).catch(() => undefined);
  if (full === undefined) return false;
  return (await mountTable()).some(({ dir, type }) => type === 'fuse.quorumfs' && (full === dir || full.startsWith(`${dir}/`)));
}
