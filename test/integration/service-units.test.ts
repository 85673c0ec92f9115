// Runs the mediator unit's own ExecStart line, with its example EnvironmentFile (ports moved into
// this test's range, %S into a temporary directory, /opt/quorumfs onto this checkout), as systemd
// would: its own process group, stdin from /dev/null. Checks `quorumfs status` answers with the
// admin credential the unit's XDG_CONFIG_HOME holds, then sends the unit's KillSignal to the whole
// group (systemd's default KillMode=control-group) and checks it exits 0 within TimeoutStopSec,
// leaving no process behind (checked by PID) and no credential file.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../helpers/cluster.js';
import { run } from '../helpers/mount.js';
import { REPO_ROOT, expandSpecifiers, parseExecLine, readUnits, timespanMs, unitEnvironment, unitValues } from '../helpers/systemd-unit.js';

/** This test's ports (the range given to it; other tests use others). */
const PORT_RANGE = { from: 61300, to: 61399 };
const INSTALL_PREFIX = '/opt/quorumfs/';

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `count` consecutive ports of the range that are free now. */
async function freeRun(count: number): Promise<number[]> {
  for (let first = PORT_RANGE.from; first + count - 1 <= PORT_RANGE.to; first++) {
    const run = Array.from({ length: count }, (_, i) => first + i);
    let free = true;
    for (const port of run) if (!(free = await portIsFree(port))) break;
    if (free) return run;
  }
  throw new Error(`no ${count} consecutive free ports in ${PORT_RANGE.from}-${PORT_RANGE.to}`);
}

/** The PIDs of every descendant of pid, from /proc. */
async function descendants(pid: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (stat) parentOf.set(Number(name), ppid);
  }
  const found: number[] = [];
  const visit = (parent: number): void => {
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

/** Running: a process that has exited but not been reaped (a zombie) no longer counts. */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

test('the mediator unit runs, answers status, and stops cleanly on its KillSignal within TimeoutStopSec', { timeout: 120_000 }, async (t) => {
  const unit = (await readUnits()).find((u) => u.name === 'quorumfs-mediator.service')!;
  const stateRoot = await mkdtemp(path.join(os.tmpdir(), 'qfs-service-'));
  const [mediatorPort, metaPort, ...rest] = await freeRun(10);
  const dataPorts = rest.slice(0, 3);
  const spares = rest.slice(3);
  const specifiers = { stateRoot };
  const { env } = await unitEnvironment(unit, specifiers);
  // The example's values, moved onto loopback and this test's ports.
  env.set('QFS_HOST', '127.0.0.1');
  env.set('QFS_PORT', String(mediatorPort));
  env.set('QFS_META_PORT', String(metaPort));
  env.set('QFS_DATA_PORTS', dataPorts.join(' '));
  env.set('QFS_SPARE_PORTS', `${spares[0]}-${spares.at(-1)}`);
  const [execStart] = unitValues(unit, 'Service', 'ExecStart');
  const { argv } = parseExecLine(expandSpecifiers(execStart!, specifiers), env);
  assert.ok(argv[0]!.startsWith(INSTALL_PREFIX), `ExecStart runs ${argv[0]}, not something in ${INSTALL_PREFIX}`);
  argv[0] = path.join(REPO_ROOT, argv[0]!.slice(INSTALL_PREFIX.length));
  const killSignal = unitValues(unit, 'Service', 'KillSignal')[0] as NodeJS.Signals;
  const timeoutStopMs = timespanMs(unitValues(unit, 'Service', 'TimeoutStopSec')[0]!);
  const serviceEnv = { ...process.env, ...Object.fromEntries(env) };

  const service = spawn(argv[0]!, argv.slice(1), { env: serviceEnv, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  service.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => service.once('exit', (code, signal) => resolve({ code, signal })));
  const pid = service.pid!;
  let children: number[] = [];
  try {
    const mediator = `127.0.0.1:${mediatorPort}`;
    await waitFor(async () => {
      if (service.exitCode !== null) throw new Error(`the mediator exited early: ${stderr}`);
      const status = await run(argv[0]!, ['status', '--mediator', mediator, '--json'], { env: serviceEnv });
      if (status.code !== 0) return false;
      const report = JSON.parse(status.stdout) as { servers: { role: string; state: string }[] };
      return report.servers.filter((s) => s.role === 'data' && s.state === 'live').length === dataPorts.length;
    }, 20_000, 'the mediator of the unit to serve its three data servers');
    const credentialsDir = path.join(env.get('XDG_CONFIG_HOME')!, 'quorumfs', 'clusters');
    assert.equal((await readdir(credentialsDir)).filter((n) => n.endsWith('.json')).length, 1, 'the admin credential is not under the unit XDG_CONFIG_HOME');
    children = await descendants(pid);
    assert.ok(children.length >= 1 + dataPorts.length, `the mediator runs ${children.length} children, not its metadata and data servers`);

    const stopStartMs = Date.now();
    process.kill(-pid, killSignal);
    const timer = setTimeout(() => killQuietly(-pid, 'SIGKILL'), timeoutStopMs); // as systemd does
    const { code, signal } = await exited;
    clearTimeout(timer);
    const stopMs = Date.now() - stopStartMs;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `the mediator did not exit 0 on ${killSignal} within ${timeoutStopMs} ms: ${stderr}`);
    assert.ok(stopMs < timeoutStopMs, `stopping took ${stopMs} ms`);
    t.diagnostic(`stopped on ${killSignal} in ${stopMs} ms (TimeoutStopSec ${timeoutStopMs} ms), ${children.length} children`);
    await waitFor(async () => (await Promise.all(children.map(isAlive))).every((alive) => !alive), timeoutStopMs - stopMs, 'every child of the mediator to exit');
    assert.deepEqual(await readdir(credentialsDir), [], 'the admin credential was left behind');
  } finally {
    killQuietly(-pid, 'SIGKILL');
    for (const c of children) if (await isAlive(c)) killQuietly(c, 'SIGKILL');
    await rm(stateRoot, { recursive: true, force: true });
  }
});
