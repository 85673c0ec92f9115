// Parsing and checking of command-line values: ports, port ranges, quorum sizes, addresses and
// lists of addresses.
// Each failure is a UsageError with one clear line.

import { formatAddress, parseAddress, type Address } from '../common/address.js';
import { limits } from '../common/limits.js';
import { messageOf } from '../common/errors.js';
import { portProblem } from '../transport/port-probe.js';
import { usage } from './usage-error.js';

export function portArg(text: string, what: string): number {
  if (!/^\d+$/.test(text)) usage(`${what} '${text}' is not a port number`);
  const port = Number(text);
  if (port < 1 || port > 65535) usage(`${what} ${port} is out of range (1-65535)`);
  return port;
}

export function positiveIntArg(text: string, what: string): number {
  if (!/^\d+$/.test(text)) usage(`${what} '${text}' is not a whole number`);
  return Number(text);
}

/** "60000-60010" → [60000 … 60010]; a single port is a range of one; "none" is no ports. */
export function portRangeArg(text: string, what: string): number[] {
  if (text === 'none') return [];
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) usage(`${what} '${text}' is not a port range like 60000-60010`);
  const from = portArg(m[1]!, what);
  const to = m[2] === undefined ? from : portArg(m[2], what);
  if (to < from) usage(`${what} '${text}' ends before it starts`);
  if (to - from > 1000) usage(`${what} '${text}' spans more than 1000 ports`);
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

export function addressArg(text: string, what: string): Address {
  try {
    return parseAddress(text);
  } catch (err) {
    return usage(`${what}: ${messageOf(err)}`);
  }
}

/** "h1:51234,h2:51234" → the addresses, in order (a bare port means 127.0.0.1). An empty entry,
 * a bad one, one given twice, or more than limits.maxPeerAddresses is a UsageError naming it. */
export function addressListArg(text: string, what: string): Address[] {
  const entries = text.split(',').map((e) => e.trim());
  if (entries.length > limits.maxPeerAddresses) usage(`${what}: ${entries.length} addresses given, at most ${limits.maxPeerAddresses} are taken`);
  const seen = new Set<string>();
  return entries.map((entry, i) => {
    if (entry === '') usage(`${what}: address ${i + 1} of '${text}' is empty`);
    const address = addressArg(entry, entries.length === 1 ? what : `${what} '${entry}'`);
    const key = formatAddress(address);
    if (seen.has(key)) usage(`${what}: address ${key} is given more than once`);
    seen.add(key);
    return address;
  });
}

/** Resolves if the port can be bound on host now; a UsageError naming the port otherwise. */
export async function checkPortFree(host: string, port: number, what: string): Promise<void> {
  const problem = await portProblem(host, port);
  if (problem) usage(`${what} ${port} ${problem === 'EADDRINUSE' ? 'is already in use' : `cannot be used (${problem})`}`);
}

/** `--etcd http://h1:2379,http://h2:2379` and `--etcd-prefix /quorumfs/`: bad forms are usage
 * errors (one line, exit code 2). */
export function etcdArg(text: string, prefix: string): { endpoints: string[]; prefix: string } {
  const endpoints = text.split(',').map((s) => s.trim());
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      usage(`--etcd: '${endpoint}' is not a URL (give http://host:port, comma-separated)`);
    }
    if (url.protocol !== 'http:' || !url.port || url.pathname !== '/' || url.search !== '' || url.username !== '') {
      usage(`--etcd: '${endpoint}' is not an etcd client URL like http://host:2379`);
    }
  }
  if (!/^\/[\w./-]*\/$/.test(prefix)) usage(`--etcd-prefix '${prefix}' must start and end with / (letters, digits, . _ - / between)`);
  return { endpoints, prefix };
}
