// Every quorumfs process serves Prometheus metrics when given --metrics-port: a real cluster
// (mediator, metadata server, three data servers) and a real mount, a file written and read both
// through the mount and through the mediator, then each process scraped (its endpoint found
// through the mediator's /targets) and parsed strictly, with real values asserted; after a data
// server is terminated, /targets lists its replacement and the mediator counts one replacement.
// Bad --metrics-port and --metrics-host values are one line and exit code 2 in every command.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { awaitReplacement, freePorts, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { startMount, type Mount } from '../helpers/mount.js';
import { loggedMetricsUrl, samplesOf, scrape, sumOf, targets, type TargetGroup } from '../helpers/prom-text.js';

/** Spare ports of this test's clusters: inside the range kept for it (61100-61199). */
const FIRST_SPARE_PORT = 61150;
const SPARE_PORTS = `${FIRST_SPARE_PORT}-61159`;


describe('metrics of every process', { timeout: 150_000 }, () => {
  let cluster: Cluster | undefined;
  let mount: Mount | undefined;
  after(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  it('are served, parse strictly, carry real figures, and follow a replacement', async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: SPARE_PORTS, extraArgs: ['--metrics-port', '0'] });
    const c = cluster;
    const mediatorUrl = loggedMetricsUrl(c.stderr(), 'mediator');
    assert.ok(mediatorUrl, `the mediator logs where its metrics are: ${c.stderr().slice(-2000)}`);
    let groups = await targets(mediatorUrl);
    assert.deepEqual(groups.map((g) => g.labels.role), ['mediator', 'meta', 'data', 'data', 'data']);
    assert.deepEqual(groups.filter((g) => g.labels.role === 'data').map((g) => g.labels.server), c.dataPorts.slice().sort((a, b) => a - b).map((p) => `127.0.0.1:${p}`));
    assert.equal(groups[0]!.targets[0], new URL(mediatorUrl).host);
    for (const g of groups) assert.match(g.targets[0]!, /^127\.0\.0\.1:\d+$/, 'on loopback by default');

    mount = await startMount(c.mediatorPort, { flags: ['--metrics-port', '0'], logLevel: 'info' });
    const mountUrl = loggedMetricsUrl(mount.stderr(), 'mount');
    assert.ok(mountUrl, 'the mount logs where its metrics are');

    // Through the mount (its own quorum writes to the data servers) and through the mediator.
    const size = 300 * 1024 + 17;
    const data = randomBytes(size);
    await writeFile(path.join(mount.dir, 'through-mount'), data);
    const viaMediator = randomBytes(200 * 1024 + 3);
    await c.client.writeFile('/through-mediator', viaMediator);
    assert.deepEqual(await c.client.readFile('/through-mount'), data);
    // Never cached by this mount: its read goes through FUSE.
    assert.deepEqual(await readFile(path.join(mount.dir, 'through-mediator')), viaMediator);

    const med = await scrape(mediatorUrl);
    assert.equal(sumOf(med, 'quorumfs_servers', { state: 'live', role: 'mediator' }), 3);
    assert.ok(sumOf(med, 'quorumfs_quorum_operations_total', { op: 'write', outcome: 'good' }) > 0, 'the mediator wrote blocks');
    assert.ok(sumOf(med, 'quorumfs_quorum_operations_total', { op: 'read', outcome: 'good' }) > 0, 'the mediator read blocks');
    assert.equal(sumOf(med, 'quorumfs_quorum_operations_total', { outcome: 'failed' }), 0);
    assert.ok(sumOf(med, 'quorumfs_rpc_requests_total', { method: 'status', outcome: 'ok' }) > 0, 'startCluster polled status');
    assert.ok(sumOf(med, 'quorumfs_rpc_request_duration_seconds_count', { method: 'status' }) > 0);
    assert.equal(sumOf(med, 'quorumfs_replacements_total'), 0);
    assert.equal(samplesOf(med, 'quorumfs_server_disk_free_bytes').length, 3);
    assert.ok(samplesOf(med, 'process_resident_memory_bytes', { role: 'mediator' }).length === 1, "Node's process metrics");

    const meta = await scrape(groupUrl(groups, 'meta')[0]!);
    assert.ok(sumOf(meta, 'quorumfs_rpc_requests_total', { role: 'meta', outcome: 'ok' }) > 0);
    assert.ok(sumOf(meta, 'quorumfs_rpc_requests_total', { method: 'create', outcome: 'ok' }) >= 1, 'files were created there');

    for (const url of groupUrl(groups, 'data')) {
      // A write returns once Qw acknowledged: the third copy may land just after.
      await waitFor(async () => sumOf(await scrape(url), 'quorumfs_data_written_bytes_total') >= size + viaMediator.length, 10_000, `${url} to count the bytes it stored`);
      const d = await scrape(url);
      assert.ok(sumOf(d, 'quorumfs_rpc_requests_total', { method: 'put', outcome: 'ok', role: 'data' }) > 0, url);
      assert.ok(sumOf(d, 'quorumfs_data_blocks') >= 2, url);
      assert.ok(sumOf(d, 'quorumfs_data_disk_capacity_bytes') > 0, url);
      assert.ok(sumOf(d, 'quorumfs_rpc_requests_total', { method: 'heartbeat' }) > 0, url);
    }

    const m = await scrape(mountUrl);
    assert.ok(sumOf(m, 'quorumfs_mount_written_bytes_total', { role: 'mount' }) >= size);
    assert.ok(sumOf(m, 'quorumfs_mount_read_bytes_total') >= viaMediator.length);
    assert.ok(sumOf(m, 'quorumfs_fuse_operations_total', { op: 'write', outcome: 'ok' }) > 0);
    assert.ok(sumOf(m, 'quorumfs_fuse_operations_total', { op: 'read', outcome: 'ok' }) > 0);
    assert.ok(sumOf(m, 'quorumfs_fuse_operation_duration_seconds_count', { op: 'lookup' }) > 0);
    // The mount writes its files' blocks to the replicas itself: a 300 KiB file is one block.
    assert.ok(sumOf(m, 'quorumfs_quorum_operations_total', { op: 'write', outcome: 'good', role: 'mount' }) >= 1);
    assert.equal(sumOf(m, 'quorumfs_quorum_operations_total', { outcome: 'failed' }), 0);

    // A data server crashes: the replacement, on a spare port, is listed and scraped.
    const victim = c.dataPorts[0]!;
    assert.equal((await runCli(['terminate', String(victim)])).code, 0);
    const { port } = await awaitReplacement(c, victim, 30_000, FIRST_SPARE_PORT);
    await waitFor(async () => (await targets(mediatorUrl)).some((g) => g.labels.server === `127.0.0.1:${port}`), 10_000, 'the replacement in /targets');
    groups = await targets(mediatorUrl);
    const servers = groups.filter((g) => g.labels.role === 'data').map((g) => g.labels.server);
    assert.ok(!servers.includes(`127.0.0.1:${victim}`), 'the terminated server is not listed');
    assert.equal(servers.length, 3);
    const after = await scrape(mediatorUrl);
    assert.equal(sumOf(after, 'quorumfs_replacements_total'), 1);
    assert.equal(sumOf(after, 'quorumfs_servers', { state: 'replaced' }), 1);
    assert.equal(sumOf(after, 'quorumfs_servers', { state: 'live' }), 3);
    const replacement = groups.find((g) => g.labels.server === `127.0.0.1:${port}`)!;
    assert.ok(sumOf(await scrape(`http://${replacement.targets[0]}/metrics`), 'quorumfs_rpc_requests_total', { method: 'heartbeat' }) > 0);
  });
});

