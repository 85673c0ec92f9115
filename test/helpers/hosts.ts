// Real hosts for multi-host tests: each host is a network namespace with one veth into a bridge in
// the root namespace, on a private /24 that no route here overlaps (claimed with a lock file, so two
// runs never share one). Processes enter only the network namespace (nsenter --net), so FUSE mounts
// made there stay visible to the test. Every process is killed by PID; names carry the creating PID
// so the next run removes what a crashed run left behind. Needs root and iproute2.

import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { EtcdMemberSpec } from './etcd.js';

const run = promisify(execFile);

/** Limits: interface names carry the PID, an instance letter and the host index in 15 chars. */
export const hostsLimits = {
  maxHostsPerInstance: 99,
  maxInstancesPerProcess: 26,
  commandTimeoutMs: 10_000,
  killTimeoutMs: 10_000,
} as const;

const nsenterPath = '/usr/bin/nsenter';
const lockDir = '/run/qfs-hosts';
/** Subnets are 10.213.N.0/24; N is tried from the PID onward. */
const subnetBase = [10, 213] as const;
/** Our names: qfs<pid><instance letter> then h<i> (namespace), v<i> (veth) or br (bridge). */
const namePattern = /^qfs(\d+)([a-z])(h\d+|v\d+|br)$/;

let instancesMade = 0;

/** Thrown when the machine cannot make hosts (not root, no netns): one clear reason. */
export class HostsUnavailableError extends Error {
  constructor(reason: string) {
    super(`network-namespace hosts are unavailable: ${reason} (the hosts tier needs root with ip netns, veth and bridges)`);
    this.name = 'HostsUnavailableError';
  }
}

async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args, { timeout: hostsLimits.commandTimeoutMs });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

/** Runs `ip`, ignoring failure: for removals of what may already be gone. */
async function ipQuiet(args: string[]): Promise<void> {
  await ip(args).catch(() => undefined);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A zombie holds a PID but no longer runs; PID 1 here may never reap it. */
async function isZombie(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true; // gone
  }
}

/** PIDs of running processes inside network namespace `name` (empty if it does not exist). */
export async function netnsPids(name: string): Promise<number[]> {
  const out = await ip(['netns', 'pids', name]).catch(() => '');
  const pids = out.split(/\s+/).filter(Boolean).map(Number).filter((p) => p !== process.pid);
  const running: number[] = [];
  for (const pid of pids) if (!(await isZombie(pid))) running.push(pid);
  return running;
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function listNetns(): Promise<string[]> {
  const out = await ip(['-j', 'netns', 'list']).catch(() => '');
  if (out.trim() === '') return [];
  return (JSON.parse(out) as Array<{ name: string }>).map((n) => n.name);
}

async function listLinks(): Promise<string[]> {
  const out = await ip(['-j', 'link', 'show']);
  return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname);
}

/** Kills every process in the namespaces, then deletes namespaces and links that `owned` picks. */
async function removeNamed(owned: (name: string) => boolean): Promise<void> {
  const spaces = (await listNetns()).filter(owned);
  for (const ns of spaces) {
    for (let round = 0; round < 50; round++) {
      const pids = await netnsPids(ns);
      if (pids.length === 0) break;
      pids.forEach(killPid);
      await sleep(20);
    }
    await ipQuiet(['netns', 'del', ns]);
  }
  const links = (await listLinks()).filter(owned);
  // veths before the bridge they are enslaved to; deleting one end removes its peer too.
  for (const link of links.filter((l) => !l.endsWith('br'))) await ipQuiet(['link', 'del', link]);
  for (const link of links.filter((l) => l.endsWith('br'))) await ipQuiet(['link', 'del', link]);
}

