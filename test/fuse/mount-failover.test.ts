// A mount given two mediators on one etcd (`--mediator a,b`) outlives the leader: when the
// leader is killed (its metadata server and data servers go with it), the mount's calls move to
// the mediator elected next and its namespace calls to that mediator's metadata server, found
// anew through it; files written before are read back intact and new ones can be written.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import { CLI, freePorts, waitFor } from '../helpers/cluster.js';
import { EtcdMember } from '../helpers/etcd.js';
import { isMounted, run } from '../helpers/mount.js';
import { ServerProcess, shareClusterSecret } from '../helpers/server-process.js';

const LOOP = '127.0.0.1';

describe('a mount over two mediators on etcd', () => {
  let etcd: EtcdMember;
  let root: string;
  const started: ServerProcess[] = [];
  let mountDir: string | undefined;
  let mount: ReturnType<typeof spawn> | undefined;
  let mountLog = '';
  let client: QuorumfsClient | undefined;

  before(async () => {
    etcd = await EtcdMember.single();
    root = await mkdtemp(path.join(os.tmpdir(), 'qfs-mount-failover-'));
  });

  after(async () => {
    client?.close();
    if (mount && mount.exitCode === null && mount.signalCode === null) {
      const exited = new Promise((r) => mount!.once('exit', r));
      mount.kill('SIGTERM');
      const timer = setTimeout(() => mount!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (mountDir && (await isMounted(mountDir))) await run('fusermount3', ['-u', '-z', mountDir]);
    if (mountDir) await rm(mountDir, { recursive: true, force: true });
    await Promise.all(started.map((p) => p.stop()));
    await etcd?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function mediator(name: string, spareBase: number, secretFrom?: string): Promise<{ port: number; dataDir: string; process: ServerProcess }> {
    const [port, meta, ...ports] = await freePorts(4);
    const dataDir = path.join(root, name);
    if (secretFrom) await shareClusterSecret(secretFrom, dataDir);
    const args = ['mediator', '2', '2', String(meta), ...ports.map(String), '--port', String(port), '--data-dir', dataDir, '--etcd', etcd.clientUrl, '--etcd-prefix', '/mount-failover/', '--spare-ports', `${spareBase}-${spareBase + 9}`];
    const process = ServerProcess.start({ args });
    started.push(process);
    await process.waitForLog('mediator serving', 30_000);
    return { port: port!, dataDir, process };
  }

  it('keeps serving files after the leader dies', { timeout: 180_000 }, async () => {
    const a = await mediator('a', 61_400);
    await a.process.waitForLog('leading', 20_000);
    const b = await mediator('b', 61_420, a.dataDir);
    client = new QuorumfsClient([{ host: LOOP, port: a.port }, { host: LOOP, port: b.port }], { defaultTimeoutMs: 10_000 });
    await waitFor(async () => {
      const status = await client!.status().catch(() => undefined);
      return status !== undefined && status.servers.filter((s) => s.role === 'data' && s.state === 'live').length === 4;
    }, 30_000, 'four live data servers');

    // The follower first: the mount must find the leader, and its metadata server through it.
    mountDir = await mkdtemp(path.join(os.tmpdir(), 'qfs-mnt-'));
    mount = spawn(process.execPath, [CLI, 'mount', mountDir, '--mediator', `${LOOP}:${b.port},${LOOP}:${a.port}`, '--timeout-ms', '10000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, QFS_LOG_LEVEL: 'info' },
    });
    let stdout = '';
    mount.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    mount.stderr!.setEncoding('utf8').on('data', (t: string) => (mountLog += t));
    await waitFor(async () => {
      if (mount!.exitCode !== null) throw new Error(`mount exited early: ${mountLog}`);
      return stdout.includes('READY ') && (await isMounted(mountDir!));
    }, 20_000, 'the mount');

    const before = Buffer.alloc(2 * 1024 * 1024 + 5, 3);
    for (let i = 0; i < before.length; i += 997) before[i] = i % 253;
    await writeFile(path.join(mountDir, 'before'), before);
    assert.deepEqual(await readFile(path.join(mountDir, 'before')), before);

    const killedAt = Date.now();
    a.process.signal('SIGKILL');
    let failoverMs = 0;
    await waitFor(async () => {
      try {
        await writeFile(path.join(mountDir!, 'after'), 'written after the failover');
        failoverMs = Date.now() - killedAt;
        return true;
      } catch {
        return false;
      }
    }, 60_000, 'a write through the mount after the leader died');
    console.log(`# mount failover: writes succeeded again ${failoverMs} ms after the leader was killed`);
    assert.equal((await client.status()).leader, `${LOOP}:${b.port}`);
    assert.equal(await readFile(path.join(mountDir, 'after'), 'utf8'), 'written after the failover');
    assert.deepEqual(await readFile(path.join(mountDir, 'before')), before);
    assert.deepEqual((await readdir(mountDir)).sort(), ['after', 'before']);
    // A name made through the mount is seen by a client of the new leader: the mount's namespace
    // calls went to the new leader's metadata server.
    assert.ok((await client.readdirAll(1)).some((e) => e.name === 'after'));
  });
});
