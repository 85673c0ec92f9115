// The mount's lifecycle: SIGTERM unmounts; the mount raises its kernel readahead; a client killed with -9 leaves a stale mount that the
// next mount clears; `quorumfs unmount` works; bad mount points are usage errors; an unreachable
// mediator gives EIO within the deadline and the mount works again when it returns.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { limits } from '../../src/common/limits.js';
import { runCli, startCluster, type Cluster } from '../helpers/cluster.js';
import { isMounted, startMount } from '../helpers/mount.js';

describe('mount lifecycle', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 1, dataServers: 1 });
  });
  after(() => cluster?.stop());

  it('unmounts on SIGTERM', async () => {
    const mount = await startMount(cluster.mediatorPort);
    await writeFile(path.join(mount.dir, 'f'), 'x');
    mount.process.kill('SIGTERM');
    await mount.exited;
    assert.equal(mount.process.exitCode, 0);
    assert.equal(await isMounted(mount.dir), false);
    await mount.stop();
  });

  it('raises the kernel readahead of its mount (mount point with a space in its name)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs mnt '));
    const mount = await startMount(cluster.mediatorPort, { dir });
    try {
      // glibc's major()/minor() of st_dev, independent of the mount's own mountinfo parsing.
      const dev = (await stat(mount.dir)).dev;
      const major = ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
      const minor = (dev & 0xff) | ((dev >>> 12) & ~0xff);
      const kib = (await readFile(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, 'utf8')).trim();
      assert.equal(Number(kib) * 1024, limits.mountReadaheadBytes);
    } finally {
      await mount.stop();
    }
  });

  it('explain takes a path on the mount, and names a missing one', async () => {
    const mount = await startMount(cluster.mediatorPort);
    try {
      await writeFile(path.join(mount.dir, 'shown'), 'abc');
      const mediator = `127.0.0.1:${cluster.mediatorPort}`;
      const shown = await runCli(['explain', path.join(mount.dir, 'shown'), '--mediator', mediator]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^inode \d+, 3 bytes\n  block 0 .*\n1 block\n$/);
      const missing = await runCli(['explain', path.join(mount.dir, 'absent'), '--mediator', mediator]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /absent: no such file or directory/);
    } finally {
      await mount.stop();
    }
  });

  it('recovers the stale mount a killed client leaves behind', async () => {
    const first = await startMount(cluster.mediatorPort);
    await writeFile(path.join(first.dir, 'kept'), 'still here');
    await first.kill();
    await assert.rejects(stat(path.join(first.dir, 'kept')), { code: 'ENOTCONN' });
    const second = await startMount(cluster.mediatorPort, { dir: first.dir });
    assert.equal(await readFile(path.join(second.dir, 'kept'), 'utf8'), 'still here');
    await second.stop();
  });

  it('quorumfs unmount unmounts, and bad mount points are usage errors', async () => {
    const mount = await startMount(cluster.mediatorPort);
    const r = await runCli(['unmount', mount.dir]);
    assert.equal(r.code, 0, r.stderr);
    await mount.exited;
    assert.equal(await isMounted(mount.dir), false);
    await mount.stop();
    const missing = await runCli(['mount', '/nonexistent/quorumfs-test', '--mediator', `127.0.0.1:${cluster.mediatorPort}`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^quorumfs: mount point \/nonexistent\/quorumfs-test does not exist\n$/);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-file-'));
    await writeFile(path.join(dir, 'file'), '');
    const notDir = await runCli(['mount', path.join(dir, 'file')]);
    assert.equal(notDir.code, 2);
    assert.match(notDir.stderr, /is not a directory/);
    await rm(dir, { recursive: true });
  });
});

describe('mediator unreachable', { timeout: 120_000 }, () => {
  it('fails with EIO within the deadline, and works again once the mediator is back', async () => {
    let cluster = await startCluster({ readQuorum: 1, writeQuorum: 1, dataServers: 1 });
    const mount = await startMount(cluster.mediatorPort, { timeoutMs: 2_000, attrTimeoutSec: 0 });
    try {
      await writeFile(path.join(mount.dir, 'before'), 'before');
      await cluster.stop({ keepData: true });
      const start = Date.now();
      await assert.rejects(readFile(path.join(mount.dir, 'before')), { code: 'EIO' });
      await assert.rejects(writeFile(path.join(mount.dir, 'during'), 'x'), { code: 'EIO' });
      const tookMs = Date.now() - start;
      assert.ok(tookMs < 10_000, `took ${tookMs} ms`);
      cluster = await cluster.restart();
      assert.equal(await readFile(path.join(mount.dir, 'before'), 'utf8'), 'before');
      await writeFile(path.join(mount.dir, 'after'), 'after');
      assert.equal(await readFile(path.join(mount.dir, 'after'), 'utf8'), 'after');
    } finally {
      await mount.stop();
      await cluster.stop();
    }
  });
});
