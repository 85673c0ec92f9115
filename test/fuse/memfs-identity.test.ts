// Caller identity and the ownership rules through memfs: files belong to the caller (group from
// a setgid directory), sticky directories protect other users' entries, setuid/setgid are
// cleared on write, truncate and chown, and chmod/chown/utimens rights hold. Mounted with
// allow_other and default_permissions; a second mount checks memfs's own mode-bit checks.

import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { run, runAs } from '../helpers/fuse-commands.js';
import { startMemfs, type MemfsProcess } from '../helpers/fuse-memfs-process.js';

const NOBODY = 65534;
const OTHER = 65533;

let memfs: MemfsProcess;
let shared = '';

async function owner(path: string): Promise<[number, number]> {
  const st = await fs.stat(path);
  return [st.uid, st.gid];
}

before(async () => {
  memfs = await startMemfs({ args: ['--attr-timeout', '0'] });
  shared = join(memfs.mountpoint, 'shared');
  await fs.mkdir(shared);
  await fs.chmod(shared, 0o1777);
});

after(async () => {
  await memfs.stop();
});

describe('caller identity', () => {
  it('files and directories created by another user belong to that user', async () => {
    const r = await runAs(NOBODY, NOBODY, 'touch', [join(shared, 'by-nobody')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await owner(join(shared, 'by-nobody')), [NOBODY, NOBODY]);
    assert.equal((await runAs(NOBODY, 4321, 'mkdir', [join(shared, 'dir-nobody')])).code, 0);
    assert.deepEqual(await owner(join(shared, 'dir-nobody')), [NOBODY, 4321]);
    await fs.writeFile(join(shared, 'by-root'), '');
    assert.deepEqual(await owner(join(shared, 'by-root')), [0, 0]);
  });

  it('the umask applies to new files', async () => {
    const r = await runAs(NOBODY, NOBODY, 'sh', ['-c', `umask 027 && touch ${join(shared, 'masked')} && mkdir ${join(shared, 'masked-dir')}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await fs.stat(join(shared, 'masked'))).mode & 0o777, 0o640);
    assert.equal((await fs.stat(join(shared, 'masked-dir'))).mode & 0o777, 0o750);
  });

  it('a setgid directory passes its group on', async () => {
    const dir = join(shared, 'group-dir');
    await fs.mkdir(dir);
    await fs.chown(dir, 0, 4242);
    await fs.chmod(dir, 0o2777);
    assert.equal((await runAs(NOBODY, NOBODY, 'touch', [join(dir, 'f')])).code, 0);
    assert.equal((await runAs(NOBODY, NOBODY, 'mkdir', [join(dir, 'sub')])).code, 0);
    assert.deepEqual(await owner(join(dir, 'f')), [NOBODY, 4242]);
    const sub = await fs.stat(join(dir, 'sub'));
    assert.equal(sub.gid, 4242);
    assert.ok(sub.mode & 0o2000, 'subdirectory keeps setgid');
  });
});

describe('sticky directories', () => {
  it('only the owner (or root) removes or renames an entry', async () => {
    const f = join(shared, 'sticky-victim');
    assert.equal((await runAs(NOBODY, NOBODY, 'touch', [f])).code, 0);
    const rm = await runAs(OTHER, OTHER, 'rm', ['-f', f]);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /Operation not permitted/);
    const mv = await runAs(OTHER, OTHER, 'mv', [f, join(shared, 'moved')]);
    assert.notEqual(mv.code, 0);
    // Replacing it by rename is deleting it too.
    assert.equal((await runAs(OTHER, OTHER, 'touch', [join(shared, 'other-file')])).code, 0);
    const over = await runAs(OTHER, OTHER, 'mv', ['-f', join(shared, 'other-file'), f]);
    assert.notEqual(over.code, 0);
    assert.equal((await runAs(NOBODY, NOBODY, 'mv', [f, join(shared, 'moved')])).code, 0);
    assert.equal((await runAs(NOBODY, NOBODY, 'rm', [join(shared, 'moved')])).code, 0);
    // Root may always.
    assert.equal((await run('rm', [join(shared, 'other-file')])).code, 0);
  });
});

describe('setuid and setgid clearing', () => {
  it('a write by a non-root user clears setuid and setgid (with group exec)', async () => {
    const f = join(shared, 'suid-write');
    await fs.writeFile(f, 'x');
    await fs.chown(f, NOBODY, NOBODY);
    await fs.chmod(f, 0o6775);
    assert.equal((await fs.stat(f)).mode & 0o7777, 0o6775);
    const r = await runAs(NOBODY, NOBODY, 'sh', ['-c', `echo more >> ${f}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await fs.stat(f)).mode & 0o7777, 0o775);
  });

  it('setgid without group exec survives a write; root writes keep both', async () => {
    const f = join(shared, 'sgid-nox');
    await fs.writeFile(f, 'x');
    await fs.chown(f, NOBODY, NOBODY);
    await fs.chmod(f, 0o2664);
    assert.equal((await runAs(NOBODY, NOBODY, 'sh', ['-c', `echo y >> ${f}`])).code, 0);
    assert.equal((await fs.stat(f)).mode & 0o7777, 0o2664);
    const g = join(shared, 'suid-root');
    await fs.writeFile(g, 'x');
    await fs.chmod(g, 0o4755);
    await fs.appendFile(g, 'root writes');
    assert.equal((await fs.stat(g)).mode & 0o7777, 0o4755);
  });

  it('truncate by the owner and chown (even by root) clear setuid', async () => {
    const f = join(shared, 'suid-trunc');
    await fs.writeFile(f, 'abc');
    await fs.chown(f, NOBODY, NOBODY);
    await fs.chmod(f, 0o4755);
    assert.equal((await runAs(NOBODY, NOBODY, 'truncate', ['-s', '1', f])).code, 0);
    assert.equal((await fs.stat(f)).mode & 0o7777, 0o755);
    await fs.chmod(f, 0o4755);
    await fs.chown(f, OTHER, OTHER);
    assert.equal((await fs.stat(f)).mode & 0o7777, 0o755);
  });
});

describe('setattr rights (checked by the kernel with default_permissions)', () => {
  it('chmod and chown by others are refused; utimens rules hold', async () => {
    const f = join(shared, 'rights');
    await fs.writeFile(f, '');
    await fs.chown(f, NOBODY, NOBODY);
    await fs.chmod(f, 0o666);
    assert.notEqual((await runAs(OTHER, OTHER, 'chmod', ['777', f])).code, 0);
    assert.notEqual((await runAs(NOBODY, NOBODY, 'chown', [String(OTHER), f])).code, 0);
    assert.equal((await runAs(NOBODY, NOBODY, 'chmod', ['600', f])).code, 0);
    assert.equal((await fs.stat(f)).mode & 0o777, 0o600);
    // Explicit times need ownership; "now" needs write permission.
    assert.notEqual((await runAs(OTHER, OTHER, 'touch', ['-d', '2001-01-01', f])).code, 0);
    assert.notEqual((await runAs(OTHER, OTHER, 'touch', [f])).code, 0);
    await fs.chmod(f, 0o666);
    assert.equal((await runAs(OTHER, OTHER, 'touch', [f])).code, 0);
    assert.notEqual((await runAs(OTHER, OTHER, 'touch', ['-d', '2001-01-01', f])).code, 0);
    assert.equal((await runAs(NOBODY, NOBODY, 'touch', ['-d', '2001-01-01', f])).code, 0);
  });
});

describe('memfs permission checks (no default_permissions)', () => {
  let own: MemfsProcess;
  before(async () => {
    own = await startMemfs({ args: ['--attr-timeout', '0', '--no-default-permissions'] });
  });
  after(async () => {
    await own.stop();
  });

  it('mode bits, access() and owner rules are enforced by memfs itself', async () => {
    const root = own.mountpoint;
    assert.notEqual((await runAs(NOBODY, NOBODY, 'touch', [join(root, 'denied')])).code, 0);
    await fs.writeFile(join(root, 'secret'), 'root only', { mode: 0o600 });
    const cat = await runAs(NOBODY, NOBODY, 'cat', [join(root, 'secret')]);
    assert.match(cat.stderr, /Permission denied/);
    assert.equal((await runAs(NOBODY, NOBODY, 'test', ['-r', join(root, 'secret')])).code, 1);
    assert.equal((await run('test', ['-r', join(root, 'secret')])).code, 0);
    await fs.mkdir(join(root, 'pub'), { mode: 0o777 });
    await fs.chmod(join(root, 'pub'), 0o1777);
    assert.equal((await runAs(NOBODY, NOBODY, 'touch', [join(root, 'pub', 'mine')])).code, 0);
    assert.notEqual((await runAs(OTHER, OTHER, 'rm', ['-f', join(root, 'pub', 'mine')])).code, 0);
    assert.notEqual((await runAs(OTHER, OTHER, 'chmod', ['777', join(root, 'pub', 'mine')])).code, 0);
    assert.notEqual((await runAs(NOBODY, NOBODY, 'chown', [String(OTHER), join(root, 'pub', 'mine')])).code, 0);
    assert.equal((await runAs(NOBODY, NOBODY, 'chmod', ['640', join(root, 'pub', 'mine')])).code, 0);
  });
});
