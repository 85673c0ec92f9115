// Real etcd members for tests: Debian's `etcd` (3.4) in a temporary directory, one member on
// loopback ephemeral ports or a cluster of several (each optionally inside a network namespace:
// `wrap` is the argv prefix that enters it). Each member is stopped by its PID, its directory
// removed. Ready when the member logs that it serves clients.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePorts } from './cluster.js';

export interface EtcdMemberSpec {
  name: string;
  /** The address it listens on and advertises. */
  host: string;
  clientPort: number;
  peerPort: number;
  /** Argv prefix that runs it elsewhere (e.g. ['nsenter', '--net=/run/netns/h1']). */
  wrap?: string[];
}

export class EtcdMember {
  private stderr = '';
  readonly exited: Promise<void>;

  private constructor(
    readonly spec: EtcdMemberSpec,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stderr!.setEncoding('utf8').on('data', (t: string) => {
      this.stderr = (this.stderr + t).slice(-20_000);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get clientUrl(): string {
    return `http://${this.spec.host}:${this.spec.clientPort}`;
  }

  get log(): string {
    return this.stderr;
  }

  /** Starts one member of the cluster `members` (all of them name their peers alike). */
  static async start(spec: EtcdMemberSpec, members: EtcdMemberSpec[], dir?: string): Promise<EtcdMember> {
    const dataDir = dir ?? (await mkdtemp(path.join(tmpdir(), `qfs-etcd-${spec.name}-`)));
    const peer = (m: EtcdMemberSpec): string => `http://${m.host}:${m.peerPort}`;
    const args = [
      '--name', spec.name,
      '--data-dir', path.join(dataDir, 'data'),
      '--listen-client-urls', `http://${spec.host}:${spec.clientPort}`,
      '--advertise-client-urls', `http://${spec.host}:${spec.clientPort}`,
      '--listen-peer-urls', peer(spec),
      '--initial-advertise-peer-urls', peer(spec),
      '--initial-cluster', members.map((m) => `${m.name}=${peer(m)}`).join(','),
      '--initial-cluster-state', 'new',
      // One token for every member of a cluster (its peers' addresses name it).
      '--initial-cluster-token', `qfs-${createHash('sha256').update(members.map(peer).join(',')).digest('hex').slice(0, 16)}`,
      // Test-sized timing: a lost leader is noticed in about a second, not five.
      '--heartbeat-interval', '100',
      '--election-timeout', '1000',
    ];
    const wrap = spec.wrap ?? [];
    const argv = [...wrap, 'etcd', ...args];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    const member = new EtcdMember(spec, dataDir, child);
    await member.ready();
    return member;
  }

  /** One member on loopback, on free ports. */
  static async single(): Promise<EtcdMember> {
    const [clientPort, peerPort] = await freePorts(2);
    const spec = { name: 'solo', host: '127.0.0.1', clientPort: clientPort!, peerPort: peerPort! };
    return EtcdMember.start(spec, [spec]);
  }

  private async ready(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stderr.includes('ready to serve client requests')) {
      if (!this.alive) throw new Error(`etcd ${this.spec.name} exited before serving:\n${this.stderr}`);
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(`etcd ${this.spec.name} did not serve within ${timeoutMs} ms:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Ends it as a crash would. */
  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  /** Stops it by PID and removes its directory. */
  async stop(): Promise<void> {
    if (this.alive) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts every member of a new cluster at once: each waits for a quorum of the others before it
 * serves, so one after another would never finish. If any fails, the ones that started are stopped.
 */
export async function startEtcdCluster(specs: EtcdMemberSpec[]): Promise<EtcdMember[]> {
  const started = await Promise.allSettled(specs.map((spec) => EtcdMember.start(spec, specs)));
  const members = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(members.map((m) => m.stop()));
    throw failed.reason;
  }
  return members;
}

