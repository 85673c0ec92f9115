// quorumfs over seven real hosts (network namespaces on one bridge): three etcd members (sharing
// hosts with three data servers), a fourth data server, two mediators and a FUSE mount, each
// process inside its host. While a self-verifying load runs through the mount (every byte read
// back is checked against what was written; every acknowledged file is read again at the end),
// the test kills the leading mediator's host, kills an etcd member, cuts a data server's link and
// restores it, and cuts the leader off from everything. It passes if no wrong byte is ever read,
// no acknowledged write is lost, errors happen only inside the failover windows it measures, and
// the cluster is fully redundant again at the end.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import { decodeCredentialFile } from '../../src/common/credentials.js';
import type { StatusReport } from '../../src/protocol/mediator-messages.js';
import { CLI, waitFor } from '../helpers/cluster.js';
import { startEtcdCluster, type EtcdMember } from '../helpers/etcd.js';
import { Hosts, etcdSpecsOn, type Host } from '../helpers/hosts.js';
import { startMount, type Mount } from '../helpers/mount.js';
import { ServerProcess, shareClusterSecret } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
const MEDIATOR_PORT = 7000;
const META_PORT = 7001;
const DATA_PORT = 7100;
/** Each call of the mount's has this deadline: a cut host is given up on after it. */
const MOUNT_TIMEOUT_MS = 4_000;

interface LoadError {
  atMs: number;
  op: string;
  message: string;
}

