// The multi-host harness itself: hosts made of network namespaces talk over TCP, a cut stalls
// connections without a reset and a restore resumes them, a host crash kills grandchildren too, a
// 3-member etcd cluster on three hosts survives a member's host crash, and destroy() leaves no
// namespace or link behind. Needs root: without it every test fails with HostsUnavailableError.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, type EtcdMember } from '../helpers/etcd.js';
import { assertHostsAvailable, etcdSpecsOn, Hosts, type Host } from '../helpers/hosts.js';

const exec = promisify(execFile);
const echoPort = 7000;

// An echo server: prints "listening" once it accepts connections.
const echoServer = `
import net from 'node:net';
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); })
  .listen(${echoPort}, process.argv[1], () => console.log('listening'));
`;

// A TCP client driven by JSON lines on stdin, reporting JSON lines on stdout:
// {op:'connect', id, host, port, timeoutMs, keep} -> {id, event:'connected'|'timeout'|'error', code}
// a kept connection is the one {op:'send', text} writes on; its events have id 'kept'.
const probeClient = `
import net from 'node:net';
import readline from 'node:readline';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let kept;
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === 'send') { kept.write(cmd.text); return; }
  const s = net.connect({ host: cmd.host, port: cmd.port });
  let settled = false;
  const settle = (o) => { if (!settled) { settled = true; clearTimeout(timer); out({ id: cmd.id, ...o }); } };
  const timer = setTimeout(() => { settle({ event: 'timeout' }); s.destroy(); }, cmd.timeoutMs);
  s.on('error', (e) => { if (settled && cmd.keep) out({ id: 'kept', event: 'error', code: e.code }); settle({ event: 'error', code: e.code }); });
  s.once('connect', () => {
    settle({ event: 'connected' });
    if (!cmd.keep) { s.destroy(); return; }
    kept = s;
    s.setEncoding('utf8');
    s.on('data', (text) => out({ id: 'kept', event: 'data', text }));
    s.on('close', () => out({ id: 'kept', event: 'close' }));
  });
});
`;

interface ProbeEvent {
  id: string | number;
  event: 'connected' | 'timeout' | 'error' | 'data' | 'close';
  code?: string;
  text?: string;
}

/** The probe client running on a host, its reports collected. */
class Probe {
  readonly events: ProbeEvent[] = [];
  private nextId = 1;
  private buffered = '';

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (t: string) => {
      this.buffered += t;
      let nl;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        this.events.push(JSON.parse(this.buffered.slice(0, nl)) as ProbeEvent);
        this.buffered = this.buffered.slice(nl + 1);
      }
    });
  }

  async connect(host: string, port: number, timeoutMs: number, keep = false): Promise<ProbeEvent> {
    const id = this.nextId++;
    this.child.stdin!.write(JSON.stringify({ op: 'connect', id, host, port, timeoutMs, keep }) + '\n');
    return this.waitFor((e) => e.id === id, timeoutMs + 5_000);
  }

  send(text: string): void {
    this.child.stdin!.write(JSON.stringify({ op: 'send', text }) + '\n');
  }

  kept(): ProbeEvent[] {
    return this.events.filter((e) => e.id === 'kept');
  }

  async waitFor(match: (e: ProbeEvent) => boolean, timeoutMs: number): Promise<ProbeEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`probe: no matching event within ${timeoutMs} ms; saw ${JSON.stringify(this.events)}`);
      await sleep(20);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function nodeScript(host: Host, source: string, ...args: string[]): ChildProcess {
  return host.run([process.execPath, '--input-type=module', '-e', source, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

async function startEcho(host: Host): Promise<ChildProcess> {
  const child = nodeScript(host, echoServer, host.address);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (out += t));
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (err += t));
  const deadline = Date.now() + 10_000;
  while (!out.includes('listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`echo server on ${host.name} did not listen: ${err}`);
    await sleep(20);
  }
  return child;
}

/** Connects from this (root namespace) process; resolves 'connected', 'timeout' or the error code. */
function connectFromTest(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? 'error');
    });
  });
}

