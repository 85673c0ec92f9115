// Several mediators on one etcd, as real processes on loopback with a real etcd: one leads and
// serves, the other answers NOT_LEADER; data servers join from the command line; when the leader
// dies the other takes over (the time until writes succeed again is measured); a leader that was
// paused past its lease is deposed and, resumed, commits nothing.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import { codeOf } from '../../src/common/errors.js';
import { ROOT_INO } from '../../src/common/types.js';
import { readClusterSecret } from '../../src/common/cluster-secret.js';
import { checksumOf } from '../../src/common/checksum.js';
import { metaMethods } from '../../src/protocol/meta-messages.js';
import { MEDIATOR_IDENTITY, credentialFor } from '../../src/services/server-security.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { freePorts, runCli, waitFor } from '../helpers/cluster.js';
import { EtcdMember } from '../helpers/etcd.js';
import { ServerProcess, shareClusterSecret } from '../helpers/server-process.js';
import { loggedMetricsUrl, samplesOf, scrape, targets } from '../helpers/prom-text.js';

const LOOP = '127.0.0.1';
let mediatorsStarted = 0;

interface MediatorSetup {
  port: number;
  metaPort: number;
  dataDir: string;
  process: ServerProcess;
}

describe('several mediators on etcd', () => {
  let etcd: EtcdMember;
  let root: string;
  const started: ServerProcess[] = [];
  const clients: QuorumfsClient[] = [];

  before(async () => {
    etcd = await EtcdMember.single();
    root = await mkdtemp(path.join(os.tmpdir(), 'qfs-mediators-'));
  });

  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(started.map((p) => p.stop()));
    await etcd?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** A mediator on etcd under `prefix`, with `dataServers` of its own; a second one gets the
   * first one's cluster secret. */
  async function mediator(name: string, prefix: string, dataServers: number, secretFrom?: string, extraArgs: string[] = []): Promise<MediatorSetup> {
    const [port, meta, ...ports] = await freePorts(2 + dataServers);
    // A spare range of its own (a taken port in it is skipped).
    const firstSpare = 61_000 + 20 * mediatorsStarted++;
    const spares = `${firstSpare}-${firstSpare + 9}`;
    const dataDir = path.join(root, name);
    if (secretFrom) await shareClusterSecret(secretFrom, dataDir);
    const args = ['mediator', '2', '2', String(meta), ...ports.map(String), '--port', String(port), '--data-dir', dataDir, '--etcd', etcd.clientUrl, '--etcd-prefix', prefix, '--spare-ports', spares, '--fault-injection', ...extraArgs];
    const process = ServerProcess.start({ args });
    started.push(process);
    await process.waitForLog('mediator serving', 30_000);
    return { port: port!, metaPort: meta!, dataDir, process };
  }

  /** A data server on its own port that joins through `via`, with `secretOf`'s cluster secret. */
  async function joiningDataServer(via: MediatorSetup, secretOf: MediatorSetup, spare = false, extraArgs: string[] = []): Promise<{ port: number; process: ServerProcess }> {
    const [port] = await freePorts(1);
    const args = ['data-server', '--port', String(port), '--dir', path.join(root, `joined-${port}`), '--join', `${LOOP}:${via.port}`, '--cluster-secret', path.join(secretOf.dataDir, 'cluster.secret'), ...extraArgs];
    const process = ServerProcess.start({ args: spare ? [...args, '--spare'] : args });
    started.push(process);
    return { port: port!, process };
  }

  function clientOf(...mediators: MediatorSetup[]): QuorumfsClient {
    const client = new QuorumfsClient(mediators.map((m) => ({ host: LOOP, port: m.port })), { defaultTimeoutMs: 10_000 });
    clients.push(client);
    return client;
  }

  async function liveData(client: QuorumfsClient, count: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => {
      const status = await client.status().catch(() => undefined);
      return status !== undefined && status.servers.filter((s) => s.role === 'data' && s.state === 'live').length === count;
    }, timeoutMs, `${count} live data servers`);
  }

  it('bad --etcd, --join and --spare forms are one line and exit code 2; an etcd nobody answers at is one line and exit code 1', async () => {
    const [port] = await freePorts(1);
    for (const [args, message] of [
      [['mediator', '2', '2', String(port), '--etcd', 'ftp://127.0.0.1:2379'], /--etcd: 'ftp:\/\/127.0.0.1:2379' is not an etcd client URL/],
      [['mediator', '2', '2', String(port), '--etcd', `${etcd.clientUrl},nonsense`], /--etcd: 'nonsense' is not a URL/],
      [['mediator', '2', '2', String(port), '--etcd', etcd.clientUrl, '--etcd-prefix', 'quorumfs'], /--etcd-prefix 'quorumfs' must start and end with \//],
      [['mediator', '2', '2', String(port), '--etcd', etcd.clientUrl, '--leader-ttl-s', '1'], /--leader-ttl-s must be at least 2/],
      [['mediator', '2', '2', String(port), '--etcd', etcd.clientUrl, '--host', '0.0.0.0'], /--host is the address the other mediators and the mounts reach/],
      [['mediator', '2', '2', String(port)], /give at least one data server port/],
      [['meta-server', '--port', String(port), '--dir', root, '--etcd', 'http://x'], /not an etcd client URL/],
      [['data-server', '--port', String(port), '--dir', root, '--spare'], /--spare is for a data server that joins a cluster: give --join/],
      [['data-server', '--port', String(port), '--dir', root, '--join', '127.0.0.1:70000'], /--join/],
    ] as const) {
      const r = await runCli([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const [dead, meta] = await freePorts(2);
    const r = await runCli(['mediator', '2', '2', String(meta), '--port', String(port), '--data-dir', path.join(root, 'no-etcd'), '--etcd', `http://127.0.0.1:${dead}`], 30_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /etcd/);
  });

  it('one leads and serves; the other answers NOT_LEADER; a data server joins from its command line, its metrics listed by the leader alone', async () => {
    const metrics = ['--metrics-port', '0'];
    const a = await mediator('a1', '/t1/', 2, undefined, metrics);
    await a.process.waitForLog('leading', 20_000);
    const b = await mediator('b1', '/t1/', 1, a.dataDir, metrics);
    const both = clientOf(b, a); // the follower first: the client must move on to the leader
    await liveData(both, 3);
    const status = await both.status();
    assert.equal(status.leader, `${LOOP}:${a.port}`);
    assert.deepEqual(status.mediators, [`${LOOP}:${a.port}`, `${LOOP}:${b.port}`]);
    const printed = await runCli(['status', '--mediator', `${LOOP}:${b.port},${LOOP}:${a.port}`]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, new RegExp(`mediators: ${LOOP}:${a.port} \\(leader\\), ${LOOP}:${b.port}`));
    assert.deepEqual(status.servers.filter((s) => s.role === 'data').map((s) => s.host), [LOOP, LOOP, LOOP]);

    // The leader's event log says it was elected; the follower's does not.
    const eventsOf = async (m: MediatorSetup): Promise<string[]> => {
      const r = await runCli(['events', '--json', '--mediator', `${LOOP}:${m.port}`]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { kind: string }).kind);
    };
    assert.ok((await eventsOf(a)).includes('leader-elected'));
    assert.ok(!(await eventsOf(b)).includes('leader-elected'));
    const onlyB = clientOf(b);
    await assert.rejects(onlyB.rpc.call((await import('../../src/protocol/mediator-messages.js')).mediatorMethods.status, {}, { timeoutMs: 1_500 }), (err) => {
      assert.equal(codeOf(err), 'NOT_LEADER');
      return true;
    });

    const { process: joiner, port: joinerPort } = await joiningDataServer(b, a, false, metrics);
    await joiner.waitForLog('joined the cluster', 20_000);
    await liveData(both, 4);

    // The leader's /targets lists the joined server's metrics, which it serves; the follower's
    // lists only itself and its own children, so a scrape config of both lists no server twice.
    const joinerId = `${LOOP}:${joinerPort}`;
    const leaderTargets = await targets(loggedMetricsUrl(a.process.stderr(), 'mediator')!);
    const followerTargets = await targets(loggedMetricsUrl(b.process.stderr(), 'mediator')!);
    const listed = leaderTargets.find((g) => g.labels.server === joinerId);
    assert.ok(listed, `the leader lists ${joinerId}: ${JSON.stringify(leaderTargets)}`);
    assert.equal(listed.labels.role, 'data');
    assert.equal(listed.targets[0], new URL(loggedMetricsUrl(joiner.stderr(), 'data-server')!).host);
    assert.ok(!followerTargets.some((g) => g.labels.server === joinerId), JSON.stringify(followerTargets));
    assert.equal(followerTargets.filter((g) => g.labels.role === 'data').length, 1, 'the follower lists its own data server');
    const joinerScrape = await scrape(`http://${listed.targets[0]}/metrics`);
    assert.ok(samplesOf(joinerScrape, 'quorumfs_rpc_requests_total').length > 0);

    const file = await both.create(ROOT_INO, 'hello', 0o644);
    const bytes = Buffer.from('written through the leader, kept on four servers');
    await both.write(file.ino, 0, bytes);
    assert.deepEqual(await both.read(file.ino, 0, bytes.length), bytes);
  });

  it('when the leader dies the other takes over: writes succeed again, the data written before is intact and fully replicated again', async () => {
    const a = await mediator('a2', '/t2/', 2);
    await a.process.waitForLog('leading', 20_000);
    const b = await mediator('b2', '/t2/', 2, a.dataDir);
    const both = clientOf(a, b);
    await liveData(both, 4);
    const file = await both.create(ROOT_INO, 'before', 0o644);
    const before = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    for (let i = 0; i < before.length; i += 4093) before[i] = i % 251;
    await both.write(file.ino, 0, before);

    const killedAt = Date.now();
    a.process.signal('SIGKILL'); // its metadata server and data servers go with it (exit with parent)
    let failoverMs = 0;
    const probe = await both.create(ROOT_INO, `probe-${killedAt}`, 0o644).catch(() => undefined);
    await waitFor(async () => {
      try {
        const target = probe ?? (await both.lookup(ROOT_INO, `probe-${killedAt}`).catch(() => both.create(ROOT_INO, `probe-${killedAt}`, 0o644)));
        await both.write(target.ino, 0, Buffer.from('after'));
        failoverMs = Date.now() - killedAt;
        return true;
      } catch {
        return false;
      }
    }, 30_000, 'a write after the leader died');
    console.log(`# failover: writes succeeded again ${failoverMs} ms after the leader was killed`);
    assert.equal((await both.status()).leader, `${LOOP}:${b.port}`);
    assert.deepEqual(await both.read(file.ino, 0, before.length), before);
    // The dead host's two data servers are replaced on the new leader's spare ports and healed.
    await waitFor(async () => {
      const status = await both.status();
      return status.fullyReplicated === true && status.servers.filter((s) => s.role === 'data' && s.state === 'live').length === 4;
    }, 60_000, 'full redundancy again');
    const status = await both.status();
    assert.equal(status.servers.filter((s) => s.role === 'data' && s.state === 'replaced').length, 2);
    assert.deepEqual(await both.read(file.ino, 0, before.length), before);
  });

  it('a joined data server that dies is replaced by a standby that joined with --spare, and healed', async () => {
    const a = await mediator('a5', '/t5/', 1);
    await a.process.waitForLog('leading', 20_000);
    const client = clientOf(a);
    const { port: memberPort, process: member } = await joiningDataServer(a, a);
    await liveData(client, 2);
    const { port: sparePort } = await joiningDataServer(a, a, true);
    await a.process.waitForLog('a standby data server joined', 20_000);
    const file = await client.create(ROOT_INO, 'kept', 0o644);
    const bytes = Buffer.alloc(2 * 1024 * 1024 + 5, 3);
    await client.write(file.ino, 0, bytes);

    member.signal('SIGKILL');
    await waitFor(async () => {
      const servers = (await client.status()).servers;
      const dead = servers.find((s) => s.port === memberPort);
      const standby = servers.find((s) => s.port === sparePort);
      return dead?.state === 'replaced' && dead.replacedBy === `${LOOP}:${sparePort}` && standby?.state === 'live';
    }, 30_000, 'the standby to replace the dead server and be healed');
    const status = await client.status();
    assert.equal(status.fullyReplicated, true);
    assert.deepEqual(status.sparePortsLeft.length, 10, 'no replacement was started on a spare port');
    assert.deepEqual(await client.read(file.ino, 0, bytes.length), bytes);
  });

  it('with no data servers, writes wait for Qw of them to join, and fail past their deadline in one clear line', async () => {
    const a = await mediator('a4', '/t4/', 0);
    await a.process.waitForLog('leading', 20_000);
    const client = clientOf(a);
    const printed = await runCli(['status', '--mediator', `${LOOP}:${a.port}`]);
    assert.match(printed.stdout, /only 0 data servers in the cluster: Qr=2 and Qw=2 need 2; writes wait for more to join/);
    const file = await client.create(ROOT_INO, 'waits', 0o644);
    // The mediator gives up just before the call's deadline and says why; on a loaded machine its
    // answer can come after the client's own deadline (TIMEOUT), never as a success.
    await assert.rejects(client.write(file.ino, 0, Buffer.from('too early'), { timeoutMs: 1_500 }), (err) => {
      const code = codeOf(err);
      assert.ok(code === 'QUORUM_NOT_REACHED' || code === 'TIMEOUT', `${code}: ${(err as Error).message}`);
      if (code === 'QUORUM_NOT_REACHED') assert.match((err as Error).message, /0 live data servers, write quorum is 2/);
      return true;
    });
    const waiting = client.write(file.ino, 0, Buffer.from('in time'), { timeoutMs: 30_000 });
    await joiningDataServer(a, a);
    await joiningDataServer(a, a);
    await waiting;
    assert.deepEqual(await client.read(file.ino, 0, 7), Buffer.from('in time'));
    const status = await client.status();
    assert.equal(status.servers.filter((s) => s.role === 'data').length, 2);
  });

  it('a leader paused past its lease is deposed; resumed, it commits nothing', async () => {
    const a = await mediator('a3', '/t3/', 2);
    await a.process.waitForLog('leading', 20_000);
    const b = await mediator('b3', '/t3/', 1, a.dataDir);
    const both = clientOf(a, b);
    await liveData(both, 3);
    const file = await both.create(ROOT_INO, 'fenced', 0o644);
    await both.write(file.ino, 0, Buffer.from('first'));

    a.process.signal('SIGSTOP');
    await b.process.waitForLog('leading', 20_000);
    // The paused leader's metadata server still holds its fence; the fence no longer holds in
    // etcd, so a commit through it (as the paused mediator would make) is refused.
    const secret = await readClusterSecret(path.join(a.dataDir, 'cluster.secret'));
    const oldMeta = new RpcClient({ host: LOOP, port: a.metaPort }, { credentials: credentialFor(secret, MEDIATOR_IDENTITY) });
    try {
      const commit = { ino: file.ino, blocks: [{ index: 0, version: 1e12, checksum: checksumOf(Buffer.from('LOST!')), lengthBytes: 5 }], sizeBytes: 5, time: { sec: 1, nsec: 0 } };
      await assert.rejects(oldMeta.call(metaMethods.commitBlocks, commit, { timeoutMs: 5_000 }), (err) => codeOf(err) === 'NOT_LEADER');
      await assert.rejects(oldMeta.call(metaMethods.mkdir, { parent: ROOT_INO, name: 'by-the-old-leader', mode: 0o40755, caller: { uid: 0, gid: 0 } }, { timeoutMs: 5_000 }), (err) => codeOf(err) === 'NOT_LEADER');
    } finally {
      oldMeta.close();
    }
    const viaB = clientOf(b);
    await assert.rejects(viaB.lookup(ROOT_INO, 'by-the-old-leader'), (err) => codeOf(err) === 'NOT_FOUND');
    const onlyA = clientOf(a);
    a.process.signal('SIGCONT');
    // The old leader's first act after the pause: a write through it. It must not land, whether
    // it is refused at the door (stepped down) or by its metadata server's fence.
    const attempt = await onlyA.write(file.ino, 0, Buffer.from('LOST!')).then(
      () => 'committed',
      (err: unknown) => codeOf(err),
    );
    assert.notEqual(attempt, 'committed');
    console.log(`# a write through the deposed leader, just resumed: ${attempt}`);
    await a.process.waitForLog('no longer the leader', 10_000);
    const deposed = await runCli(['events', '--json', '--mediator', `${LOOP}:${a.port}`]);
    assert.match(deposed.stdout, /"kind":"leader-deposed"/);
    assert.equal((await viaB.status()).leader, `${LOOP}:${b.port}`);
    assert.deepEqual(await viaB.read(file.ino, 0, 5), Buffer.from('first'));
  });
});
