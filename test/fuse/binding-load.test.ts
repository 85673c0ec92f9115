// The binding under load and at the edges of a session's life, through memfs child processes:
// hundreds of concurrent requests from several processes, a throwing handler (EIO, the mount
// goes on), a handler that never answers, unmount under load, SIGTERM/SIGINT, and a stale
// mount left by kill -9 being cleared by the next mount.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { run } from '../helpers/fuse-commands.js';
import { isMounted, mountInfo, startMemfs, waitFor } from '../helpers/fuse-memfs-process.js';

const LOADERS = 4;
const OPS_PER_LOADER = 200;

/** One load process: many concurrent create/write/stat/read/readdir/unlink calls in its own dir. */
const LOADER = `
const fs = require('node:fs/promises');
const path = require('node:path');
const [dir, count, mode, untilMs] = [process.argv[1], Number(process.argv[2]), process.argv[3], Number(process.argv[4] || 0)];
async function once(round) {
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    const f = path.join(dir, 'f' + i);
    const body = Buffer.alloc(4096, (i + round) % 251);
    await fs.writeFile(f, body);
    const st = await fs.stat(f);
    if (st.size !== 4096) throw new Error('size ' + st.size);
    const back = await fs.readFile(f);
    if (!back.equals(body)) throw new Error('content of ' + f);
  }));
  const names = await fs.readdir(dir);
  if (names.length !== count) throw new Error('readdir saw ' + names.length);
  await Promise.all(names.map((n) => fs.unlink(path.join(dir, n))));
}
(async () => {
  await fs.mkdir(dir, { recursive: true });
  if (mode === 'once') { await once(0); console.log('ok'); return; }
  let rounds = 0, errors = 0;
  const deadline = Date.now() + untilMs;
  while (Date.now() < deadline) {
    // After an unmount the directory is gone (ENOENT) or the session is (ENOTCONN): stop.
    try { await once(rounds++); } catch (e) { errors++; break; }
  }
  console.log(JSON.stringify({ rounds, errors }));
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

function loader(dir: string, count: number, mode: 'once' | 'loop', untilMs = 0): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, ['-e', LOADER, dir, String(count), mode, String(untilMs)], { timeoutMs: 30_000 });
}

describe('load', () => {
  it('hundreds of concurrent requests from several processes', async () => {
    const memfs = await startMemfs({ args: ['--attr-timeout', '1'] });
    try {
      const results = await Promise.all(
        Array.from({ length: LOADERS }, (_, i) => loader(join(memfs.mountpoint, `load-${i}`), OPS_PER_LOADER, 'once')),
      );
      for (const r of results) assert.equal(r.stdout.trim(), 'ok', r.stderr);
      // Every inode of the deleted files is gone once the kernel has forgotten them.
      assert.deepEqual((await fs.readdir(memfs.mountpoint)).sort(), ['load-0', 'load-1', 'load-2', 'load-3']);
    } finally {
      await memfs.stop();
    }
  });

  it('a throwing handler answers EIO and the mount goes on', async () => {
    const memfs = await startMemfs({ args: ['--test-hooks', '--verbose'] });
    try {
      const root = memfs.mountpoint;
      await assert.rejects(fs.stat(join(root, '__throw__lookup')), { code: 'EIO' });
      await assert.rejects(fs.mkdir(join(root, '__throw__mkdir')), { code: 'EIO' });
      await assert.rejects(fs.writeFile(join(root, '__throw__create'), 'x'), { code: 'EIO' });
      await fs.writeFile(join(root, 'after'), 'still fine');
      assert.equal(await fs.readFile(join(root, 'after'), 'utf8'), 'still fine');
      assert.match(memfs.stderr(), /"event":"handler-error","op":"lookup","errno":5/);
    } finally {
      await memfs.stop();
    }
  });
});

describe('end of a session', () => {
  it('SIGTERM unmounts and exits 0; SIGINT too', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const memfs = await startMemfs();
      try {
        await fs.writeFile(join(memfs.mountpoint, 'f'), 'x');
        process.kill(memfs.pid, signal);
        assert.equal(await memfs.exited, 0);
        assert.equal(await isMounted(memfs.mountpoint), false);
      } finally {
        await memfs.stop();
      }
    }
  });

  it('unmount under load: memfs exits cleanly and the load processes get errors, not hangs', async () => {
    const memfs = await startMemfs();
    const loads = Array.from({ length: 3 }, (_, i) => loader(join(memfs.mountpoint, `l${i}`), 50, 'loop', 10_000));
    try {
      // Unmount only once every load is at work on the mount: a loader still starting when the
      // mount goes would work on the bare directory under it and never see the unmount.
      const working = async (i: number): Promise<boolean> => (await fs.readdir(join(memfs.mountpoint, `l${i}`)).catch(() => [])).length > 0;
      await waitFor(async () => (await Promise.all([0, 1, 2].map(working))).every(Boolean), 10_000, 'the loads to start on the mount');
      const t0 = Date.now();
      process.kill(memfs.pid, 'SIGTERM');
      assert.equal(await memfs.exited, 0);
      assert.ok(Date.now() - t0 < 5_000, 'unmount finished promptly');
      assert.equal(await isMounted(memfs.mountpoint), false);
      const results = await Promise.all(loads);
      assert.ok(Date.now() - t0 < 8_000, 'load processes stopped promptly');
      for (const r of results) {
        assert.equal(r.code, 0, r.stderr);
        const summary = JSON.parse(r.stdout.trim()) as { rounds: number; errors: number };
        assert.equal(summary.errors, 1, 'the load saw the unmount');
        assert.ok(summary.rounds >= 1);
      }
    } finally {
      await memfs.stop();
      await Promise.allSettled(loads);
    }
  });

  it('a request whose handler never answers is released by unmount (ENOTCONN)', async () => {
    const memfs = await startMemfs({ args: ['--test-hooks'] });
    const stuck = run('stat', [join(memfs.mountpoint, '__hang__forever')], { timeoutMs: 15_000 });
    try {
      await new Promise((r) => setTimeout(r, 200));
      process.kill(memfs.pid, 'SIGTERM');
      assert.equal(await memfs.exited, 0);
      const r = await stuck;
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Transport endpoint is not connected|No such file/);
    } finally {
      await memfs.stop();
      await stuck.catch(() => undefined);
    }
  });

  it('a stale mount left by kill -9 is cleared by the next mount', async () => {
    const first = await startMemfs();
    const mountpoint = first.mountpoint;
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    await assert.rejects(fs.stat(mountpoint), { code: 'ENOTCONN' });
    let second;
    try {
      second = await startMemfs({ mountpoint });
      await fs.writeFile(join(mountpoint, 'new'), 'fresh');
      assert.equal(await fs.readFile(join(mountpoint, 'new'), 'utf8'), 'fresh');
      assert.equal((await mountInfo(mountpoint))?.fstype, 'fuse.memfs');
    } finally {
      await second?.stop();
      if (await isMounted(mountpoint)) await run('fusermount3', ['-u', '-z', mountpoint]);
      await waitFor(async () => !(await isMounted(mountpoint)), 5_000, 'unmount');
      await fs.rm(first.dir, { recursive: true, force: true });
    }
  });

  it('a process with an open file does not keep an unmounted session alive', async () => {
    const memfs = await startMemfs();
    const f = join(memfs.mountpoint, 'held');
    await fs.writeFile(f, 'x');
    const holder = spawn('sh', ['-c', `exec 3<${f}; read line; cat <&3`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const holderExit = new Promise<number | null>((resolve) => holder.once('exit', resolve));
    try {
      await new Promise((r) => setTimeout(r, 200));
      process.kill(memfs.pid, 'SIGTERM');
      assert.equal(await memfs.exited, 0);
      holder.stdin.end('go\n');
      assert.notEqual(await holderExit, 0, 'reading through a dead session fails');
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
      await holderExit;
      await memfs.stop();
    }
  });
});