/** True while the PID runs (a zombie does not). */
async function running(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

async function ipOutput(args: string[]): Promise<string> {
  return (await exec('ip', args)).stdout;
}

/** A cut looks like a pulled cable: a stall or an unreachable host, never a refusal (RST). */
const unreachable = ['timeout', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'];

// Without root or netns this fails with the reason (and the suite below is cancelled), never skips.
it('this machine can make hosts: root, ip netns, nsenter', async () => {
  await assertHostsAvailable();
});

describe('hosts made of network namespaces', () => {
  let hosts: Hosts | undefined;
  const probes: ChildProcess[] = [];
  const members: EtcdMember[] = [];
  let client: Etcd3 | undefined;

  before(async () => {
    const started = Date.now();
    hosts = await Hosts.create(5);
    console.log(`# Hosts.create(5) took ${Date.now() - started} ms (${hosts.cidr})`);
  });

  after(async () => {
    client?.close();
    for (const p of probes) p.stdin?.destroy();
    await hosts?.destroy();
    await Promise.all(members.map((m) => m.stop()));
  });

  it('gives each host its own address, reachable from the test process and from the others', async () => {
    const h = hosts!;
    assert.equal(new Set(h.hosts.map((x) => x.address)).size, 5);
    const [a, b] = [h.host(0), h.host(1)];
    await startEcho(a);
    assert.equal(await connectFromTest(a.address, echoPort, 3_000), 'connected');
    const probe = new Probe(nodeScript(b, probeClient));
    probes.push(probe.child);
    assert.equal((await probe.connect(a.address, echoPort, 3_000)).event, 'connected');
    // Each host has its own port space: nothing listens on the same port of host b.
    assert.equal((await probe.connect(b.address, echoPort, 3_000)).code, 'ECONNREFUSED');
    // And its own loopback.
    assert.equal((await probe.connect('127.0.0.1', echoPort, 3_000)).code, 'ECONNREFUSED');
  });

  it('cut() stalls an established connection and refuses nothing; restore() resumes it', async () => {
    const h = hosts!;
    const [a, b] = [h.host(0), h.host(1)];
    await startEcho(b);
    const probe = new Probe(nodeScript(b, probeClient));
    probes.push(probe.child);
    assert.equal((await probe.connect(a.address, echoPort, 3_000, true)).event, 'connected');
    probe.send('one');
    await probe.waitFor((e) => e.id === 'kept' && e.event === 'data' && e.text === 'one', 3_000);

    await a.cut();
    probe.send('two');
    // Nothing comes back, and no reset: the connection just hangs.
    await sleep(2_000);
    assert.deepEqual(probe.kept().map((e) => e.event), ['data'], JSON.stringify(probe.kept()));
    // New connections fail or time out both ways, and from the test process.
    assert.ok(unreachable.includes((await probe.connect(a.address, echoPort, 1_500)).code ?? 'timeout'));
    const fromCut = new Probe(nodeScript(a, probeClient));
    probes.push(fromCut.child);
    const outward = await fromCut.connect(b.address, echoPort, 1_500);
    assert.ok(unreachable.includes(outward.code ?? outward.event), JSON.stringify(outward));
    assert.ok(unreachable.includes(await connectFromTest(a.address, echoPort, 1_500)));
    assert.deepEqual(probe.kept().map((e) => e.event), ['data'], JSON.stringify(probe.kept()));

    const restored = Date.now();
    await a.restore();
    await probe.waitFor((e) => e.id === 'kept' && e.event === 'data' && e.text === 'two', 20_000);
    console.log(`# stalled data arrived ${Date.now() - restored} ms after restore()`);
    assert.equal((await fromCut.connect(b.address, echoPort, 3_000)).event, 'connected');
    assert.equal(await connectFromTest(a.address, echoPort, 3_000), 'connected');
    assert.ok(!probe.kept().some((e) => e.event === 'error' || e.event === 'close'), JSON.stringify(probe.kept()));
  });

  it('kill() kills every process on the host, grandchildren too, and nothing elsewhere', async () => {
    const h = hosts!;
    const [a, b] = [h.host(0), h.host(1)];
    const onA = await a.pids();
    assert.ok(onA.length > 0, 'the echo server runs on host a');
    const shell = b.run(['sh', '-c', 'sleep 600 & (setsid sleep 600 &) ; echo started; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => shell.stdout!.on('data', () => resolve()));
    const inside = await b.pids();
    assert.ok(inside.includes(shell.pid!), `shell ${shell.pid} in ${inside.join(',')}`);
    assert.ok(inside.length >= 3, `expected the shell and its sleeps: ${inside.join(',')}`);

    const started = Date.now();
    await b.kill();
    console.log(`# host.kill() took ${Date.now() - started} ms for ${inside.length} processes`);
    assert.deepEqual(await b.pids(), []);
    assert.deepEqual(b.trackedPids, []);
    for (const pid of inside) assert.equal(await running(pid), false, `pid ${pid} still runs`);
    assert.notEqual(shell.signalCode ?? shell.exitCode, null);
    for (const pid of onA) assert.equal(await running(pid), true, `pid ${pid} on another host was killed`);
    // The host stays usable after a crash.
    await startEcho(b);
    assert.equal(await connectFromTest(b.address, echoPort, 3_000), 'connected');
  });

  it('runs a 3-member etcd cluster on three hosts that keeps serving after one host crashes', async () => {
    const h = hosts!;
    const etcdHosts = [h.host(2), h.host(3), h.host(4)];
    const started = Date.now();
    members.push(...(await startEtcdCluster(etcdSpecsOn(etcdHosts))));
    console.log(`# 3-member etcd cluster served after ${Date.now() - started} ms`);
    client = new Etcd3({ hosts: members.map((m) => m.clientUrl), dialTimeout: 2_000 });
    const list = await client.cluster.memberList({});
    assert.equal(list.members.length, 3);
    await client.put('before').value('1');
    assert.equal(await client.get('before').string(), '1');

    // Crash the leader's host: the worst member to lose.
    const leaderId = (await client.maintenance.status()).leader;
    const leaderName = list.members.find((m) => m.ID === leaderId)?.name;
    const victim = members.findIndex((m) => m.spec.name === leaderName);
    assert.ok(victim >= 0, `leader ${leaderId} is none of ${JSON.stringify(list.members)}`);
    await etcdHosts[victim]!.kill();
    assert.equal(members[victim]!.alive, false);
    client.close();
    client = new Etcd3({ hosts: members.filter((_, i) => i !== victim).map((m) => m.clientUrl), dialTimeout: 2_000 });
    const crashed = Date.now();
    // A new leader may be needed (election timeout 1 s): retry within a deadline.
    const deadline = Date.now() + 15_000;
    let lastError: unknown;
    for (;;) {
      try {
        await client.put('after').value('2').options({ deadline: Date.now() + 1_000 });
        break;
      } catch (e) {
        lastError = e;
        console.log(`# put after crash failed at ${Date.now() - crashed} ms: ${String(e)}`);
        if (Date.now() > deadline) throw new Error(`no put within 15 s after a member's host crashed: ${String(lastError)}`);
        await sleep(200);
      }
    }
    console.log(`# a put succeeded ${Date.now() - crashed} ms after the leader's host crashed`);
    assert.equal(await client.get('after').string(), '2');
    assert.equal(await client.get('before').string(), '1');
  });

  it('create() removes leftovers of dead runs and keeps those of live ones', async () => {
    // A PID that has exited: a process that has just ended.
    const gone = spawn('true');
    await new Promise((r) => gone.once('exit', r));
    const deadPid = gone.pid!;
    const dead = `qfs${deadPid}z`;
    const live = `qfs${process.pid}z`;
    try {
      for (const prefix of [dead, live]) {
        await exec('ip', ['netns', 'add', `${prefix}h1`]);
        await exec('ip', ['link', 'add', `${prefix}br`, 'type', 'bridge']);
      }
      const other = await Hosts.create(1);
      await other.destroy();
      const spaces = await ipOutput(['netns', 'list']);
      const links = await ipOutput(['link', 'show']);
      assert.ok(!spaces.includes(dead) && !links.includes(dead), `leftovers of dead pid ${deadPid} remain`);
      assert.ok(spaces.includes(`${live}h1`) && links.includes(`${live}br`), 'leftovers of a live run were removed');
    } finally {
      await exec('ip', ['netns', 'del', `${live}h1`]).catch(() => undefined);
      await exec('ip', ['link', 'del', `${live}br`]).catch(() => undefined);
      await exec('ip', ['netns', 'del', `${dead}h1`]).catch(() => undefined);
      await exec('ip', ['link', 'del', `${dead}br`]).catch(() => undefined);
    }
  });

  it('destroy() kills everything and leaves no namespace, link or route behind; twice is fine', async () => {
    const h = hosts!;
    const pids = (await Promise.all(h.hosts.map((x) => x.pids()))).flat();
    assert.ok(pids.length > 0);
    const started = Date.now();
    await h.destroy();
    console.log(`# destroy() took ${Date.now() - started} ms`);
    await h.destroy();
    for (const pid of pids) assert.equal(await running(pid), false, `pid ${pid} still runs`);
    assert.ok(!(await ipOutput(['netns', 'list'])).includes(h.prefix), await ipOutput(['netns', 'list']));
    assert.ok(!(await ipOutput(['link', 'show'])).includes(h.prefix), await ipOutput(['link', 'show']));
    assert.ok(!(await ipOutput(['-4', 'route'])).includes(h.cidr.split('/')[0]!));
  });
});
