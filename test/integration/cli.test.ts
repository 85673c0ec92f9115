// The command line's contract: bad usage is one line on stderr and exit code 2; runtime errors
// one line and exit 1; list-contents --json and status --json print the documented shapes; a
// reader that goes away ends a command quietly; --version; the mediator's events log as
// `events` prints it (after a crash, and followed live); status --watch.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CLI, awaitReplacement, freePorts, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A CLI command left running (--follow, --watch): its output so far; stopped by its PID. */
function startCli(args: string[]): { child: ChildProcess; stdout: () => string; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr!.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    stdout: () => stdout,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}

interface EventLine {
  seq: number;
  timeMs: number;
  kind: string;
  message: string;
  server?: string;
}

function eventLines(stdout: string): EventLine[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as EventLine);
}

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

  it('prints its version with --version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `quorumfs ${PACKAGE_VERSION}\n`);
    assert.equal((await runCli(['-V'])).stdout, `quorumfs ${PACKAGE_VERSION}\n`);
  });

  it('rejects bad arguments of events and status --watch in one line', async () => {
    assertUsage(await runCli(['events', '--bogus']), /unknown option '--bogus'/);
    assertUsage(await runCli(['events', 'extra']), /too many arguments/);
    assertUsage(await runCli(['events', '--mediator', 'nope']), /--mediator/);
    assertUsage(await runCli(['status', '--watch', '--interval-s', '0']), /--interval-s 0 is out of range/);
    assertUsage(await runCli(['status', '--watch', '--interval-s', 'soon']), /--interval-s 'soon' is not a whole number/);
    assertUsage(await runCli(['status', '--interval-s', '3']), /--interval-s goes with --watch/);
    assertUsage(await runCli(['status', '--watch', '--interval-s']), /argument missing/);
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

  it('status --json and status say the version', async () => {
    const json = await runCli(['status', '--mediator', `127.0.0.1:${cluster.mediatorPort}`, '--json']);
    assert.equal((JSON.parse(json.stdout) as { mediator: { version?: string } }).mediator.version, PACKAGE_VERSION);
    const text = await runCli(['status', '--mediator', `127.0.0.1:${cluster.mediatorPort}`]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout.split('\n')[0]!, new RegExp(`quorumfs ${PACKAGE_VERSION.replace(/\./g, '\\.')}\\)`));
  });

  it('status --watch prints a frame every --interval-s until stopped', async () => {
    const watch = startCli(['status', '--mediator', `127.0.0.1:${cluster.mediatorPort}`, '--watch', '--interval-s', '1']);
    try {
      const frames = (): string[] => watch.stdout().split(/^(?=mediator 127\.0\.0\.1)/m).filter((f) => f.length > 0);
      await waitFor(() => frames().length >= 3, 15_000, 'three frames of status --watch');
      // Not a terminal: no escape codes, frames after a blank line, each a whole status.
      assert.ok(!watch.stdout().includes('\x1b'));
      for (const frame of frames().slice(0, 2)) {
        assert.match(frame, /^mediator 127\.0\.0\.1:\d+ \(pid \d+/);
        assert.match(frame, /scrub: .*\n\n$/s);
      }
      assert.equal(watch.child.exitCode, null, 'still running');
    } finally {
      await watch.stop();
    }
  });
});

describe('cluster events', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 2, faultInjection: true });
  });
  after(() => cluster.stop());

  const mediator = (): string => `127.0.0.1:${cluster.mediatorPort}`;

  it('events --json shows a terminated data server down, its replacement started and its heal done, in order', async () => {
    await cluster.client.writeFile('/before-crash', Buffer.alloc(300_000, 7));
    const crashed = cluster.dataPorts[0]!;
    const crashedId = `127.0.0.1:${crashed}`;
    const t = await runCli(['terminate', String(crashed)]);
    assert.equal(t.code, 0, t.stderr);
    const { port } = await awaitReplacement(cluster, crashed, 30_000);
    const replacementId = `127.0.0.1:${port}`;
    let events: EventLine[] = [];
    await waitFor(async () => {
      const r = await runCli(['events', '--mediator', mediator(), '--json']);
      assert.equal(r.code, 0, r.stderr);
      events = eventLines(r.stdout);
      return events.some((e) => e.kind === 'heal-done' && e.server === replacementId);
    }, 15_000, 'the heal of the replacement in the events');
    const down = events.findIndex((e) => e.kind === 'server-down' && e.server === crashedId);
    const started = events.findIndex((e) => e.kind === 'replacement-started' && e.server === replacementId);
    const healed = events.findIndex((e) => e.kind === 'heal-done' && e.server === replacementId);
    assert.ok(down >= 0, JSON.stringify(events));
    assert.ok(down < started && started < healed, JSON.stringify(events));
    assert.match(events[started]!.message, new RegExp(`for ${crashedId}`));
    // Numbered from 1 in order, each stamped with the time it happened.
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
    assert.ok(events.every((e) => Math.abs(e.timeMs - Date.now()) < 120_000));
    // The text form: one line an event, the same ones.
    const text = await runCli(['events', '--mediator', mediator()]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split('\n');
    assert.ok(lines.length >= events.length);
    assert.match(lines[down]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  #${down + 1}  server-down  ${crashedId}  data server ${crashedId} down`));
  });

  it('events --follow prints an event that happens while it runs', async () => {
    const follow = startCli(['events', '--mediator', mediator(), '--follow', '--json']);
    try {
      // It has printed what the log held (the crash above): it is following now.
      await waitFor(() => eventLines(follow.stdout()).some((e) => e.kind === 'heal-done'), 15_000, 'events --follow to print the log');
      const before = eventLines(follow.stdout());
      assert.ok(!before.some((e) => e.kind === 'scrub-done'), 'no scrub pass before this one');
      const scrub = await runCli(['scrub', '--mediator', mediator(), '--wait'], 30_000);
      assert.equal(scrub.code, 0, scrub.stderr);
      await waitFor(() => eventLines(follow.stdout()).some((e) => e.kind === 'scrub-done'), 15_000, 'events --follow to print the scrub pass');
      const after = eventLines(follow.stdout());
      const scrubbed = after.find((e) => e.kind === 'scrub-done')!;
      assert.ok(scrubbed.seq > before[before.length - 1]!.seq);
      assert.deepEqual(after.map((e) => e.seq), after.map((_, i) => i + 1), 'no event twice, none skipped');
      assert.equal(follow.child.exitCode, null, 'still following');
    } finally {
      await follow.stop();
    }
  });
});
