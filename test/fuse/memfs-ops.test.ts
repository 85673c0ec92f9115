// Every FUSE operation through a real memfs mount (child process), with the errno cases that
// matter. Driven with async fs calls and short python3 helpers for what Node lacks (xattrs,
// renameat2, fallocate, copy_file_range, SEEK_DATA/SEEK_HOLE, record locks).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { RENAME_EXCHANGE, RENAME_NOREPLACE, python, renameat2, run } from '../helpers/fuse-commands.js';
import { startMemfs, type MemfsProcess } from '../helpers/fuse-memfs-process.js';

let memfs: MemfsProcess;
let root = '';
const p = (...parts: string[]): string => join(root, ...parts);

async function errCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

async function py(program: string, ...args: string[]): Promise<string> {
  const r = await python(program, args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  memfs = await startMemfs({ args: ['--attr-timeout', '1'] });
  root = memfs.mountpoint;
});

after(async () => {
  await memfs.stop();
});

describe('files', () => {
  it('create, write, read, truncate, O_EXCL', async () => {
    await fs.writeFile(p('f1'), 'hello');
    assert.equal(await fs.readFile(p('f1'), 'utf8'), 'hello');
    await fs.appendFile(p('f1'), ' world');
    assert.equal(await fs.readFile(p('f1'), 'utf8'), 'hello world');
    await fs.truncate(p('f1'), 5);
    assert.equal(await fs.readFile(p('f1'), 'utf8'), 'hello');
    const fh = await fs.open(p('f1'), 'r+');
    await fh.truncate(2);
    await fh.sync();
    await fh.datasync();
    await fh.close();
    assert.equal((await fs.stat(p('f1'))).size, 2);
    assert.equal(await errCode(fs.open(p('f1'), 'wx')), 'EEXIST');
    assert.equal(await errCode(fs.readFile(p('missing'))), 'ENOENT');
    assert.equal(await errCode(fs.writeFile(p('missing', 'x'), '')), 'ENOENT');
    assert.equal(await errCode(fs.writeFile(p('f1', 'x'), '')), 'ENOTDIR');
  });

  it('large files with 1 MiB writes keep their content', async () => {
    const chunk = Buffer.alloc(1024 * 1024);
    const fh = await fs.open(p('big'), 'w');
    for (let i = 0; i < 8; i++) {
      chunk.fill(i + 1);
      const { bytesWritten } = await fh.write(chunk, 0, chunk.length, i * chunk.length);
      assert.equal(bytesWritten, chunk.length);
    }
    await fh.close();
    const back = await fs.readFile(p('big'));
    assert.equal(back.length, 8 * 1024 * 1024);
    for (let i = 0; i < 8; i++) assert.equal(back[i * chunk.length + 12345], i + 1);
    // Sparse: a write far past the end leaves a hole that reads as zeros.
    const sparse = await fs.open(p('sparse'), 'w');
    await sparse.write(Buffer.from('end'), 0, 3, 10 * 1024 * 1024);
    await sparse.close();
    const st = await fs.stat(p('sparse'));
    assert.equal(st.size, 10 * 1024 * 1024 + 3);
    assert.ok(st.blocks * 512 < 1024 * 1024, 'hole is not allocated');
    const head = Buffer.alloc(16);
    const r = await fs.open(p('sparse'), 'r');
    await r.read(head, 0, 16, 4096);
    await r.close();
    assert.ok(head.every((b) => b === 0));
  });

  it('mknod makes FIFOs and devices; a FIFO carries data', async () => {
    assert.equal((await run('mkfifo', [p('fifo')])).code, 0);
    assert.equal((await run('mknod', [p('null2'), 'c', '1', '3'])).code, 0);
    assert.ok((await fs.stat(p('fifo'))).isFIFO());
    const dev = await fs.stat(p('null2'));
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (1 << 8) | 3);
    const reader = run('cat', [p('fifo')]);
    await fs.writeFile(p('fifo'), 'through the pipe');
    assert.equal((await reader).stdout, 'through the pipe');
    assert.equal(await errCode(fs.mkdir(p('fifo'))), 'EEXIST');
  });

  it('statfs reports 64-bit counts and NAME_MAX', async () => {
    const s = await fs.statfs(root);
    assert.equal(s.bsize, 4096);
    assert.ok(s.blocks > 0 && s.bfree <= s.blocks);
    assert.ok(s.files > 0 && s.ffree <= s.files);
    const out = await run('stat', ['-f', '-c', '%l', root]);
    assert.equal(out.stdout.trim(), '255');
  });
});