/** Removes hosts, links and subnet locks of earlier runs whose creating process is gone. */
async function removeStale(): Promise<void> {
  await removeNamed((name) => {
    const m = namePattern.exec(name);
    return m !== null && !pidAlive(Number(m[1]));
  });
  const locks = await readdir(lockDir).catch(() => [] as string[]);
  for (const lock of locks) {
    const owner = Number((await readFile(`${lockDir}/${lock}`, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(owner) || owner <= 0 || !pidAlive(owner)) await rm(`${lockDir}/${lock}`, { force: true });
  }
}

function parseIpv4(text: string): number {
  const parts = text.split('.').map(Number);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Prefixes (start, length) of every IPv4 route in every table here. */
async function routedPrefixes(): Promise<Array<{ start: number; bits: number }>> {
  const out = await ip(['-4', 'route', 'show', 'table', 'all']);
  const types = new Set(['local', 'broadcast', 'unicast', 'unreachable', 'blackhole', 'prohibit', 'throw', 'multicast', 'anycast', 'nat']);
  const prefixes: Array<{ start: number; bits: number }> = [];
  for (const line of out.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    const dst = types.has(tokens[0]!) ? tokens[1] : tokens[0];
    if (!dst || dst === 'default') continue;
    const [addr, len] = dst.split('/');
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(addr!)) continue;
    prefixes.push({ start: parseIpv4(addr!), bits: len === undefined ? 32 : Number(len) });
  }
  return prefixes;
}

function overlaps(a: { start: number; bits: number }, b: { start: number; bits: number }): boolean {
  const bits = Math.min(a.bits, b.bits);
  if (bits === 0) return true;
  const mask = (~0 << (32 - bits)) >>> 0;
  return ((a.start & mask) >>> 0) === ((b.start & mask) >>> 0);
}

/** Claims a free 10.213.N.0/24 with a lock file holding our PID; returns N. */
async function claimSubnet(): Promise<number> {
  await mkdir(lockDir, { recursive: true });
  const routes = await routedPrefixes();
  for (let i = 0; i < 256; i++) {
    const n = (process.pid + i) % 256;
    const candidate = { start: parseIpv4(`${subnetBase[0]}.${subnetBase[1]}.${n}.0`), bits: 24 };
    if (routes.some((r) => overlaps(r, candidate))) continue;
    try {
      const file = await open(`${lockDir}/subnet-${n}`, 'wx');
      await file.writeFile(`${process.pid}\n`);
      await file.close();
      return n;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`no free /24 left in ${subnetBase.join('.')}.0.0/16`);
}

/** Throws HostsUnavailableError unless this process can make hosts (root, ip netns, nsenter). */
export async function assertHostsAvailable(): Promise<void> {
  if (process.platform !== 'linux') throw new HostsUnavailableError(`platform is ${process.platform}, not linux`);
  if (process.getuid?.() !== 0) throw new HostsUnavailableError(`running as uid ${process.getuid?.()}, not root`);
  if (!existsSync(nsenterPath)) throw new HostsUnavailableError(`${nsenterPath} is missing`);
  try {
    await run('ip', ['netns', 'list'], { timeout: hostsLimits.commandTimeoutMs });
  } catch (e) {
    throw new HostsUnavailableError(`\`ip netns list\` failed: ${(e as Error).message}`);
  }
}

/** Options for Host.run: those of child_process.spawn. */
export type HostRunOptions = SpawnOptions;

/** One host: a network namespace with one address, the processes started in it, its link. */
export class Host {
  /** Argv prefix that runs a command inside this host's network namespace (and nothing else). */
  readonly wrap: readonly string[];
  private readonly children = new Set<ChildProcess>();

  constructor(
    /** Network namespace name, /run/netns/<name>. */
    readonly name: string,
    /** Its IPv4 address on the hosts' /24. */
    readonly address: string,
    /** The root-namespace end of its veth, the bridge port that cut() takes down. */
    readonly linkName: string,
  ) {
    this.wrap = [nsenterPath, `--net=/run/netns/${name}`, '--'];
  }

  /**
   * Spawns argv inside this host, tracked until it exits. The caller owns the ChildProcess and its
   * streams (and should listen for 'error' if the program may be missing).
   */
  run(argv: readonly string[], options: HostRunOptions = {}): ChildProcess {
    if (argv.length === 0) throw new Error('Host.run: empty argv');
    const full = [...this.wrap, ...argv];
    const child = spawn(full[0]!, full.slice(1), options);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  /** PIDs of the tracked processes still running. */
  get trackedPids(): number[] {
    return [...this.children].filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined).map((c) => c.pid!);
  }

  /** PIDs of everything running inside this host, tracked or not (children of tracked ones too). */
  async pids(): Promise<number[]> {
    return netnsPids(this.name);
  }

  /**
   * A crash: SIGKILLs, by PID, every tracked process and every process inside the namespace, until
   * none is left, and waits for the tracked ones to be reaped. Throws if some survive the limit.
   */
  async kill(): Promise<void> {
    const deadline = Date.now() + hostsLimits.killTimeoutMs;
    const reaped = [...this.children].map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) resolve();
      else c.once('exit', () => resolve());
    }));
    for (;;) {
      const victims = new Set([...this.trackedPids, ...(await this.pids())]);
      if (victims.size === 0) break;
      victims.forEach(killPid);
      if (Date.now() > deadline) throw new Error(`host ${this.name}: processes ${[...victims].join(', ')} survive SIGKILL`);
      await sleep(20);
    }
    await Promise.all(reaped);
  }

  /**
   * Pulls its cable: the bridge port goes down, so the host's own end loses carrier and frames stop
   * both ways; addresses and routes stay, so TCP connections stall (no RST, no error), as on a real cut.
   */
  async cut(): Promise<void> {
    await ip(['link', 'set', this.linkName, 'down']);
  }

  /** Plugs the cable back in; stalled connections resume with the next retransmission. */
  async restore(): Promise<void> {
    await ip(['link', 'set', this.linkName, 'up']);
  }
}

