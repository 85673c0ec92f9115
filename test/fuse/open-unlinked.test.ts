// Open files are safe across mounts (issue 12, part 6): a file open on mount A and unlinked from
// mount B keeps its data until A's last close, even across a kill -9 of the metadata server in
// between; then its blocks are deleted from the data servers. A mount killed -9 with the file
// open loses its holds once the mediator's session grace period has passed, and the blocks go;
// a mount that is alive keeps them across a restart of the whole mediator (it reconnects and
// restates its holds within the grace period).
// The file is held open by a helper process that reads and writes on command.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT_INO } from '../../src/common/types.js';
import { freePorts, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { OpenFileProcess } from '../helpers/open-file-process.js';
import { startMount, type Mount } from '../helpers/mount.js';

const SESSION_GRACE_MS = 5_000;
/** Longer than the mediator's wait before it deletes orphans (1 s): what was to go is gone. */
const SETTLE_MS = 1_500;
const FILE_BYTES = 2 * 1024 * 1024 + 4321; // three blocks

async function keysOfInode(cluster: Cluster, ino: number): Promise<string[]> {
  const ports = (await cluster.status()).servers.filter((s) => s.role === 'data' && s.state === 'live').map((s) => s.port);
  const keys: string[] = [];
  for (const port of ports) {
    const r = await runCli(['list-contents', String(port), '--json']);
    assert.equal(r.code, 0, r.stderr);
    for (const e of JSON.parse(r.stdout) as Array<{ key: string }>) if (e.key.startsWith(`${ino}:`)) keys.push(`${port}/${e.key}`);
  }
  return keys;
}

async function metaPid(cluster: Cluster): Promise<number> {
  const r = await runCli(['status', '--mediator', `127.0.0.1:${cluster.mediatorPort}`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout) as { servers: Array<{ role: string; pid?: number }> };
  const pid = status.servers.find((s) => s.role === 'meta')?.pid;
  assert.ok(pid !== undefined, 'status names the metadata server pid');
  return pid;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a file open on one mount and unlinked from another', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let a: Mount;
  let b: Mount;
  const helpers: OpenFileProcess[] = [];
  before(async () => {
    const [spare] = await freePorts(1);
    cluster = await startCluster({
      readQuorum: 2,
      writeQuorum: 3,
      dataServers: 3,
      sparePorts: `${spare}`,
      extraArgs: ['--session-grace-ms', String(SESSION_GRACE_MS)],
    });
    a = await startMount(cluster.mediatorPort);
    b = await startMount(cluster.mediatorPort);
  });
  after(async () => {
    for (const helper of helpers) await helper.stop();
    await a?.stop();
    await b?.stop();
    await cluster?.stop();
  });

  /** Writes a file through the client, opens it on A from a helper; returns what it needs. */
  async function openOnA(name: string): Promise<{ helper: OpenFileProcess; ino: number; data: Buffer }> {
    const data = randomBytes(FILE_BYTES);
    await cluster.client.writeFile(`/${name}`, data);
    const ino = (await cluster.client.lookup(ROOT_INO, name)).ino;
    const helper = new OpenFileProcess();
    helpers.push(helper);
    await helper.must({ op: 'open', path: path.join(a.dir, name) });
    assert.equal((await keysOfInode(cluster, ino)).length, 9, 'three blocks on each of three servers');
    return { helper, ino, data };
  }

  /** A reads all of it, writes, reads its write back; its blocks stay until A closes, then go. */
  async function useThenClose(helper: OpenFileProcess, ino: number, data: Buffer): Promise<void> {
    assert.ok((await helper.must({ op: 'read' })).equals(data), 'A reads the whole content after the unlink');
    const patch = Buffer.from('written after the unlink');
    await helper.must({ op: 'write', offset: 1_000, base64: patch.toString('base64') });
    const expected = Buffer.from(data);
    patch.copy(expected, 1_000);
    assert.ok((await helper.must({ op: 'read' })).equals(expected), 'A reads its own write back');
    await sleep(SETTLE_MS);
    assert.ok((await keysOfInode(cluster, ino)).length >= 9, 'the blocks stay while A has the file open');
    await helper.must({ op: 'close' });
    await waitFor(async () => (await keysOfInode(cluster, ino)).length === 0, 15_000, `the blocks of inode ${ino} to be deleted after the close`);
  }

  it('a file removed through a mount and open nowhere: its blocks are deleted at once (the metadata server reports them to the mediator)', async () => {
    const names = ['unlinked-plainly', 'renamed-over', 'replacement'];
    for (const name of names) await cluster.client.writeFile(`/${name}`, randomBytes(FILE_BYTES));
    const [unlinked, replaced] = await Promise.all(names.slice(0, 2).map(async (name) => (await cluster.client.lookup(ROOT_INO, name)).ino));
    assert.equal((await keysOfInode(cluster, unlinked!)).length, 9);
    await unlink(path.join(b.dir, 'unlinked-plainly'));
    await rename(path.join(b.dir, 'replacement'), path.join(b.dir, 'renamed-over'));
    for (const ino of [unlinked!, replaced!]) {
      // Far sooner than the scrubber's orphan collection (orphanMinAgeMs) would.
      await waitFor(async () => (await keysOfInode(cluster, ino)).length === 0, 5_000, `the blocks of inode ${ino} to be deleted`);
    }
  });

  it('A still reads and writes all of it, and the blocks go after A closes', async () => {
    const { helper, ino, data } = await openOnA('open-then-unlinked');
    await unlink(path.join(b.dir, 'open-then-unlinked'));
    await assert.rejects(cluster.client.lookup(ROOT_INO, 'open-then-unlinked'));
    await useThenClose(helper, ino, data);
  });

  it('the same with the metadata server killed -9 and restarted between the unlink and the read', async () => {
    const { helper, ino, data } = await openOnA('unlinked-across-restart');
    await unlink(path.join(b.dir, 'unlinked-across-restart'));
    const pid = await metaPid(cluster);
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await metaPid(cluster).catch(() => pid)) !== pid, 15_000, 'the metadata server to be restarted');
    await useThenClose(helper, ino, data);
  });

  it("A's mount killed -9 while holding: after the grace period the inode is released and its blocks deleted", async () => {
    const c = await startMount(cluster.mediatorPort);
    try {
      const data = randomBytes(FILE_BYTES);
      await cluster.client.writeFile('/held-by-a-dead-mount', data);
      const ino = (await cluster.client.lookup(ROOT_INO, 'held-by-a-dead-mount')).ino;
      const helper = new OpenFileProcess();
      helpers.push(helper);
      await helper.must({ op: 'open', path: path.join(c.dir, 'held-by-a-dead-mount') });
      await unlink(path.join(b.dir, 'held-by-a-dead-mount'));
      await sleep(SETTLE_MS);
      assert.equal((await keysOfInode(cluster, ino)).length, 9, 'held: the blocks stay');
      await c.kill();
      const killedAtMs = Date.now();
      assert.equal((await keysOfInode(cluster, ino)).length, 9, 'the session is in its grace period: the blocks stay');
      await waitFor(async () => (await keysOfInode(cluster, ino)).length === 0, 20_000, `the blocks of inode ${ino} to be deleted`);
      assert.ok(Date.now() - killedAtMs >= SESSION_GRACE_MS, 'not before the grace period');
      await helper.stop();
    } finally {
      await c.stop();
    }
  });

  it('a mount that reconnects after a mediator restart keeps its holds past the grace period', async () => {
    const { helper, ino, data } = await openOnA('held-across-mediator-restart');
    await unlink(path.join(b.dir, 'held-across-mediator-restart'));
    await cluster.stop({ keepData: true });
    cluster = await cluster.restart();
    await sleep(SESSION_GRACE_MS + SETTLE_MS);
    await useThenClose(helper, ino, data);
  });
});