describe('names', () => {
  it('NAME_MAX is 255 bytes', async () => {
    await fs.writeFile(p('a'.repeat(255)), 'x');
    assert.equal(await errCode(fs.writeFile(p('a'.repeat(256)), 'x')), 'ENAMETOOLONG');
    assert.equal(await errCode(fs.mkdir(p('d'.repeat(256)))), 'ENAMETOOLONG');
    assert.equal(await errCode(fs.stat(p('s'.repeat(300)))), 'ENAMETOOLONG');
    // 128 two-byte characters are 256 bytes.
    assert.equal(await errCode(fs.writeFile(p('é'.repeat(128)), 'x')), 'ENAMETOOLONG');
  });

  it('mkdir, rmdir and their errors', async () => {
    await fs.mkdir(p('dir1'));
    await fs.writeFile(p('dir1', 'child'), '');
    assert.equal(await errCode(fs.mkdir(p('dir1'))), 'EEXIST');
    assert.equal(await errCode(fs.rmdir(p('dir1'))), 'ENOTEMPTY');
    assert.equal(await errCode(fs.rmdir(p('dir1', 'child'))), 'ENOTDIR');
    assert.equal(await errCode(fs.unlink(p('dir1'))), 'EISDIR');
    assert.equal(await errCode(fs.rmdir(p('nope'))), 'ENOENT');
    assert.equal(await errCode(fs.unlink(p('nope'))), 'ENOENT');
    await fs.unlink(p('dir1', 'child'));
    await fs.rmdir(p('dir1'));
    assert.equal(await errCode(fs.stat(p('dir1'))), 'ENOENT');
  });

  it('symlinks: create, readlink, follow, dangling', async () => {
    await fs.writeFile(p('target'), 'T');
    await fs.symlink('target', p('link'));
    assert.equal(await fs.readlink(p('link')), 'target');
    assert.equal(await fs.readFile(p('link'), 'utf8'), 'T');
    const st = await fs.lstat(p('link'));
    assert.ok(st.isSymbolicLink());
    assert.equal(st.size, 'target'.length);
    await fs.symlink('nowhere', p('dangling'));
    assert.equal(await errCode(fs.stat(p('dangling'))), 'ENOENT');
    assert.equal(await errCode(fs.readlink(p('target'))), 'EINVAL');
    assert.equal(await errCode(fs.symlink('x', p('link'))), 'EEXIST');
  });

  it('hard links', async () => {
    await fs.writeFile(p('h1'), 'data');
    await fs.link(p('h1'), p('h2'));
    assert.equal((await fs.stat(p('h1'))).nlink, 2);
    assert.equal((await fs.stat(p('h1'))).ino, (await fs.stat(p('h2'))).ino);
    await fs.mkdir(p('hdir'));
    assert.equal(await errCode(fs.link(p('hdir'), p('hdir2'))), 'EPERM');
    assert.equal(await errCode(fs.link(p('h1'), p('h2'))), 'EEXIST');
    await fs.unlink(p('h1'));
    assert.equal(await fs.readFile(p('h2'), 'utf8'), 'data');
    assert.equal((await fs.stat(p('h2'))).nlink, 1);
  });

  it('rename: plain, replacing, and the errors', async () => {
    await fs.mkdir(p('r'));
    await fs.writeFile(p('r', 'a'), 'A');
    await fs.writeFile(p('r', 'b'), 'B');
    await fs.rename(p('r', 'a'), p('r', 'b'));
    assert.equal(await fs.readFile(p('r', 'b'), 'utf8'), 'A');
    assert.equal(await errCode(fs.stat(p('r', 'a'))), 'ENOENT');
    await fs.mkdir(p('r', 'd1'));
    await fs.mkdir(p('r', 'd2'));
    await fs.writeFile(p('r', 'd2', 'x'), '');
    assert.equal(await errCode(fs.rename(p('r', 'd1'), p('r', 'd2'))), 'ENOTEMPTY');
    assert.equal(await errCode(fs.rename(p('r', 'b'), p('r', 'd1'))), 'EISDIR');
    assert.equal(await errCode(fs.rename(p('r', 'd1'), p('r', 'b'))), 'ENOTDIR');
    assert.equal(await errCode(fs.rename(p('r', 'd2'), p('r', 'd2', 'sub'))), 'EINVAL');
    assert.equal(await errCode(fs.rename(p('r', 'nope'), p('r', 'x'))), 'ENOENT');
    // A directory moves into another directory and its ".." follows.
    await fs.rename(p('r', 'd1'), p('r', 'd2', 'd1'));
    assert.equal((await fs.stat(p('r', 'd2', 'd1', '..'))).ino, (await fs.stat(p('r', 'd2'))).ino);
    // Over an empty directory.
    await fs.mkdir(p('r', 'empty'));
    await fs.rename(p('r', 'd2', 'd1'), p('r', 'empty'));
    assert.equal(await errCode(fs.stat(p('r', 'd2', 'd1'))), 'ENOENT');
  });

  it('renameat2 RENAME_NOREPLACE and RENAME_EXCHANGE', async () => {
    await fs.mkdir(p('x2'));
    await fs.writeFile(p('x2', 'a'), 'A');
    await fs.writeFile(p('x2', 'b'), 'B');
    assert.equal(await renameat2(p('x2', 'a'), p('x2', 'b'), RENAME_NOREPLACE), 'EEXIST');
    assert.equal(await renameat2(p('x2', 'a'), p('x2', 'c'), RENAME_NOREPLACE), 'OK');
    assert.equal(await fs.readFile(p('x2', 'c'), 'utf8'), 'A');
    assert.equal(await renameat2(p('x2', 'c'), p('x2', 'b'), RENAME_EXCHANGE), 'OK');
    assert.equal(await fs.readFile(p('x2', 'c'), 'utf8'), 'B');
    assert.equal(await fs.readFile(p('x2', 'b'), 'utf8'), 'A');
    assert.equal(await renameat2(p('x2', 'c'), p('x2', 'missing'), RENAME_EXCHANGE), 'ENOENT');
    // Exchange a file and a directory across parents.
    await fs.mkdir(p('x2', 'dir'));
    await fs.mkdir(p('x3'));
    await fs.writeFile(p('x3', 'f'), 'F');
    assert.equal(await renameat2(p('x2', 'dir'), p('x3', 'f'), RENAME_EXCHANGE), 'OK');
    assert.ok((await fs.stat(p('x3', 'f'))).isDirectory());
    assert.equal(await fs.readFile(p('x2', 'dir'), 'utf8'), 'F');
    assert.equal((await fs.stat(p('x3', 'f', '..'))).ino, (await fs.stat(p('x3'))).ino);
  });

  it('readdir lists hundreds of entries across several calls, with stable offsets', async () => {
    await fs.mkdir(p('many'));
    const names = Array.from({ length: 600 }, (_, i) => `entry-${String(i).padStart(4, '0')}-${'n'.repeat(40)}`);
    for (const n of names) await fs.writeFile(p('many', n), '');
    const listed = await fs.readdir(p('many'));
    assert.deepEqual([...listed].sort(), [...names].sort());
    const withTypes = await fs.readdir(p('many'), { withFileTypes: true });
    assert.ok(withTypes.every((d) => d.isFile()));
    const ls = await run('ls', ['-la', p('many')]);
    assert.equal(ls.code, 0);
    assert.equal(ls.stdout.trim().split('\n').length, 600 + 3);
    // seekdir/telldir through python: resume from the middle.
    const resumed = await py(
      `import os,sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
print(len(os.listdir(fd)))`,
      p('many'),
    );
    assert.equal(resumed, '600');
  });
});