function groupUrl(groups: TargetGroup[], role: string): string[] {
  return groups.filter((g) => g.labels.role === role).map((g) => `http://${g.targets[0]}/metrics`);
}

describe('bad --metrics-port and --metrics-host', { timeout: 60_000 }, () => {
  it('are one line on stderr and exit code 2, in every command that takes them', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-metrics-args-'));
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as net.AddressInfo).port;
    try {
      const [p1, p2, p3, p4] = await freePorts(4);
      const commands: string[][] = [
        ['mediator', '1', '1', String(p1), String(p2), '--port', String(p3), '--data-dir', dir, '--spare-ports', 'none'],
        ['data-server', '--port', String(p4), '--dir', path.join(dir, 'd')],
        ['meta-server', '--port', String(p4), '--dir', path.join(dir, 'm')],
        ['mount', dir],
      ];
      const bad: Array<[string[], RegExp]> = [
        [['--metrics-port', 'abc'], /--metrics-port 'abc' is not a port number/],
        [['--metrics-port', '70000'], /--metrics-port 70000 is out of range/],
        [['--metrics-port', '-1'], /--metrics-port/],
        [['--metrics-port', ''], /--metrics-port '' is not a port number/],
        [['--metrics-port', '0', '--metrics-host', 'no such host!'], /--metrics-host 'no such host!' is not a host name/],
        [['--metrics-host', '127.0.0.1'], /--metrics-host needs --metrics-port/],
        [['--metrics-port', String(takenPort)], new RegExp(`--metrics-port ${takenPort} is already in use`)],
      ];
      for (const command of commands) {
        for (const [flags, message] of bad) {
          const r = await runCli([...command, ...flags]);
          const what = `quorumfs ${[command[0], ...flags].join(' ')}`;
          assert.equal(r.code, 2, `${what}: ${r.stderr}`);
          assert.match(r.stderr, message, what);
          assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line, got ${r.stderr}`);
        }
      }
      // The metrics port may not be one of the mediator's own ports.
      const r = await runCli([...commands[0]!, '--metrics-port', String(p3)]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--metrics-port \d+ is also given as a server port/);
    } finally {
      taken.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
