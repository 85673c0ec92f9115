// The operator commands that talk to running servers: status (mediator), list-contents,
// corrupt and terminate (a data server). Each makes one call with a deadline and prints either
// a human-readable table or, with --json, one JSON document. --mediator may list several
// mediators: the call goes to the one that leads.

import { formatAddress, type Address } from '../common/address.js';
import { limits } from '../common/limits.js';
import { dataMethods } from '../protocol/data-messages.js';
import { mediatorMethods, type StatusReport } from '../protocol/mediator-messages.js';
import { RpcClient } from '../transport/rpc-client.js';
import { addressListArg, portArg, positiveIntArg } from './arguments.js';
import { usage } from './usage-error.js';
import { QfsError, messageOf } from '../common/errors.js';
import { credentialsOption, type CredentialsFlag } from './credentials-flag.js';

async function withClient<T>(address: Address | readonly Address[], peerName: string, flags: CredentialsFlag, work: (client: RpcClient) => Promise<T>): Promise<T> {
  const client = new RpcClient(address, { peerName, defaultTimeoutMs: limits.cliCallTimeoutMs, ...(await credentialsOption(flags)) });
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

function dataServerAddress(portText: string, host: string): Address {
  return { host, port: portArg(portText, 'port') };
}

type StatusFlags = { mediator: string; json?: boolean; watch?: boolean; intervalS?: string } & CredentialsFlag;

export async function statusCommand(flags: StatusFlags): Promise<void> {
  const addresses = addressListArg(flags.mediator, '--mediator');
  const peerName = addresses.length === 1 ? `mediator ${formatAddress(addresses[0]!)}` : 'mediator';
  if (flags.intervalS !== undefined && !flags.watch) usage('--interval-s goes with --watch');
  if (flags.watch) return watchStatus(addresses, peerName, flags, intervalArg(flags.intervalS ?? String(DEFAULT_WATCH_INTERVAL_S)));
  const report = await withClient(addresses, peerName, flags, (c) => c.call(mediatorMethods.status, {}));
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
}

const DEFAULT_WATCH_INTERVAL_S = 2;
const MAX_WATCH_INTERVAL_S = 3_600;

function intervalArg(text: string): number {
  const seconds = positiveIntArg(text, '--interval-s');
  if (seconds < 1 || seconds > MAX_WATCH_INTERVAL_S) usage(`--interval-s ${seconds} is out of range (1-${MAX_WATCH_INTERVAL_S})`);
  return seconds;
}

/** status --watch: a frame every interval until interrupted. On a terminal each frame replaces
 * the last; into a pipe or file, frames follow each other after a blank line (--json: one
 * object per line). A failed call is shown as its frame and the next one tries again. */
async function watchStatus(addresses: Address[], peerName: string, flags: StatusFlags, intervalS: number): Promise<void> {
  const client = new RpcClient(addresses, { peerName, defaultTimeoutMs: limits.cliCallTimeoutMs, ...(await credentialsOption(flags)) });
  const tty = process.stdout.isTTY === true;
  try {
    for (let frame = 0; ; frame++) {
      const text = await client.call(mediatorMethods.status, {}).then(
        (report) => (flags.json ? `${JSON.stringify(report)}\n` : formatStatus(report)),
        (err: unknown) => `quorumfs: ${messageOf(err)}${err instanceof QfsError ? ` [${err.code}]` : ''}\n`,
      );
      const separator = tty ? '\x1b[H\x1b[2J' : frame === 0 || flags.json ? '' : '\n';
      process.stdout.write(`${separator}${tty ? `every ${intervalS} s: ${new Date().toISOString()}\n` : ''}${text}`);
      await new Promise((resolve) => setTimeout(resolve, intervalS * 1000));
    }
  } finally {
    client.close();
  }
}

function formatStatus(report: StatusReport): string {
  const m = report.mediator;
  const lines = [
    `mediator ${m.address} (pid ${m.pid}${m.version ? `, quorumfs ${m.version}` : ''})  Qr=${m.readQuorum} Qw=${m.writeQuorum}  up ${Math.round(m.uptimeMs / 1000)} s`,
    // Several mediators on etcd: which leads (it answered), and every one taking part.
    ...(report.mediators ? [`mediators: ${report.mediators.map((a) => (a === report.leader ? `${a} (leader)` : a)).join(', ')}`] : []),
    ...quorumShortfall(report),
    ...(report.statusPage ? [`status page: ${report.statusPage} (sign in: quorumfs status-page)`] : []),
    '',
    table(
      ['ROLE', 'ADDRESS', 'STATE', 'PID', 'BLOCKS', 'BYTES', 'LACKING', 'CAPACITY', 'FREE', 'NOTE'],
      report.servers.map((s) => [
        s.role,
        s.id,
        serverState(s),
        s.pid === undefined ? '-' : String(s.pid),
        s.blocks === undefined ? '-' : String(s.blocks),
        s.bytes === undefined ? '-' : String(s.bytes),
        s.lackingBlocks === undefined ? '-' : known(s.lackingBlocks),
        s.capacityBytes === undefined ? '-' : formatBytes(s.capacityBytes),
        s.freeBytes === undefined ? '-' : formatBytes(s.freeBytes),
        [
          s.full ? 'full' : '',
          s.replaces ? `replaces ${s.replaces}` : '',
          s.replacedBy ? `replaced by ${s.replacedBy}` : '',
          s.downReason ?? '',
          s.heal?.lastError ? `heal incomplete: ${s.heal.lastError}${s.heal.nextRetryMs === undefined ? '' : `; retry in ${Math.ceil(s.heal.nextRetryMs / 1000)} s`}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      ]),
    ),
    '',
    ...(report.space
      ? [`usable space (Qw=${m.writeQuorum}): ${formatBytes(report.space.freeBytes)} free of ${formatBytes(report.space.capacityBytes)}`]
      : []),
    `spare ports left: ${report.sparePortsLeft.length === 0 ? 'none' : compactRange(report.sparePortsLeft)}`,
    `files and directories: ${known(report.counters.inodes)}   blocks: ${known(report.counters.blocks)}   bytes: ${known(report.counters.bytes)}`,
    `redundancy: ${report.fullyReplicated === null ? 'unknown' : report.fullyReplicated ? 'every block has all its copies' : 'INCOMPLETE'}   under-replicated blocks: ${known(report.counters.underReplicated)}`,
    `bad replicas found: ${report.counters.corruptFound}   repaired: ${report.counters.corruptRepaired}   healed blocks: ${report.counters.healedBlocks}`,
    `scrub: ${report.scrub ? `${report.scrub.running ? 'running' : 'last pass done'}, ${report.scrub.progress.doneBlocks}/${report.scrub.progress.totalBlocks} block copies checked` : 'no pass yet'} (${report.counters.scrubPasses} passes)`,
    `reads through the mediator: ${report.counters.reads}   writes through the mediator: ${report.counters.writes}   write misses: ${report.counters.writeMisses}   replacements: ${report.counters.replacements}   metadata restarts: ${report.counters.metaRestarts}`,
  ];
  return lines.join('\n') + '\n';
}

/** Prints a data server's blocks page by page as they arrive, so a million keys take no more
 * memory than one page; --json still prints one valid JSON array. */
export async function listContentsCommand(portText: string, flags: { host: string; json?: boolean } & CredentialsFlag): Promise<void> {
  const address = dataServerAddress(portText, flags.host);
  await withClient(address, `data server ${formatAddress(address)}`, flags, async (c) => {
    const out = new LineWriter();
    let count = 0;
    // The first page before any output: a refused call prints its one line and nothing else.
    let page: ReturnType<typeof dataMethods.list.result> = await c.call(dataMethods.list, {});
    await out.write(flags.json ? '[' : `${pad('KEY', KEY_WIDTH)}  ${pad('VERSION', 10)}  ${pad('SIZE', 8)}  CHECKSUM\n`);
    for (;;) {
      let text = '';
      for (const e of page.entries) {
        if (flags.json) text += `${count === 0 ? '' : ','}\n${JSON.stringify(e)}`;
        else text += `${pad(e.key, KEY_WIDTH)}  ${pad(String(e.version), 10)}  ${pad(String(e.sizeBytes), 8)}  ${e.checksum.slice(0, 23)}\n`;
        count++;
      }
      await out.write(text);
      if (page.next === undefined) break;
      page = await c.call(dataMethods.list, { after: page.next });
    }
    await out.write(flags.json ? '\n]\n' : `${count} block${count === 1 ? '' : 's'}\n`);
  });
}

const KEY_WIDTH = 16;

function pad(text: string, width: number): string {
  return text.padEnd(width);
}

/** Writes to stdout and waits when the pipe is full, so a slow reader slows the listing instead
 * of letting output pile up in memory. */
class LineWriter {
  write(text: string): Promise<void> {
    if (text.length === 0 || process.stdout.write(text)) return Promise.resolve();
    return new Promise((resolve) => process.stdout.once('drain', resolve));
  }
}

export async function corruptCommand(portText: string, key: string, flags: { host: string } & CredentialsFlag): Promise<void> {
  const address = dataServerAddress(portText, flags.host);
  const r = await withClient(address, `data server ${formatAddress(address)}`, flags, (c) => c.call(dataMethods.corrupt, { key }));
  process.stdout.write(
    `corrupted ${r.key} v${r.version} on ${formatAddress(address)}\n` +
      `  old: ${r.before.sizeBytes} bytes, ${r.before.checksum}, starts ${r.before.preview}\n` +
      `  new: ${r.after.sizeBytes} bytes, ${r.after.checksum}, starts ${r.after.preview}\n`,
  );
}

export async function terminateCommand(portText: string, flags: { host: string } & CredentialsFlag): Promise<void> {
  const address = dataServerAddress(portText, flags.host);
  await withClient(address, `data server ${formatAddress(address)}`, flags, (c) => c.call(dataMethods.terminate, {}));
  process.stdout.write(`terminated the data server on ${formatAddress(address)}\n`);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function serverState(s: StatusReport['servers'][number]): string {
  const heal = s.heal;
  if (s.state !== 'healing' || !heal || heal.endedMs !== undefined) return s.state;
  if (!heal.compared) return 'healing (comparing)';
  return `healing ${percent(heal)}%${heal.etaMs === undefined ? '' : ` ETA ${Math.ceil(heal.etaMs / 1000)}s`}`;
}

/** A figure that may not be known: 'unknown', never 0. */
function known(value: number | null): string {
  return value === null ? 'unknown' : String(value);
}

function compactRange(ports: number[]): string {
  const first = ports[0]!;
  const last = ports[ports.length - 1]!;
  return last - first === ports.length - 1 && ports.length > 1 ? `${first}-${last}` : ports.join(', ');
}

/** Bytes in binary units with one decimal: 30.0 MiB. */
/** Data servers join a cluster on etcd over time: fewer members than a quorum is said first. */
function quorumShortfall(report: StatusReport): string[] {
  const members = report.servers.filter((s) => s.role === 'data' && s.state !== 'replaced').length;
  const { readQuorum, writeQuorum } = report.mediator;
  const needed = Math.max(readQuorum, writeQuorum);
  return members < needed ? [`only ${members} data server${members === 1 ? '' : 's'} in the cluster: Qr=${readQuorum} and Qw=${writeQuorum} need ${needed}; writes wait for more to join`] : [];
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function percent(p: { doneBlocks: number; totalBlocks: number }): number {
  return p.totalBlocks === 0 ? 0 : Math.floor((100 * p.doneBlocks) / p.totalBlocks);
}
