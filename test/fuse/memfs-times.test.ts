// Timestamps through memfs: nanoseconds round-trip, touch -a/-m and UTIME_OMIT change only what
// they name, times before 1970 work, and each operation marks exactly the times POSIX says on
// the inodes it says. Mounted with attribute caching off so every stat reaches memfs.

import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { python, run } from '../helpers/fuse-commands.js';
import { startMemfs, type MemfsProcess } from '../helpers/fuse-memfs-process.js';
import { changed, times, type Times } from '../helpers/file-times.js';

let memfs: MemfsProcess;
let root = '';
const p = (...parts: string[]): string => join(root, ...parts);


async function statFormat(path: string, format: string): Promise<string> {
  const r = await run('stat', ['-c', format, path], { env: { ...process.env, TZ: 'UTC' } });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const OLD = '2001-02-03 04:05:06.123456789';

/** Sets atime and mtime far in the past so a change is unmistakable. */
async function age(path: string): Promise<Times> {
  const r = await run('touch', ['-h', '-d', OLD, path], { env: { ...process.env, TZ: 'UTC' } });
  assert.equal(r.code, 0, r.stderr);
  return times(path);
}

before(async () => {
  memfs = await startMemfs({ args: ['--attr-timeout', '0'] });
  root = memfs.mountpoint;
});

after(async () => {
  await memfs.stop();
});

describe('explicit times', () => {
  it('round-trip with nanoseconds', async () => {
    await fs.writeFile(p('ns'), '');
    await age(p('ns'));
    assert.equal(await statFormat(p('ns'), '%x|%y'), `${OLD} +0000|${OLD} +0000`);
  });

  it('touch -m and touch -a change only their own time (ctime follows)', async () => {
    await fs.writeFile(p('am'), '');
    const t0 = await age(p('am'));
    await run('touch', ['-m', '-d', '2010-01-01 00:00:00.5', p('am')], { env: { ...process.env, TZ: 'UTC' } });
    const t1 = await times(p('am'));
    assert.equal(changed(t0, t1), 'm,c');
    assert.equal(t1.m, 1262304000_500000000n);
    await run('touch', ['-a', '-d', '2011-01-01 00:00:00.25', p('am')], { env: { ...process.env, TZ: 'UTC' } });
    const t2 = await times(p('am'));
    assert.equal(changed(t1, t2), 'a,c');
    assert.equal(t2.a, 1293840000_250000000n);
  });

  it('UTIME_OMIT leaves a time alone; UTIME_NOW takes the clock', async () => {
    await fs.writeFile(p('omit'), '');
    const t0 = await age(p('omit'));
    const r = await python(
      `import ctypes, sys
class TS(ctypes.Structure):
    _fields_ = [('sec', ctypes.c_long), ('nsec', ctypes.c_long)]
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
libc = ctypes.CDLL(None, use_errno=True)
t = (TS * 2)(TS(0, UTIME_OMIT), TS(86400 * 365, 7))
assert libc.utimensat(-100, sys.argv[1].encode(), t, 0) == 0
t = (TS * 2)(TS(0, UTIME_NOW), TS(0, UTIME_OMIT))
assert libc.utimensat(-100, sys.argv[1].encode(), t, 0) == 0`,
      [p('omit')],
    );
    assert.equal(r.code, 0, r.stderr);
    const t1 = await times(p('omit'));
    assert.equal(t1.m, 86400n * 365n * 1_000_000_000n + 7n);
    assert.ok(t1.a > t0.a && t1.a > BigInt(Date.now() - 60_000) * 1_000_000n, 'atime is now');
    assert.ok(t1.c > t0.c);
  });

  it('times before 1970', async () => {
    await fs.writeFile(p('old'), '');
    await run('touch', ['-d', '1960-05-06 07:08:09.5', p('old')], { env: { ...process.env, TZ: 'UTC' } });
    assert.equal(await statFormat(p('old'), '%y'), '1960-05-06 07:08:09.500000000 +0000');
    assert.equal(await statFormat(p('old'), '%Y'), String(Date.UTC(1960, 4, 6, 7, 8, 9) / 1000));
    // Node treats negative numbers as "now"; Dates pass through.
    await fs.utimes(p('old'), new Date(-1250), new Date(-86_400_000));
    const st = await fs.stat(p('old'), { bigint: true });
    assert.equal(st.atimeNs, -1_250_000_000n);
    assert.equal(st.mtimeNs, -86_400_000_000_000n);
  });
});

describe('which operations mark which times', () => {
  it('create marks the parent m,c; the new file gets a=m=c', async () => {
    await fs.mkdir(p('d1'));
    const d0 = await age(p('d1'));
    await fs.writeFile(p('d1', 'new'), '');
    assert.equal(changed(d0, await times(p('d1'))), 'm,c');
    const f = await times(p('d1', 'new'));
    assert.equal(f.a, f.m);
    assert.equal(f.m, f.c);
  });

  it('write marks m,c; read marks a; chmod and setxattr mark c', async () => {
    await fs.writeFile(p('rw'), 'initial');
    const t0 = await age(p('rw'));
    await fs.appendFile(p('rw'), 'more');
    const t1 = await times(p('rw'));
    assert.equal(changed(t0, t1), 'm,c');
    await fs.readFile(p('rw'));
    const t2 = await times(p('rw'));
    assert.equal(changed(t1, t2), 'a');
    await fs.chmod(p('rw'), 0o600);
    const t3 = await times(p('rw'));
    assert.equal(changed(t2, t3), 'c');
    const r = await python(`import os, sys; os.setxattr(sys.argv[1], 'user.t', b'1')`, [p('rw')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(changed(t3, await times(p('rw'))), 'c');
  });

  it('truncate marks m,c', async () => {
    await fs.writeFile(p('tr'), 'abcdef');
    const t0 = await age(p('tr'));
    await fs.truncate(p('tr'), 2);
    assert.equal(changed(t0, await times(p('tr'))), 'm,c');
  });

  it('link and unlink mark the inode c and the directory m,c', async () => {
    await fs.mkdir(p('ld'));
    await fs.writeFile(p('ld', 'f'), '');
    const f0 = await age(p('ld', 'f'));
    const d0 = await age(p('ld'));
    await fs.link(p('ld', 'f'), p('ld', 'g'));
    const f1 = await times(p('ld', 'f'));
    const d1 = await times(p('ld'));
    assert.equal(changed(f0, f1), 'c');
    assert.equal(changed(d0, d1), 'm,c');
    await fs.unlink(p('ld', 'g'));
    assert.equal(changed(f1, await times(p('ld', 'f'))), 'c');
    assert.equal(changed(d1, await times(p('ld'))), 'm,c');
  });

  it('rename marks both directories m,c and the moved inode c', async () => {
    await fs.mkdir(p('src'));
    await fs.mkdir(p('dst'));
    await fs.writeFile(p('src', 'f'), 'x');
    const f0 = await age(p('src', 'f'));
    const s0 = await age(p('src'));
    const t0 = await age(p('dst'));
    await fs.rename(p('src', 'f'), p('dst', 'f'));
    assert.equal(changed(f0, await times(p('dst', 'f'))), 'c');
    assert.equal(changed(s0, await times(p('src'))), 'm,c');
    assert.equal(changed(t0, await times(p('dst'))), 'm,c');
  });

  it('readdir marks the directory a; readlink marks the link a', async () => {
    await fs.mkdir(p('rd'));
    await fs.writeFile(p('rd', 'x'), '');
    const d0 = await age(p('rd'));
    await fs.readdir(p('rd'));
    assert.equal(changed(d0, await times(p('rd'))), 'a');
    await fs.symlink('target', p('sl'));
    const l0 = await age(p('sl'));
    await fs.readlink(p('sl'));
    assert.equal(changed(l0, await times(p('sl'))), 'a');
  });
});