describe('extended attributes', () => {
  it('set, get, list, remove, size probe, ERANGE, flags', async () => {
    await fs.writeFile(p('xa'), '');
    const out = await py(
      `import os, sys, ctypes, errno
f = sys.argv[1]
os.setxattr(f, 'user.color', b'blue')
os.setxattr(f, 'user.empty', b'')
print(os.getxattr(f, 'user.color').decode())
print(','.join(sorted(os.listxattr(f))))
libc = ctypes.CDLL(None, use_errno=True)
libc.getxattr.restype = ctypes.c_ssize_t
print(libc.getxattr(f.encode(), b'user.color', None, ctypes.c_size_t(0)))
buf = ctypes.create_string_buffer(2)
r = libc.getxattr(f.encode(), b'user.color', buf, ctypes.c_size_t(2))
print(errno.errorcode[ctypes.get_errno()] if r < 0 else r)
libc.listxattr.restype = ctypes.c_ssize_t
print(libc.listxattr(f.encode(), None, ctypes.c_size_t(0)))
r = libc.listxattr(f.encode(), buf, ctypes.c_size_t(2))
print(errno.errorcode[ctypes.get_errno()] if r < 0 else r)
try:
    os.setxattr(f, 'user.color', b'red', os.XATTR_CREATE)
except OSError as e: print(errno.errorcode[e.errno])
try:
    os.setxattr(f, 'user.none', b'red', os.XATTR_REPLACE)
except OSError as e: print(errno.errorcode[e.errno])
try:
    os.getxattr(f, 'user.none')
except OSError as e: print(errno.errorcode[e.errno])
os.removexattr(f, 'user.color')
try:
    os.removexattr(f, 'user.color')
except OSError as e: print(errno.errorcode[e.errno])
print(','.join(os.listxattr(f)))
try:
    os.setxattr(f, 'bogus.ns', b'x')
except OSError as e: print(errno.errorcode[e.errno])
`,
      p('xa'),
    );
    assert.deepEqual(out.split('\n'), [
      'blue',
      'user.color,user.empty',
      '4',
      'ERANGE',
      String('user.color\0user.empty\0'.length),
      'ERANGE',
      'EEXIST',
      'ENODATA',
      'ENODATA',
      'ENODATA',
      'user.empty',
      'ENOTSUP', // python's name for 95 (EOPNOTSUPP)
    ]);
  });
});

