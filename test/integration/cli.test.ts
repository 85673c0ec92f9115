// The command line's contract: bad usage is one line on stderr and exit code 2; runtime errors
// one line and exit 1; list-contents --json and status --json print the documented shapes; a
// reader that goes away ends a command quietly.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CLI, freePorts, runCli, startCluster, type Cluster } from '../helpers/cluster.js';

function assertUsage(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, pattern);
}

describe('command-line arguments', () => {
  let busy: net.Server;
  let busyPort = 0;
  before(async () => {
    busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    busyPort = (busy.address() as net.AddressInfo).port;
  });
  after(() => busy.close());

  it('rejects quorums of 0 or above N', async () => {
    const [a, b, c, d] = await freePorts(4);
    assertUsage(await runCli(['mediator', '0', '1', `${a}`, `${b}`, `${c}`]), /read quorum Qr must be between 1 and N=2, got 0/);
    assertUsage(await runCli(['mediator', '3', '1', `${a}`, `${b}`, `${c}`]), /read quorum/);
    assertUsage(await runCli(['mediator', '1', '0', `${a}`, `${b}`, `${c}`]), /write quorum Qw/);
    assertUsage(await runCli(['mediator', '1', '4', `${a}`, `${b}`, `${c}`, `${d}`]), /write quorum Qw must be between 1 and N=3, got 4/);
    assertUsage(await runCli(['mediator', 'x', '1', `${a}`, `${b}`]), /Qr 'x' is not a whole number/);
  });

  it('rejects bad, duplicate and busy ports', async () => {
    const [a, b, m] = await freePorts(3);
    assertUsage(await runCli(['mediator', '1', '1', `${a}`, '70000', '--port', `${m}`]), /data server port 70000 is out of range/);
    assertUsage(await runCli(['mediator', '1', '1', `${a}`, 'abc', '--port', `${m}`]), /not a port number/);
    assertUsage(await runCli(['mediator', '1', '1', `${a}`, `${a}`, '--port', `${m}`]), /port \d+ is given more than once/);
    assertUsage(await runCli(['mediator', '1', '1', `${a}`, `${busyPort}`, '--port', `${m}`]), /data server port \d+ is already in use/);
    assertUsage(await runCli(['mediator', '1', '1', `${busyPort}`, `${b}`, '--port', `${m}`]), /metadata server port \d+ is already in use/);
    assertUsage(await runCli(['mediator', '1', '1', `${a}`, `${b}`, '--port', `${busyPort}`]), /mediator port \d+ is already in use/);
    assertUsage(await runCli(['mediator', '1', '1', `${a}`, `${b}`, '--port', `${m}`, '--spare-ports', '9-3']), /ends before it starts/);
    assertUsage(await runCli(['data-server', '--port', `${busyPort}`, '--dir', '/tmp/x']), /port \d+ is already in use/);
  });

  it('rejects missing arguments and unknown commands', async () => {
    assertUsage(await runCli(['mediator', '1', '1']), /missing required argument/);
    assertUsage(await runCli(['corrupt', '5000']), /missing required argument 'key'/);
    assertUsage(await runCli(['list-contents', '99999']), /port 99999 is out of range/);
    assertUsage(await runCli(['frobnicate']), /unknown command 'frobnicate'/);
    assertUsage(await runCli(['status', '--bogus']), /unknown option '--bogus'/);
  });

  it('reports an unreachable server as a runtime error (exit 1) in one line', async () => {
    const [free] = await freePorts(1);
    const r = await runCli(['list-contents', `${free}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^quorumfs: cannot connect to data server 127\.0\.0\.1:\d+: .*\[UNAVAILABLE\]\n$/);
    const s = await runCli(['status', '--mediator', `127.0.0.1:${free}`]);
    assert.equal(s.code, 1);
  });
});

describe('command-line output', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 2 });
  });
  after(() => cluster.stop());

  it('list-contents --json prints key, version and sizeBytes per block', async () => {
    const attr = await cluster.client.writeFile('/j', Buffer.alloc(1234, 1));
    const r = await runCli(['list-contents', String(cluster.dataPorts[0]), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const entries = JSON.parse(r.stdout) as Array<{ key: string; version: number; sizeBytes: number }>;
    const mine = entries.find((e) => e.key === `${attr.ino}:0`);
    assert.ok(mine);
    assert.equal(mine.sizeBytes, 1234);
    assert.equal(typeof mine.version, 'number');
  });

  it('ends quietly (exit 0, nothing on stderr) when its reader goes away, as `| head` does', async () => {
    await cluster.client.writeFile('/piped', Buffer.alloc(10, 1));
    const child = spawn(process.execPath, [CLI, 'list-contents', String(cluster.dataPorts[0])], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the command writes
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });

  it('status --json prints the servers and the counters', async () => {
    const r = await runCli(['status', '--mediator', `127.0.0.1:${cluster.mediatorPort}`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout) as { servers: Array<{ id: string; role: string; state: string }>; counters: Record<string, number> };
    assert.deepEqual(
      status.servers.map((s) => s.role),
      ['meta', 'data', 'data'],
    );
    assert.ok(status.servers.every((s) => s.state === 'live' && /^127\.0\.0\.1:\d+$/.test(s.id)));
    assert.ok(status.counters['blocks']! >= 1);
  });
});