/** A set of hosts on one bridge. Create with Hosts.create; destroy() in after(), always. */
export class Hosts {
  readonly hosts: Host[] = [];
  private destroyed = false;
  private subnet: number | undefined;

  private constructor(
    /** Every name of this instance starts with it: qfs<pid><letter>. */
    readonly prefix: string,
  ) {}

  get bridgeName(): string {
    return `${this.prefix}br`;
  }

  /** The bridge's address in the root namespace: the test process reaches hosts through it. */
  get bridgeAddress(): string {
    return `${subnetBase[0]}.${subnetBase[1]}.${this.subnet}.254`;
  }

  /** The hosts' /24, e.g. 10.213.7.0/24. */
  get cidr(): string {
    return `${subnetBase[0]}.${subnetBase[1]}.${this.subnet}.0/24`;
  }

  host(index: number): Host {
    const h = this.hosts[index];
    if (!h) throw new Error(`no host ${index} (of ${this.hosts.length})`);
    return h;
  }

  /**
   * Makes `count` hosts (addresses .1 to .count) on a new bridge, after removing leftovers of dead
   * runs. Throws HostsUnavailableError when the machine cannot; on any other failure removes what it
   * made before throwing.
   */
  static async create(count: number): Promise<Hosts> {
    if (!Number.isInteger(count) || count < 1 || count > hostsLimits.maxHostsPerInstance) {
      throw new Error(`Hosts.create: count ${count} outside 1..${hostsLimits.maxHostsPerInstance}`);
    }
    if (instancesMade >= hostsLimits.maxInstancesPerProcess) throw new Error('Hosts.create: too many instances in this process');
    await assertHostsAvailable();
    await removeStale();
    const hosts = new Hosts(`qfs${process.pid}${String.fromCharCode(97 + instancesMade++)}`);
    try {
      await hosts.build(count);
    } catch (e) {
      await hosts.destroy().catch(() => undefined);
      throw e;
    }
    return hosts;
  }

  private async build(count: number): Promise<void> {
    this.subnet = await claimSubnet();
    const br = this.bridgeName;
    // No STP delay; bridged frames skip iptables (br_netfilter is loaded here), nothing is routed.
    await ip(['link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'nf_call_iptables', '0']);
    await ip(['addr', 'add', `${this.bridgeAddress}/24`, 'dev', br]);
    await ip(['link', 'set', br, 'up']);
    for (let i = 1; i <= count; i++) {
      const ns = `${this.prefix}h${i}`;
      const veth = `${this.prefix}v${i}`;
      const address = `${subnetBase[0]}.${subnetBase[1]}.${this.subnet}.${i}`;
      await ip(['netns', 'add', ns]);
      this.hosts.push(new Host(ns, address, veth));
      await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await ip(['link', 'set', veth, 'master', br, 'up']);
      await ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  }

  /**
   * Kills every process on every host, deletes the namespaces, veths and the bridge, frees the
   * subnet. Idempotent; removes by name, so it also cleans up after a create that failed halfway.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const kills = await Promise.allSettled(this.hosts.map((h) => h.kill()));
    await removeNamed((name) => name.startsWith(this.prefix) && namePattern.test(name));
    if (this.subnet !== undefined) await rm(`${lockDir}/subnet-${this.subnet}`, { force: true });
    this.destroyed = true;
    const failed = kills.find((k): k is PromiseRejectedResult => k.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** Etcd member specs for a cluster with one member on each host (fixed ports: each host has its own). */
export function etcdSpecsOn(hosts: readonly Host[], ports: { clientPort: number; peerPort: number } = { clientPort: 2379, peerPort: 2380 }): EtcdMemberSpec[] {
  return hosts.map((h, i) => ({
    name: `etcd${i + 1}`,
    host: h.address,
    clientPort: ports.clientPort,
    peerPort: ports.peerPort,
    wrap: [...h.wrap],
  }));
}
