// POSIX semantics through a real quorumfs mount (cluster of three data servers, Qr = Qw = 2),
// driven with async node:fs calls and child processes (coreutils; python3 for xattrs,
// fallocate, renameat2 and raw errno names): each error case with its errno, contents under
// O_TRUNC, O_APPEND, truncate, holes and buffered writes, attributes and nanosecond times, which
// operations mark which times, links, renameat2, FIFOs, statfs, fsync, xattrs, large directories
// and byte-string names, ownership of new files, long paths, and open files that lose their last
// name. Mounted with the default attribute caching, as users run it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { constants as C } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { startMount, type Mount } from '../helpers/mount.js';
import { changed, times, type Times } from '../helpers/file-times.js';
import { delay } from '../../src/common/async.js';

const MiB = 1024 * 1024;
const NOBODY = 65534;
const UTC = { ...process.env, TZ: 'UTC' };
const OLD = '2001-02-03 04:05:06.123456789';
/** Long enough for any clock to tick between two operations. */
const TICK_MS = 20;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program and collects its output. Its stdin is /dev/null: the shared helpers write to
 * a stdin pipe, which fails with EPIPE (an uncaught stream error) when the program has exited
 * first. `uid` runs it as that user and group with no supplementary groups (setpriv). */
function run(command: string, args: string[], options: { cwd?: string; uid?: number } = {}): Promise<RunResult> {
  const [program, argv] =
    options.uid === undefined
      ? [command, args]
      : ['setpriv', [`--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups', command, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(program, argv, { cwd: options.cwd, env: UTC, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}


/** Which of the three times differ between two snapshots, as "a,m,c" (or "" for none). */
async function sh(command: string, args: string[]): Promise<string> {
  const r = await run(command, args);
  assert.equal(r.code, 0, `${command} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Sets atime and mtime far in the past (ctime becomes now), then waits a tick so that any later
 * change of a time is visible. */
async function age(path: string): Promise<Times> {
  await sh('touch', ['-h', '-d', OLD, path]);
  await delay(TICK_MS);
  return times(path);
}

/** The wall clock in nanoseconds, less a few milliseconds: the servers' clocks are the wall
 * clock (in whole milliseconds) at their start plus a monotonic clock, so they may lag by one. */
function nowNs(): bigint {
  return BigInt(Date.now() - 5) * 1_000_000n;
}


/** The system python: another user cannot run root's own (a pyenv shim under /root). */
const SYSTEM_PYTHON = '/usr/bin/python3';

/** Runs python3 `program` (argv[1..] = args; as `uid` if given) and returns its stdout, which
 * the helpers print as OK or an errno name. */
async function py(program: string, args: string[], as?: number): Promise<string> {
  const r = await run(SYSTEM_PYTHON, ['-c', program, ...args], { uid: as });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const PY_ERRNO = `
import errno, os, sys
def attempt(fn, *a):
    try:
        fn(*a)
        return 'OK'
    except OSError as e:
        return errno.errorcode[e.errno]
`;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function pattern(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 10)) & 0xff;
  return out;
}

describe('POSIX semantics through the quorumfs mount', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let mount: Mount;
  let root = '';
  const p = (...parts: string[]): string => join(root, ...parts);

  before(async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3 });
    mount = await startMount(cluster.mediatorPort);
    root = mount.dir;
  });

  after(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  describe('errors', () => {
    it('ENOENT for missing names and missing parents', async () => {
      await fs.mkdir(p('enoent'));
      await assert.rejects(fs.stat(p('enoent', 'nope')), { code: 'ENOENT' });
      await assert.rejects(fs.open(p('enoent', 'nope'), 'r'), { code: 'ENOENT' });
      await assert.rejects(fs.unlink(p('enoent', 'nope')), { code: 'ENOENT' });
      await assert.rejects(fs.rmdir(p('enoent', 'nope')), { code: 'ENOENT' });
      await assert.rejects(fs.rename(p('enoent', 'nope'), p('enoent', 'other')), { code: 'ENOENT' });
      await assert.rejects(fs.readlink(p('enoent', 'nope')), { code: 'ENOENT' });
      await assert.rejects(fs.link(p('enoent', 'nope'), p('enoent', 'other')), { code: 'ENOENT' });
      await assert.rejects(fs.writeFile(p('enoent', 'no-dir', 'f'), 'x'), { code: 'ENOENT' });
      await assert.rejects(fs.mkdir(p('enoent', 'no-dir', 'd')), { code: 'ENOENT' });
      // A name that existed and went away is gone for lookups too.
      await fs.writeFile(p('enoent', 'gone'), 'x');
      await fs.unlink(p('enoent', 'gone'));
      await assert.rejects(fs.stat(p('enoent', 'gone')), { code: 'ENOENT' });
    });

    it('EEXIST for mkdir, O_CREAT|O_EXCL, link and symlink onto a taken name', async () => {
      await fs.mkdir(p('eexist'));
      await fs.writeFile(p('eexist', 'f'), 'x');
      await assert.rejects(fs.mkdir(p('eexist')), { code: 'EEXIST' });
      await assert.rejects(fs.mkdir(p('eexist', 'f')), { code: 'EEXIST' });
      await assert.rejects(fs.open(p('eexist', 'f'), C.O_CREAT | C.O_EXCL | C.O_WRONLY), { code: 'EEXIST' });
      await assert.rejects(fs.open(p('eexist'), 'wx'), { code: 'EEXIST' });
      await assert.rejects(fs.link(p('eexist', 'f'), p('eexist', 'f')), { code: 'EEXIST' });
      await assert.rejects(fs.symlink('target', p('eexist', 'f')), { code: 'EEXIST' });
      const r = await run('mkfifo', [p('eexist', 'f')]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /File exists/);
      // The failed calls left the file alone.
      assert.equal(await fs.readFile(p('eexist', 'f'), 'utf8'), 'x');
    });

    it('ENOTDIR when a file is used as a directory', async () => {
      await fs.mkdir(p('enotdir'));
      await fs.writeFile(p('enotdir', 'f'), 'x');
      await fs.mkdir(p('enotdir', 'd'));
      await assert.rejects(fs.stat(p('enotdir', 'f', 'x')), { code: 'ENOTDIR' });
      await assert.rejects(fs.mkdir(p('enotdir', 'f', 'x')), { code: 'ENOTDIR' });
      await assert.rejects(fs.writeFile(p('enotdir', 'f', 'x'), 'y'), { code: 'ENOTDIR' });
      await assert.rejects(fs.readdir(p('enotdir', 'f')), { code: 'ENOTDIR' });
      await assert.rejects(fs.rmdir(p('enotdir', 'f')), { code: 'ENOTDIR' });
      // A directory cannot replace a file.
      await assert.rejects(fs.rename(p('enotdir', 'd'), p('enotdir', 'f')), { code: 'ENOTDIR' });
      assert.ok((await fs.stat(p('enotdir', 'd'))).isDirectory());
    });

    it('EISDIR for opening a directory for writing, unlinking it or replacing it by a file', async () => {
      await fs.mkdir(p('eisdir'));
      await fs.mkdir(p('eisdir', 'd'));
      await fs.writeFile(p('eisdir', 'f'), 'x');
      await assert.rejects(fs.open(p('eisdir', 'd'), 'r+'), { code: 'EISDIR' });
      await assert.rejects(fs.open(p('eisdir', 'd'), 'w'), { code: 'EISDIR' });
      await assert.rejects(fs.writeFile(p('eisdir', 'd'), 'x'), { code: 'EISDIR' });
      await assert.rejects(fs.truncate(p('eisdir', 'd'), 0), { code: 'EISDIR' });
      await assert.rejects(fs.unlink(p('eisdir', 'd')), { code: 'EISDIR' });
      await assert.rejects(fs.rename(p('eisdir', 'f'), p('eisdir', 'd')), { code: 'EISDIR' });
      assert.ok((await fs.stat(p('eisdir', 'd'))).isDirectory());
    });

    it('ENOTEMPTY for rmdir and rename onto a non-empty directory', async () => {
      await fs.mkdir(p('enotempty', 'full'), { recursive: true });
      await fs.writeFile(p('enotempty', 'full', 'f'), 'x');
      await fs.mkdir(p('enotempty', 'other'));
      await assert.rejects(fs.rmdir(p('enotempty', 'full')), { code: 'ENOTEMPTY' });
      await assert.rejects(fs.rename(p('enotempty', 'other'), p('enotempty', 'full')), { code: 'ENOTEMPTY' });
      assert.deepEqual(await fs.readdir(p('enotempty', 'full')), ['f']);
      // Emptied, it goes.
      await fs.unlink(p('enotempty', 'full', 'f'));
      await fs.rmdir(p('enotempty', 'full'));
      await assert.rejects(fs.stat(p('enotempty', 'full')), { code: 'ENOENT' });
    });

    it('ENAMETOOLONG for a 256-byte name; 255 bytes work; statfs says 255', async () => {
      await fs.mkdir(p('names'));
      const long = 'x'.repeat(256);
      const max = 'y'.repeat(255);
      await assert.rejects(fs.writeFile(p('names', long), 'x'), { code: 'ENAMETOOLONG' });
      await assert.rejects(fs.mkdir(p('names', long)), { code: 'ENAMETOOLONG' });
      await assert.rejects(fs.stat(p('names', long)), { code: 'ENAMETOOLONG' });
      await assert.rejects(fs.symlink('t', p('names', long)), { code: 'ENAMETOOLONG' });
      await fs.writeFile(p('names', max), 'max');
      await assert.rejects(fs.rename(p('names', max), p('names', long)), { code: 'ENAMETOOLONG' });
      await assert.rejects(fs.link(p('names', max), p('names', long)), { code: 'ENAMETOOLONG' });
      // Multi-byte: 128 two-byte characters are 256 bytes.
      await assert.rejects(fs.writeFile(p('names', 'é'.repeat(128)), 'x'), { code: 'ENAMETOOLONG' });
      await fs.writeFile(p('names', 'é'.repeat(127)), 'ok');
      assert.deepEqual((await fs.readdir(p('names'))).sort(), [max, 'é'.repeat(127)].sort());
      assert.equal(await fs.readFile(p('names', max), 'utf8'), 'max');
      assert.equal(await sh('stat', ['-f', '-c', '%l', root]), '255');
    });

    it('EINVAL for moving a directory into itself or below itself', async () => {
      await fs.mkdir(p('einval', 'd', 'sub'), { recursive: true });
      await assert.rejects(fs.rename(p('einval', 'd'), p('einval', 'd', 'x')), { code: 'EINVAL' });
      await assert.rejects(fs.rename(p('einval', 'd'), p('einval', 'd', 'sub', 'x')), { code: 'EINVAL' });
      await assert.rejects(fs.rename(p('einval'), p('einval', 'd', 'sub', 'x')), { code: 'EINVAL' });
      // Onto itself: a successful no-op.
      await fs.rename(p('einval', 'd'), p('einval', 'd'));
      assert.deepEqual(await fs.readdir(p('einval', 'd')), ['sub']);
      // A directory cannot be hard-linked.
      await assert.rejects(fs.link(p('einval', 'd'), p('einval', 'd2')), { code: 'EPERM' });
    });
  });

  describe('file contents', () => {
    it('O_TRUNC empties the file', async () => {
      await fs.writeFile(p('trunc'), 'hello world');
      await fs.writeFile(p('trunc'), 'x'); // O_WRONLY|O_CREAT|O_TRUNC
      assert.equal(await fs.readFile(p('trunc'), 'utf8'), 'x');
      const fh = await fs.open(p('trunc'), C.O_RDWR | C.O_TRUNC);
      assert.equal((await fh.stat()).size, 0);
      await fh.write('abc');
      await fh.close();
      assert.equal(await fs.readFile(p('trunc'), 'utf8'), 'abc');
      // O_TRUNC on a large file drops every block.
      await fs.writeFile(p('trunc'), pattern(3 * MiB, 1));
      const fh2 = await fs.open(p('trunc'), 'w');
      await fh2.close();
      assert.equal((await fs.stat(p('trunc'))).size, 0);
      await fs.truncate(p('trunc'), 2 * MiB);
      assert.ok((await fs.readFile(p('trunc'))).every((b) => b === 0), 'no old bytes come back');
    });

    it('O_APPEND writes at the end, also with two handles and a position given', async () => {
      await fs.writeFile(p('append'), 'start');
      await fs.appendFile(p('append'), '-one');
      await fs.appendFile(p('append'), '-two');
      assert.equal(await fs.readFile(p('append'), 'utf8'), 'start-one-two');
      const a = await fs.open(p('append'), 'a');
      const b = await fs.open(p('append'), 'a');
      await a.write('-A');
      await b.write('-B');
      await a.write('-C', 0); // pwrite on O_APPEND still appends (Linux)
      await a.close();
      await b.close();
      assert.equal(await fs.readFile(p('append'), 'utf8'), 'start-one-two-A-B-C');
    });

    it('truncate and ftruncate, down and up: the grown part and holes read as zeros', async () => {
      const data = pattern(3 * MiB + 12345, 2);
      await fs.writeFile(p('resize'), data);
      await fs.truncate(p('resize'), MiB + 100);
      assert.equal(sha256(await fs.readFile(p('resize'))), sha256(data.subarray(0, MiB + 100)));
      // Growing again must not bring back the bytes cut off.
      await fs.truncate(p('resize'), 3 * MiB);
      const grown = await fs.readFile(p('resize'));
      assert.equal(grown.length, 3 * MiB);
      assert.ok(grown.subarray(0, MiB + 100).equals(data.subarray(0, MiB + 100)));
      assert.ok(grown.subarray(MiB + 100).every((b) => b === 0), 'grown bytes are zeros');
      const fh = await fs.open(p('resize'), 'r+');
      await fh.truncate(10);
      assert.equal((await fh.stat()).size, 10);
      await fh.truncate(2 * MiB + 1);
      assert.equal((await fh.stat()).size, 2 * MiB + 1);
      await fh.write('end', 2 * MiB + 1);
      await fh.close();
      const after = await fs.readFile(p('resize'));
      assert.equal(after.length, 2 * MiB + 4);
      assert.ok(after.subarray(0, 10).equals(data.subarray(0, 10)));
      assert.ok(after.subarray(10, 2 * MiB + 1).every((b) => b === 0));
      assert.equal(after.subarray(2 * MiB + 1).toString(), 'end');
    });

    it('a write past the end leaves a hole of zeros, across block boundaries', async () => {
      const fh = await fs.open(p('hole'), 'w+');
      await fh.write('head', 0);
      await fh.write('tail', 3 * MiB + 5);
      const inside = Buffer.alloc(8);
      await fh.read(inside, 0, 8, MiB - 4);
      assert.ok(inside.every((b) => b === 0));
      await fh.close();
      const st = await fs.stat(p('hole'));
      assert.equal(st.size, 3 * MiB + 9);
      const all = await fs.readFile(p('hole'));
      assert.equal(all.subarray(0, 4).toString(), 'head');
      assert.ok(all.subarray(4, 3 * MiB + 5).every((b) => b === 0));
      assert.equal(all.subarray(3 * MiB + 5).toString(), 'tail');
    });

    it('data written across blocks reads back exactly, through a fresh open', async () => {
      const data = pattern(2 * MiB + 777, 3);
      await fs.writeFile(p('blocks'), data);
      const fh = await fs.open(p('blocks'), 'r+');
      await fh.write(Buffer.from('XYZ'), 0, 3, MiB - 1); // straddles blocks 0 and 1
      await fh.close();
      data.write('XYZ', MiB - 1);
      assert.equal(sha256(await fs.readFile(p('blocks'))), sha256(data));
    });

    it('fsync commits buffered data to the cluster before close', async () => {
      const fh = await fs.open(p('synced'), 'w');
      const data = pattern(MiB + 3, 4);
      await fh.write(data);
      await fh.sync();
      const committed = await cluster.client.readFile('synced');
      assert.equal(sha256(committed), sha256(data), 'fsync committed the data');
      await fh.write('more');
      await fh.datasync();
      assert.equal((await cluster.client.readFile('synced')).length, MiB + 7);
      await fh.close();
    });

    it('scattered writes are not all held in the mount: most are committed before close', async () => {
      const writes = 1000;
      const fh = await fs.open(p('scattered'), 'w');
      const chunk = pattern(64 * 1024, 7);
      for (let i = 0; i < writes; i++) await fh.write(chunk, 0, chunk.length, i * MiB + 1);
      // The design: the mount buffers writes and flushes on close, fsync and when the buffer fills.
      // Held at any time: at most 16 MiB of extents (256 of these 64 KiB writes) plus 4 batches of
      // at most 32 blocks in flight, so well over half of 1,000 writes are committed before close.
      const committed = (await cluster.client.resolve('scattered')).size;
      await fh.close();
      const final = (await fs.stat(p('scattered'))).size;
      assert.equal(final, (writes - 1) * MiB + 1 + chunk.length);
      assert.ok(committed >= final / 2, `only ${committed} of ${final} bytes were committed before close`);
      const tail = Buffer.alloc(chunk.length);
      const check = await fs.open(p('scattered'), 'r');
      await check.read(tail, 0, chunk.length, (writes - 1) * MiB + 1);
      await check.close();
      assert.ok(tail.equals(chunk));
    });

    it('fallocate grows the size with zeros and never shrinks it', async () => {
      const out = await py(
        `${PY_ERRNO}
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'abc')
os.posix_fallocate(fd, 0, 3 * 1024 * 1024 + 10)
print(os.fstat(fd).st_size)
os.posix_fallocate(fd, 0, 100)
print(os.fstat(fd).st_size)
os.close(fd)`,
        [p('falloc')],
      );
      assert.deepEqual(out.split('\n'), [String(3 * MiB + 10), String(3 * MiB + 10)]);
      const all = await fs.readFile(p('falloc'));
      assert.equal(all.length, 3 * MiB + 10);
      assert.equal(all.subarray(0, 3).toString(), 'abc');
      assert.ok(all.subarray(3).every((b) => b === 0));
    });
  });

  describe('attributes and times', () => {
    it('chmod changes the permission bits, including setuid, setgid and sticky', async () => {
      await fs.writeFile(p('modes'), 'x');
      for (const mode of [0o600, 0o4755, 0o2750, 0o1777, 0o000, 0o644]) {
        await fs.chmod(p('modes'), mode);
        assert.equal((await fs.stat(p('modes'))).mode & 0o7777, mode);
      }
      await fs.mkdir(p('mode-dir'));
      await fs.chmod(p('mode-dir'), 0o1777);
      const st = await fs.stat(p('mode-dir'));
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o7777, 0o1777);
    });

    it('chown by root gives a file to another uid and gid; it clears setuid', async () => {
      await fs.writeFile(p('owned'), 'x');
      await fs.chown(p('owned'), 1234, 5678);
      const st = await fs.stat(p('owned'));
      assert.deepEqual([st.uid, st.gid], [1234, 5678]);
      await fs.chown(p('owned'), -1, 42);
      assert.deepEqual([(await fs.stat(p('owned'))).uid, (await fs.stat(p('owned'))).gid], [1234, 42]);
      await fs.symlink('owned', p('owned-link'));
      await fs.lchown(p('owned-link'), 77, 88);
      const l = await fs.lstat(p('owned-link'));
      assert.deepEqual([l.uid, l.gid], [77, 88]);
      assert.equal((await fs.stat(p('owned'))).uid, 1234, 'lchown leaves the target alone');
      await fs.chmod(p('owned'), 0o4755);
      await fs.chown(p('owned'), 1, 1);
      assert.equal((await fs.stat(p('owned'))).mode & 0o7777, 0o755);
    });

    it('utimens keeps nanoseconds (touch -d, stat %y and %x)', async () => {
      await fs.writeFile(p('ns'), '');
      await sh('touch', ['-d', OLD, p('ns')]);
      assert.equal(await sh('stat', ['-c', '%x|%y', p('ns')]), `${OLD} +0000|${OLD} +0000`);
      const st = await fs.stat(p('ns'), { bigint: true });
      assert.equal(st.mtimeNs, BigInt(Date.UTC(2001, 1, 3, 4, 5, 6) / 1000) * 1_000_000_000n + 123_456_789n);
    });

    it('UTIME_NOW takes the current time; UTIME_OMIT leaves a time alone', async () => {
      await fs.writeFile(p('now'), '');
      const t0 = await age(p('now'));
      const beforeNs = BigInt(Date.now() - 1000) * 1_000_000n;
      await sh('touch', [p('now')]); // utimensat(NULL): both UTIME_NOW
      const afterNs = BigInt(Date.now() + 1000) * 1_000_000n;
      const t1 = await times(p('now'));
      assert.equal(changed(t0, t1), 'a,m,c');
      for (const t of [t1.a, t1.m, t1.c]) assert.ok(t >= beforeNs && t <= afterNs, `${t} is now`);

      const t2 = await age(p('now'));
      await sh('touch', ['-m', '-d', '2010-01-01 00:00:00.5', p('now')]); // atime UTIME_OMIT
      const t3 = await times(p('now'));
      assert.equal(changed(t2, t3), 'm,c');
      assert.equal(t3.m, 1_262_304_000_500_000_000n);
      await delay(TICK_MS);
      await sh('touch', ['-a', '-d', '2011-01-01 00:00:00.25', p('now')]); // mtime UTIME_OMIT
      const t4 = await times(p('now'));
      assert.equal(changed(t3, t4), 'a,c');
      assert.equal(t4.a, 1_293_840_000_250_000_000n);
      await delay(TICK_MS);
      await sh('touch', ['-m', p('now')]); // mtime UTIME_NOW, atime UTIME_OMIT
      const t5 = await times(p('now'));
      assert.equal(changed(t4, t5), 'm,c');
      assert.ok(t5.m >= beforeNs);
    });

    it('times before 1970', async () => {
      await fs.writeFile(p('old'), '');
      await sh('touch', ['-d', '1960-05-06 07:08:09.5', p('old')]);
      assert.equal(await sh('stat', ['-c', '%y', p('old')]), '1960-05-06 07:08:09.500000000 +0000');
      assert.equal(await sh('stat', ['-c', '%Y', p('old')]), String(Date.UTC(1960, 4, 6, 7, 8, 9) / 1000));
      await fs.utimes(p('old'), new Date(-1250), new Date(-86_400_000));
      const st = await fs.stat(p('old'), { bigint: true });
      assert.equal(st.atimeNs, -1_250_000_000n);
      assert.equal(st.mtimeNs, -86_400_000_000_000n);
    });

    it('a write marks mtime and ctime; reading marks neither', async () => {
      await fs.writeFile(p('wtimes'), 'initial');
      const t0 = await age(p('wtimes'));
      await fs.appendFile(p('wtimes'), 'more');
      const t1 = await times(p('wtimes'));
      assert.equal(changed(t0, t1), 'm,c');
      await delay(TICK_MS);
      assert.equal(await fs.readFile(p('wtimes'), 'utf8'), 'initialmore');
      const t2 = await times(p('wtimes'));
      assert.equal(t2.m, t1.m, 'read leaves mtime');
      assert.equal(t2.c, t1.c, 'read leaves ctime');
      // A write through an open handle, seen before and after close.
      const fh = await fs.open(p('wtimes'), 'r+');
      await delay(TICK_MS);
      await fh.write('X', 0);
      const t3 = await times(p('wtimes'));
      await fh.close();
      const t4 = await times(p('wtimes'));
      assert.ok(t3.m > t2.m && t3.c > t2.c, 'write marks m,c at once');
      assert.equal(t4.m, t3.m, 'close does not move mtime again');
    });

    it('reading a file marks its atime (at least the first read after a change, as relatime)', async () => {
      await fs.writeFile(p('atime'), 'contents');
      const t0 = await age(p('atime')); // atime = mtime: relatime updates on the next read
      assert.equal(await fs.readFile(p('atime'), 'utf8'), 'contents');
      const t1 = await times(p('atime'));
      assert.equal(changed(t0, t1), 'a', 'a read marks atime and nothing else');
    });

    it('truncate marks mtime and ctime; chmod, chown and xattrs mark ctime only', async () => {
      await fs.writeFile(p('ctimes'), 'abcdef');
      const t0 = await age(p('ctimes'));
      await fs.truncate(p('ctimes'), 2);
      const t1 = await times(p('ctimes'));
      assert.equal(changed(t0, t1), 'm,c');
      await delay(TICK_MS);
      await fs.chmod(p('ctimes'), 0o600);
      const t2 = await times(p('ctimes'));
      assert.equal(changed(t1, t2), 'c');
      await delay(TICK_MS);
      await fs.chown(p('ctimes'), 5, 5);
      const t3 = await times(p('ctimes'));
      assert.equal(changed(t2, t3), 'c');
      await delay(TICK_MS);
      assert.equal(await py(`import os, sys; os.setxattr(sys.argv[1], 'user.t', b'1'); print('OK')`, [p('ctimes')]), 'OK');
      assert.equal(changed(t3, await times(p('ctimes'))), 'c');
    });

    it('times set through a handle with unflushed writes survive close (cp -p, tar, rsync)', async () => {
      const out = await py(
        `import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
os.write(fd, b'x' * 100000)
os.utime(fd, ns=(1000000000123, 2000000000456))
st = os.fstat(fd)
print(st.st_atime_ns, st.st_mtime_ns)
os.close(fd)
st = os.stat(sys.argv[1])
print(st.st_atime_ns, st.st_mtime_ns, st.st_size)`,
        [p('futimens')],
      );
      assert.deepEqual(out.split('\n'), ['1000000000123 2000000000456', '1000000000123 2000000000456 100000']);
      await fs.writeFile(p('cp-src'), pattern(300_000, 6));
      await sh('touch', ['-d', OLD, p('cp-src')]);
      await sh('cp', ['-p', p('cp-src'), p('cp-dst')]);
      assert.equal(await sh('stat', ['-c', '%y', p('cp-dst')]), `${OLD} +0000`);
      assert.equal(sha256(await fs.readFile(p('cp-dst'))), sha256(pattern(300_000, 6)));
    });

    it('a link or an xattr change after unflushed writes marks ctime then, and close keeps it', async () => {
      const fh = await fs.open(p('late-commit'), 'w');
      await fh.write('buffered');
      await delay(TICK_MS);
      const beforeLink = nowNs();
      await fs.link(p('late-commit'), p('late-commit-2'));
      const linked = await times(p('late-commit'));
      assert.ok(linked.c >= beforeLink, `link marks ctime (${linked.c}) at the link (${beforeLink}), not at the write`);
      await fh.write('more');
      await delay(TICK_MS);
      const beforeXattr = nowNs();
      assert.equal(await py(`import os, sys; os.setxattr(sys.argv[1], 'user.t', b'1'); print('OK')`, [p('late-commit')]), 'OK');
      const xattrSet = await times(p('late-commit'));
      assert.ok(xattrSet.c >= beforeXattr, `setxattr marks ctime (${xattrSet.c}) at the call (${beforeXattr}), not at the write`);
      await fh.close();
      const closed = await times(p('late-commit'));
      assert.ok(closed.c >= xattrSet.c, `ctime after close (${closed.c}) went back before the setxattr (${xattrSet.c})`);
      assert.equal(await fs.readFile(p('late-commit-2'), 'utf8'), 'bufferedmore');
    });

    it('create, link, unlink and rename mark the directories and the inode as POSIX says', async () => {
      await fs.mkdir(p('tdir'));
      const d0 = await age(p('tdir'));
      await fs.writeFile(p('tdir', 'f'), 'x');
      const d1 = await times(p('tdir'));
      assert.equal(changed(d0, d1), 'm,c', 'create marks the parent');
      const f0 = await age(p('tdir', 'f'));
      const d2 = await age(p('tdir'));
      await fs.link(p('tdir', 'f'), p('tdir', 'g'));
      const f1 = await times(p('tdir', 'f'));
      assert.equal(changed(f0, f1), 'c', 'link marks the inode ctime only');
      assert.equal(changed(d2, await times(p('tdir'))), 'm,c', 'link marks the directory');
      const d3 = await age(p('tdir'));
      await fs.unlink(p('tdir', 'g'));
      assert.equal(changed(f1, await times(p('tdir', 'f'))), 'c', 'unlink marks the inode ctime');
      assert.equal(changed(d3, await times(p('tdir'))), 'm,c', 'unlink marks the directory');

      await fs.mkdir(p('tdir2'));
      const f2 = await age(p('tdir', 'f'));
      const src0 = await age(p('tdir'));
      const dst0 = await age(p('tdir2'));
      await fs.rename(p('tdir', 'f'), p('tdir2', 'f'));
      assert.equal(changed(src0, await times(p('tdir'))), 'm,c', 'rename marks the old parent');
      assert.equal(changed(dst0, await times(p('tdir2'))), 'm,c', 'rename marks the new parent');
      const f3 = await times(p('tdir2', 'f'));
      assert.equal(f3.m, f2.m, 'rename leaves the inode mtime');
      assert.ok(f3.c > f2.c, 'rename marks the inode ctime (as Linux file systems do)');
    });
  });

  describe('links and special files', () => {
    it('hard links share the inode and keep nlink right through link, unlink and rename over', async () => {
      await fs.mkdir(p('hl'));
      await fs.writeFile(p('hl', 'a'), 'A');
      await fs.link(p('hl', 'a'), p('hl', 'b'));
      await fs.link(p('hl', 'a'), p('hl', 'c'));
      const [sa, sb] = [await fs.stat(p('hl', 'a')), await fs.stat(p('hl', 'b'))];
      assert.equal(sa.ino, sb.ino);
      assert.equal(sa.nlink, 3);
      await fs.appendFile(p('hl', 'b'), 'B');
      assert.equal(await fs.readFile(p('hl', 'c'), 'utf8'), 'AB', 'one inode, one content');
      await fs.unlink(p('hl', 'c'));
      assert.equal((await fs.stat(p('hl', 'a'))).nlink, 2);
      // Renaming another file over one name drops a link of the replaced inode.
      await fs.writeFile(p('hl', 'other'), 'O');
      await fs.rename(p('hl', 'other'), p('hl', 'b'));
      assert.equal((await fs.stat(p('hl', 'a'))).nlink, 1);
      assert.equal(await fs.readFile(p('hl', 'b'), 'utf8'), 'O');
      assert.equal(await fs.readFile(p('hl', 'a'), 'utf8'), 'AB');
      // Renaming one link of an inode onto another is a no-op: both names stay.
      await fs.link(p('hl', 'a'), p('hl', 'a2'));
      await fs.rename(p('hl', 'a'), p('hl', 'a2'));
      assert.deepEqual((await fs.readdir(p('hl'))).sort(), ['a', 'a2', 'b']);
      assert.equal((await fs.stat(p('hl', 'a'))).nlink, 2);
      // Directories: 2 + subdirectories, kept through mkdir, rename and rmdir.
      await fs.mkdir(p('hl', 'd1'));
      await fs.mkdir(p('hl', 'd2'));
      assert.equal((await fs.stat(p('hl'))).nlink, 4);
      await fs.rename(p('hl', 'd2'), p('hl', 'd1', 'd2'));
      assert.equal((await fs.stat(p('hl'))).nlink, 3);
      assert.equal((await fs.stat(p('hl', 'd1'))).nlink, 3);
      await fs.rmdir(p('hl', 'd1', 'd2'));
      assert.equal((await fs.stat(p('hl', 'd1'))).nlink, 2);
    });

    it('renameat2: RENAME_NOREPLACE refuses a taken name, RENAME_EXCHANGE swaps files and directories', async () => {
      await fs.mkdir(p('swap', 'dir', 'sub'), { recursive: true });
      await fs.mkdir(p('swap', 'other'));
      await fs.writeFile(p('swap', 'a'), 'A');
      await fs.writeFile(p('swap', 'other', 'b'), 'B');
      const out = await py(
        `import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def rename2(old, new, flags):
    r = libc.renameat2(-100, old.encode(), -100, new.encode(), flags)
    return 'OK' if r == 0 else errno.errorcode[ctypes.get_errno()]
d = sys.argv[1]
j = lambda *p: os.path.join(d, *p)
print(rename2(j('a'), j('other', 'b'), 1))
print(rename2(j('a'), j('missing'), 2))
print(rename2(j('a'), j('other', 'b'), 2))
print(rename2(j('a'), j('dir'), 2))
print(rename2(j('a'), j('a', 'sub'), 2))
print(rename2(j('a'), j('fresh'), 1))`,
        [p('swap')],
      );
      assert.deepEqual(out.split('\n'), ['EEXIST', 'ENOENT', 'OK', 'OK', 'EINVAL', 'OK']);
      // a <-> other/b, then a <-> dir (now the directory is 'a' and the file B is 'dir'), then
      // 'a' into its own subdirectory is refused, and 'a' moves to 'fresh'.
      assert.equal(await fs.readFile(p('swap', 'other', 'b'), 'utf8'), 'A');
      assert.ok((await fs.stat(p('swap', 'fresh'))).isDirectory(), 'the directory went to "a", then to "fresh"');
      assert.deepEqual(await fs.readdir(p('swap', 'fresh')), ['sub']);
      assert.equal(await fs.readFile(p('swap', 'dir'), 'utf8'), 'B');
      assert.equal((await fs.stat(p('swap'))).nlink, 4, 'swap holds the directories fresh and other');
    });

    it('symlink and readlink', async () => {
      await fs.mkdir(p('sl'));
      await fs.writeFile(p('sl', 'target'), 'T');
      await fs.symlink('target', p('sl', 'rel'));
      await fs.symlink('does/not/exist', p('sl', 'dangling'));
      const long = 'L/'.repeat(1000) + 'end';
      await fs.symlink(long, p('sl', 'long'));
      assert.equal(await fs.readlink(p('sl', 'rel')), 'target');
      assert.equal(await fs.readlink(p('sl', 'dangling')), 'does/not/exist');
      assert.equal(await fs.readlink(p('sl', 'long')), long);
      const l = await fs.lstat(p('sl', 'rel'));
      assert.ok(l.isSymbolicLink());
      assert.equal(l.size, 'target'.length);
      assert.equal(l.mode & 0o777, 0o777);
      assert.equal(await fs.readFile(p('sl', 'rel'), 'utf8'), 'T', 'followed');
      await assert.rejects(fs.readFile(p('sl', 'dangling')), { code: 'ENOENT' });
      await assert.rejects(fs.readlink(p('sl', 'target')), { code: 'EINVAL' });
      await fs.symlink('loop', p('sl', 'loop'));
      await assert.rejects(fs.readFile(p('sl', 'loop')), { code: 'ELOOP' });
      // Writing through a symlink creates its target.
      await fs.symlink('made', p('sl', 'to-made'));
      await fs.writeFile(p('sl', 'to-made'), 'M');
      assert.equal(await fs.readFile(p('sl', 'made'), 'utf8'), 'M');
    });

    it('mkfifo makes a FIFO that carries data between processes', async () => {
      await sh('mkfifo', ['-m', '0640', p('fifo')]);
      const st = await fs.lstat(p('fifo'));
      assert.ok(st.isFIFO());
      assert.equal(st.mode & 0o777, 0o640);
      assert.equal(await sh('stat', ['-c', '%F', p('fifo')]), 'fifo');
      // The open for reading waits (on a libuv thread) until the writer opens the other end.
      const reading = fs.readFile(p('fifo'), 'utf8');
      await sh('sh', ['-c', `echo through-the-fifo > '${p('fifo')}'`]);
      assert.equal((await reading).trim(), 'through-the-fifo');
      const made = await py(`import os, stat, sys; os.mknod(sys.argv[1], stat.S_IFIFO | 0o600); print(stat.S_ISFIFO(os.lstat(sys.argv[1]).st_mode))`, [p('fifo2')]);
      assert.equal(made, 'True');
    });

    it('statfs reports sizes, free space, inodes and the name limit', async () => {
      const s = await fs.statfs(root);
      assert.ok(s.bsize > 0);
      assert.ok(s.blocks > 0);
      assert.ok(s.bfree <= s.blocks && s.bavail <= s.bfree);
      assert.ok(s.files > 0 && s.ffree <= s.files);
      const [namelen, blocks] = (await sh('stat', ['-f', '-c', '%l %b', root])).split(' ');
      assert.equal(namelen, '255');
      assert.equal(Number(blocks), s.blocks);
    });

    it('extended attributes: set, get, list, remove, ENODATA, XATTR_CREATE and XATTR_REPLACE', async () => {
      await fs.writeFile(p('xa'), 'x');
      await fs.mkdir(p('xa-dir'));
      const out = await py(
        `${PY_ERRNO}
f, d = sys.argv[1], sys.argv[2]
big = bytes(range(256)) * 200
r = []
r.append(attempt(os.setxattr, f, 'user.one', b'1'))
r.append(attempt(os.setxattr, f, 'user.big', big))
r.append(attempt(os.setxattr, f, 'user.empty', b''))
r.append(os.getxattr(f, 'user.one') == b'1' and os.getxattr(f, 'user.big') == big and os.getxattr(f, 'user.empty') == b'')
r.append(sorted(os.listxattr(f)))
r.append(attempt(os.getxattr, f, 'user.missing'))
r.append(attempt(os.setxattr, f, 'user.one', b'2', os.XATTR_CREATE))
r.append(attempt(os.setxattr, f, 'user.new', b'2', os.XATTR_REPLACE))
r.append(attempt(os.setxattr, f, 'user.one', b'3', os.XATTR_REPLACE))
r.append(os.getxattr(f, 'user.one'))
r.append(attempt(os.setxattr, f, 'user.two', b'2', os.XATTR_CREATE))
r.append(attempt(os.removexattr, f, 'user.one'))
r.append(attempt(os.removexattr, f, 'user.one'))
r.append(attempt(os.getxattr, f, 'user.one'))
r.append(sorted(os.listxattr(f)))
r.append(attempt(os.setxattr, d, 'user.on-dir', b'D'))
r.append(os.getxattr(d, 'user.on-dir'))
for x in r: print(x)`,
        [p('xa'), p('xa-dir')],
      );
      assert.deepEqual(out.split('\n'), [
        'OK',
        'OK',
        'OK',
        'True',
        "['user.big', 'user.empty', 'user.one']",
        'ENODATA',
        'EEXIST',
        'ENODATA',
        'OK',
        "b'3'",
        'OK',
        'OK',
        'ENODATA',
        'ENODATA',
        "['user.big', 'user.empty', 'user.two']",
        'OK',
        "b'D'",
      ]);
    });
  });

  describe('directories', () => {
    it('a directory of 1,100 entries with 200-byte names lists completely and removes', async () => {
      await fs.mkdir(p('big'));
      const names = Array.from({ length: 1100 }, (_, i) => `${String(i).padStart(5, '0')}-${'n'.repeat(194)}`);
      await py(`import os, sys\nfor n in sys.argv[2:]: open(os.path.join(sys.argv[1], n), 'w').close()\nprint('OK')`, [p('big'), ...names]);
      assert.deepEqual((await fs.readdir(p('big'))).sort(), names);
      assert.equal(await sh('sh', ['-c', `ls -la '${p('big')}' | grep -c -- '-nnnn'`]), '1100');
      await sh('rm', ['-rf', p('big')]);
      await assert.rejects(fs.stat(p('big')), { code: 'ENOENT' });
    });

    it('unlinking entries while reading the directory neither skips nor repeats the others', async () => {
      await fs.mkdir(p('churn'));
      const out = await py(
        `import os, sys
d = sys.argv[1]
for i in range(600): open(os.path.join(d, 'e%04d' % i), 'w').close()
seen = []
with os.scandir(d) as it:
    for e in it:
        seen.append(e.name)
        if len(seen) % 2 == 0: os.unlink(os.path.join(d, e.name))
print(len(seen), len(set(seen)), len(os.listdir(d)))`,
        [p('churn')],
      );
      assert.equal(out, '600 600 300');
    });
  });

  describe('ownership and permissions', () => {
    it('new files belong to the calling user and group', async () => {
      await fs.mkdir(p('public'));
      await fs.chmod(p('public'), 0o777);
      const r = await run('touch', [p('public', 'x')], { uid: NOBODY });
      assert.equal(r.code, 0, r.stderr);
      const st = await fs.stat(p('public', 'x'));
      assert.deepEqual([st.uid, st.gid], [NOBODY, NOBODY]);
      assert.equal((await run('mkdir', [p('public', 'd')], { uid: NOBODY })).code, 0);
      assert.equal((await run('ln', ['-s', 'x', p('public', 'l')], { uid: NOBODY })).code, 0);
      assert.equal((await run('mkfifo', [p('public', 'f')], { uid: NOBODY })).code, 0);
      for (const name of ['d', 'l', 'f']) {
        const s = await fs.lstat(p('public', name));
        assert.deepEqual([s.uid, s.gid], [NOBODY, NOBODY], name);
      }
      // Root's files stay root's.
      await fs.writeFile(p('public', 'by-root'), '');
      const rs = await fs.stat(p('public', 'by-root'));
      assert.deepEqual([rs.uid, rs.gid], [0, 0]);
    });

    it('a setgid directory passes its group on', async () => {
      await fs.mkdir(p('sgid'));
      await fs.chown(p('sgid'), 0, 4242);
      await fs.chmod(p('sgid'), 0o2777);
      assert.equal((await run('touch', [p('sgid', 'f')], { uid: NOBODY })).code, 0);
      assert.equal((await run('mkdir', [p('sgid', 'sub')], { uid: NOBODY })).code, 0);
      assert.equal((await fs.stat(p('sgid', 'f'))).gid, 4242);
      const sub = await fs.stat(p('sgid', 'sub'));
      assert.equal(sub.gid, 4242);
      assert.ok((sub.mode & 0o2000) !== 0, 'a subdirectory inherits setgid');
    });

    it('EACCES when another user writes into a 0755 root directory or reads a 0600 file', async () => {
      await fs.mkdir(p('private'));
      await fs.chmod(p('private'), 0o755);
      await fs.writeFile(p('private', 'secret'), 's');
      await fs.chmod(p('private', 'secret'), 0o600);
      const r = await run('touch', [p('private', 'x')], { uid: NOBODY });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Permission denied/);
      const out = await py(
        `${PY_ERRNO}
d = sys.argv[1]
print(attempt(os.open, os.path.join(d, 'y'), os.O_CREAT | os.O_WRONLY, 0o644))
print(attempt(os.mkdir, os.path.join(d, 'z')))
print(attempt(os.unlink, os.path.join(d, 'secret')))
print(attempt(os.open, os.path.join(d, 'secret'), os.O_RDONLY))
print(attempt(os.chmod, os.path.join(d, 'secret'), 0o777))`,
        [p('private')],
        NOBODY,
      );
      assert.deepEqual(out.split('\n'), ['EACCES', 'EACCES', 'EACCES', 'EACCES', 'EPERM']);
      await assert.rejects(fs.stat(p('private', 'x')), { code: 'ENOENT' });
      assert.equal(await fs.readFile(p('private', 'secret'), 'utf8'), 's');
    });
  });

  describe('paths and open files', () => {
    it('paths up to 4095 bytes work; 4096 bytes are ENAMETOOLONG', async () => {
      // Nested directories with long names, then a file name that makes the path 4095 bytes.
      let dir = p('deep');
      await fs.mkdir(dir);
      const component = 'd'.repeat(250);
      while (dir.length + 1 + component.length + 1 + 10 <= 4095) {
        dir = join(dir, component);
        await fs.mkdir(dir);
      }
      const fileName = 'f'.repeat(4095 - dir.length - 1);
      const file = join(dir, fileName);
      assert.equal(Buffer.byteLength(file), 4095);
      await fs.writeFile(file, 'deep data');
      assert.equal(await fs.readFile(file, 'utf8'), 'deep data');
      assert.equal((await fs.stat(file)).size, 9);
      await fs.rename(file, `${file.slice(0, -1)}g`);
      assert.equal(await fs.readFile(`${file.slice(0, -1)}g`, 'utf8'), 'deep data');
      await assert.rejects(fs.writeFile(`${file}x`, 'x'), { code: 'ENAMETOOLONG' });
      // A relative path from deep inside reaches the top again.
      const r = await run('sh', ['-c', `cat ${fileName.slice(0, -1)}g`], { cwd: dir });
      assert.equal(r.stdout, 'deep data');
      await fs.rm(p('deep'), { recursive: true });
      await assert.rejects(fs.stat(p('deep')), { code: 'ENOENT' });
    });

    it('an unlinked file stays readable and writable through its open handle until closed', async () => {
      const before = (await cluster.status()).counters.inodes;
      const data = pattern(MiB + 10, 5);
      await fs.writeFile(p('open-unlinked'), data);
      const fh = await fs.open(p('open-unlinked'), 'r+');
      await fs.unlink(p('open-unlinked'));
      await assert.rejects(fs.stat(p('open-unlinked')), { code: 'ENOENT' });
      assert.equal((await fh.stat()).nlink, 0);
      const head = Buffer.alloc(16);
      await fh.read(head, 0, 16, 0);
      assert.ok(head.equals(data.subarray(0, 16)));
      await fh.write('written after unlink', MiB);
      await fh.sync();
      const all = Buffer.alloc(MiB + 20);
      const { bytesRead } = await fh.read(all, 0, all.length, 0);
      assert.equal(bytesRead, MiB + 20);
      assert.equal(all.subarray(MiB).toString(), 'written after unlink');
      assert.ok(all.subarray(0, MiB).equals(data.subarray(0, MiB)));
      // A new file under the same name is a different file.
      await fs.writeFile(p('open-unlinked'), 'new');
      assert.equal((await fh.stat()).size, MiB + 20);
      await fh.close();
      assert.equal(await fs.readFile(p('open-unlinked'), 'utf8'), 'new');
      await fs.unlink(p('open-unlinked'));
      // With the last handle closed, the inode is gone from the metadata store.
      await waitFor(async () => (await cluster.status()).counters.inodes === before, 5_000, 'the unlinked inode to be deleted');
    });

    it('a file replaced by rename stays readable through its open handle', async () => {
      await fs.writeFile(p('victim'), 'old contents');
      await fs.writeFile(p('replacement'), 'new contents');
      const fh = await fs.open(p('victim'), 'r');
      await fs.rename(p('replacement'), p('victim'));
      assert.equal(await fs.readFile(p('victim'), 'utf8'), 'new contents');
      const buffer = Buffer.alloc(64);
      const { bytesRead } = await fh.read(buffer, 0, 64, 0);
      assert.equal(buffer.subarray(0, bytesRead).toString(), 'old contents');
      await fh.close();
    });
  });
});