/** Writes files through the mount and reads acknowledged ones back, checking every byte. */
class VerifyingLoad {
  readonly acked = new Map<string, Buffer>();
  readonly errors: LoadError[] = [];
  readonly wrong: string[] = [];
  lastWriteOkMs = 0;
  writesOk = 0;
  readsOk = 0;
  private running = true;
  private done: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async loop(): Promise<void> {
    for (let i = 0; this.running; i++) {
      const name = `load-${i}`;
      // Sizes from a few bytes to over a block: small files and multi-block ones.
      const data = randomBytes([17, 4096, 70_000, 1_100_000][i % 4]!);
      try {
        await writeFile(path.join(this.dir, name), data);
        this.acked.set(name, data);
        this.writesOk++;
        this.lastWriteOkMs = Date.now();
      } catch (err) {
        this.errors.push({ atMs: Date.now(), op: `write ${name}`, message: (err as Error).message });
      }
      const names = [...this.acked.keys()];
      const pick = names[Math.floor(Math.random() * names.length)];
      if (pick !== undefined) {
        try {
          const got = await readFile(path.join(this.dir, pick));
          if (!got.equals(this.acked.get(pick)!)) this.wrong.push(`${pick}: ${got.length} bytes read, ${this.acked.get(pick)!.length} written`);
          else this.readsOk++;
        } catch (err) {
          this.errors.push({ atMs: Date.now(), op: `read ${pick}`, message: (err as Error).message });
        }
      }
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  /** Resolves with the time from `sinceMs` to the first write acknowledged after it. */
  async writesResumed(sinceMs: number, timeoutMs: number): Promise<number> {
    const okBefore = this.writesOk;
    await waitFor(() => this.writesOk > okBefore + 1 && this.lastWriteOkMs > sinceMs, timeoutMs, 'writes through the mount to succeed again');
    return this.lastWriteOkMs - sinceMs;
  }
}

describe('several hosts', { timeout: 600_000 }, () => {
  let hosts: Hosts | undefined;
  let etcd: EtcdMember[] = [];
  let root: string;
  const servers: ServerProcess[] = [];
  let mount: Mount | undefined;
  let client: QuorumfsClient | undefined;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'qfs-hosts-'));
    hosts = await Hosts.create(7);
    etcd = await startEtcdCluster(etcdSpecsOn(hosts.hosts.slice(0, 3)));
  });

  after(async () => {
    client?.close();
    await mount?.stop().catch(() => undefined);
    await Promise.all(servers.map((s) => s.stop()));
    await Promise.all(etcd.map((m) => m.stop()));
    await hosts?.destroy();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const spawnOn = (host: Host) => (argv: string[], env: NodeJS.ProcessEnv) => host.run(argv, { stdio: ['ignore', 'pipe', 'pipe'], env });

  function startMediator(host: Host, dataDir: string): ServerProcess {
    const urls = etcd.map((m) => m.clientUrl).join(',');
    const args = ['mediator', '2', '2', String(META_PORT), '--host', host.address, '--port', String(MEDIATOR_PORT), '--data-dir', dataDir, '--etcd', urls, '--spare-ports', '7200-7209'];
    const process = ServerProcess.start({ args, spawnWith: spawnOn(host) });
    servers.push(process);
    return process;
  }

  it('survives the leader\'s host, an etcd member, a data server\'s link and a partitioned leader, with no wrong byte and no lost write', async () => {
    const h = hosts!.hosts;
    const [dataHosts, mediatorHosts, mountHost] = [h.slice(0, 4), [h[4]!, h[5]!], h[6]!];
    const mediatorAt = (host: Host): string => `${host.address}:${MEDIATOR_PORT}`;
    const dirs = [path.join(root, 'mediator-a'), path.join(root, 'mediator-b')];

    // Two mediators (the second with the first one's cluster secret) and four data servers
    // that join them from their own hosts.
    const mediators = [startMediator(mediatorHosts[0]!, dirs[0]!)];
    await mediators[0]!.waitForLog('leading', 30_000);
    await shareClusterSecret(dirs[0]!, dirs[1]!);
    mediators.push(startMediator(mediatorHosts[1]!, dirs[1]!));
    await mediators[1]!.waitForLog('mediator serving', 30_000);
    const secretFile = path.join(dirs[0]!, 'cluster.secret');
    const join = mediatorHosts.map(mediatorAt).join(',');
    for (const [i, host] of dataHosts.entries()) {
      const args = ['data-server', '--host', host.address, '--port', String(DATA_PORT), '--dir', path.join(root, `data-${i}`), '--join', join, '--cluster-secret', secretFile];
      const process = ServerProcess.start({ args, spawnWith: spawnOn(host) });
      servers.push(process);
      await process.waitForLog('joined the cluster', 30_000);
    }

    // The operator's credentials and a client's, issued from the secret.
    const issue = async (role: string): Promise<string> => {
      const out = path.join(root, `${role}.credential`);
      await execFileP(process.execPath, [CLI, 'credentials', 'issue', '--role', role, '--data-dir', dirs[0]!, '--out', out]);
      return out;
    };
    const adminFile = await issue('admin');
    const clientFile = await issue('client');
    client = new QuorumfsClient(mediatorHosts.map((m) => ({ host: m.address, port: MEDIATOR_PORT })), {
      credentials: decodeCredentialFile(await readFile(adminFile, 'utf8'), adminFile),
      defaultTimeoutMs: 5_000,
    });
    const status = async (): Promise<StatusReport | undefined> => client!.status().catch(() => undefined);
    const liveData = (s: StatusReport | undefined): number => s?.servers.filter((x) => x.role === 'data' && x.state === 'live').length ?? 0;
    await waitFor(async () => liveData(await status()) === 4, 30_000, 'four live data servers');
    const first = (await status())!;
    assert.equal(first.leader, mediatorAt(mediatorHosts[0]!));
    assert.deepEqual(first.servers.filter((s) => s.role === 'data').map((s) => s.host).sort(), dataHosts.map((d) => d.address).sort());

    mount = await startMount(join, {
      timeoutMs: MOUNT_TIMEOUT_MS,
      flags: ['--credentials', clientFile],
      spawnWith: spawnOn(mountHost),
    });
    const load = new VerifyingLoad(mount.dir);
    load.start();
    await load.writesResumed(Date.now(), 30_000);

    const windows: Array<{ fault: string; fromMs: number; toMs: number; tookMs: number }> = [];
    const fault = async (name: string, inject: () => Promise<void>, recovered: (sinceMs: number) => Promise<void>): Promise<void> => {
      const fromMs = Date.now();
      await inject();
      await recovered(fromMs);
      const tookMs = await load.writesResumed(fromMs, 60_000);
      windows.push({ fault: name, fromMs, toMs: Date.now(), tookMs });
      console.log(`# ${name}: writes through the mount acknowledged again after ${tookMs} ms`);
      await new Promise((r) => setTimeout(r, 2_000)); // the load runs on between faults
    };
    const leaderHost = async (): Promise<Host> => {
      let leader: string | undefined;
      await waitFor(async () => (leader = (await status())?.leader) !== undefined, 30_000, 'a leader');
      return mediatorHosts.find((m) => mediatorAt(m) === leader)!;
    };

    // 1. The leader's host dies; the other mediator takes over. The host comes back (its
    //    mediator restarts and follows).
    const firstLeader = await leaderHost();
    await fault('the leader\'s host killed', () => firstLeader.kill(), async () => {
      await waitFor(async () => (await status())?.leader === mediatorAt(mediatorHosts.find((m) => m !== firstLeader)!), 30_000, 'the other mediator to lead');
    });
    const restarted = startMediator(firstLeader, dirs[mediatorHosts.indexOf(firstLeader)]!);
    await restarted.waitForLog('mediator serving', 30_000);

    // 2. An etcd member dies (two of three remain: a quorum).
    await fault('an etcd member killed', async () => etcd[0]!.kill(), async () => undefined);

    // 3. A data server's link is cut long enough to be replaced, then restored.
    const cutData = dataHosts[3]!;
    await fault('a data server\'s link cut', () => cutData.cut(), async () => {
      await waitFor(async () => (await status())?.servers.some((s) => s.host === cutData.address && s.state === 'replaced') === true, 30_000, 'the cut data server to be replaced');
    });
    await cutData.restore();

    // 4. The leader is cut off from etcd and from everything else: it must stop acting, and the
    //    other takes over. Then its link comes back.
    const partitioned = await leaderHost();
    const partitionedMediator = servers.filter((s) => s.alive && s.args.includes(partitioned.address)).find((s) => s.args[0] === 'mediator')!;
    await fault('the leader partitioned', () => partitioned.cut(), async () => {
      await partitionedMediator.waitForLog('no longer the leader', 15_000);
      await waitFor(async () => {
        const leader = (await status())?.leader;
        return leader !== undefined && leader !== mediatorAt(partitioned);
      }, 30_000, 'another mediator to lead');
    });
    await partitioned.restore();

    // Full redundancy again: four live data servers, every block with all its copies.
    await waitFor(async () => {
      const s = await status();
      return liveData(s) === 4 && s?.fullyReplicated === true;
    }, 120_000, 'full redundancy');
    await load.stop();

    // Every acknowledged file, read again through the mediators (verified reads, not the page cache).
    for (const [name, data] of load.acked) {
      const got = await client.readFile(`/${name}`);
      assert.ok(got.equals(data), `${name}: acknowledged, but read back ${got.length} bytes that differ`);
    }
    assert.deepEqual(load.wrong, [], 'bytes read back differ from those written');
    // Errors only inside the failover windows (an operation in flight when the window closed
    // may end up to one mount deadline later).
    const outside = load.errors.filter((e) => !windows.some((w) => e.atMs >= w.fromMs && e.atMs <= w.toMs + MOUNT_TIMEOUT_MS * 2));
    assert.deepEqual(outside, [], 'errors outside every failover window');
    console.log(`# ${load.acked.size} files acknowledged, ${load.readsOk} verified reads, ${load.errors.length} errors, all inside the windows`);
    for (const w of windows) console.log(`# window: ${w.fault}: ${w.tookMs} ms to acknowledged writes (${w.toMs - w.fromMs} ms until recovered)`);
    assert.ok(load.acked.size > 20, `only ${load.acked.size} writes acknowledged`);
  });
});