describe('space and offsets', () => {
  it('fallocate allocates, punches holes; SEEK_DATA/SEEK_HOLE see them', async () => {
    await fs.writeFile(p('fa'), '');
    const out = await py(
      `import os, sys, ctypes, errno
fd = os.open(sys.argv[1], os.O_RDWR)
os.posix_fallocate(fd, 0, 1 << 20)
print(os.fstat(fd).st_size)
os.pwrite(fd, b'x' * (1 << 20), 0)
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
r = libc.fallocate(fd, 3, 0, 512 * 1024)
print(r)
print(os.pread(fd, 4, 0) == b'\\0\\0\\0\\0', os.pread(fd, 1, 600 * 1024))
print(os.fstat(fd).st_size)
print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, 512 * 1024, os.SEEK_HOLE))
try:
    os.lseek(fd, 2 << 20, os.SEEK_DATA)
except OSError as e: print(errno.errorcode[e.errno])
r = libc.fallocate(fd, 1, 0, 4 << 20)
print(r, os.fstat(fd).st_size)
`,
      p('fa'),
    );
    assert.deepEqual(out.split('\n'), [
      String(1 << 20),
      '0',
      "True b'x'",
      String(1 << 20),
      `${512 * 1024} 0 ${1 << 20}`,
      'ENXIO',
      `0 ${1 << 20}`,
    ]);
  });

  it('copy_file_range copies inside the file system', async () => {
    await fs.writeFile(p('cf-src'), 'abcdefghij');
    await fs.writeFile(p('cf-dst'), '0123456789');
    const out = await py(
      `import os, sys
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[2], os.O_RDWR)
print(os.copy_file_range(a, b, 4, 2, 6))`,
      p('cf-src'),
      p('cf-dst'),
    );
    assert.equal(out, '4');
    assert.equal(await fs.readFile(p('cf-dst'), 'utf8'), '012345cdef');
  });
});

describe('record locks', () => {
  it('F_SETLK conflicts, F_GETLK reports the holder, F_SETLKW waits', async () => {
    await fs.writeFile(p('lk'), 'lock me');
    const holder = spawn(
      'python3',
      [
        '-c',
        `import fcntl, sys, time
f = open(sys.argv[1], 'r+')
fcntl.lockf(f, fcntl.LOCK_EX, 4, 0)
print('held', flush=True)
sys.stdin.readline()
`,
        p('lk'),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const probe = await py(
      `import fcntl, sys, struct, errno, os
f = open(sys.argv[1], 'r+')
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, 0)
    print('got')
except OSError as e: print(errno.errorcode[e.errno])
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 2, 4)
print('other range ok')
lk = struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0)
r = struct.unpack('hhqqi', fcntl.fcntl(f, fcntl.F_GETLK, lk))
print(r[0] == fcntl.F_WRLCK, r[2], r[3], r[4] == int(sys.argv[2]))`,
      p('lk'),
      String(holder.pid),
    );
    assert.deepEqual(probe.split('\n'), ['EAGAIN', 'other range ok', 'True 0 4 True']);
    const waiter = python(
      `import fcntl, sys, time
f = open(sys.argv[1], 'r+')
t = time.time()
fcntl.lockf(f, fcntl.LOCK_EX, 4, 0)
print('waited')`,
      [p('lk')],
    );
    await new Promise((r) => setTimeout(r, 200));
    holder.stdin.end('\n');
    const w = await waiter;
    assert.equal(w.stdout.trim(), 'waited');
  });
});

describe('permissions checked by the kernel', () => {
  it('access() and mode bits', async () => {
    await fs.writeFile(p('noexec'), '', { mode: 0o644 });
    await fs.access(p('noexec'), fs.constants.R_OK | fs.constants.W_OK);
    assert.equal(await errCode(fs.access(p('noexec'), fs.constants.X_OK)), 'EACCES');
    await fs.chmod(p('noexec'), 0o755);
    await fs.access(p('noexec'), fs.constants.X_OK);
    assert.equal((await fs.stat(p('noexec'))).mode & 0o7777, 0o755);
  });
});
