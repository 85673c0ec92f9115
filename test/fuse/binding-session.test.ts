// FuseSession in this process, driven only through child processes and async fs calls: what
// handlers receive (caller context, masked modes, 1 MiB writes), how results and errors are
// answered (negative entries, ENOSYS for missing operations, errno mapping, EIO for bugs),
// kernel cache notifications, interrupts, and the end of a session (late replies are no-ops,
// unmount is idempotent, bad options and mount points are refused).

import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { FuseSession } from '../../src/fuse/fuse-binding.js';
import { FuseError, fuseError } from '../../src/fuse/fuse-error.js';
import type {
  Attr,
  AttrReply,
  CreateArgs,
  CreateReply,
  Entry,
  FuseOperations,
  GetattrArgs,
  LookupArgs,
  NegativeEntry,
  OpenArgs,
  OpenReply,
  RequestContext,
  WriteArgs,
} from '../../src/fuse/fuse-operations.js';
import { MemFs } from '../../memfs/mem-fs.js';
import { python, run, runAs } from '../helpers/fuse-commands.js';
import { mountInfo } from '../helpers/fuse-memfs-process.js';

const MiB = 1024 * 1024;

async function tempMountpoint(): Promise<{ dir: string; mountpoint: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'qfs-session-'));
  await fs.chmod(dir, 0o755);
  const mountpoint = join(dir, 'mnt');
  await fs.mkdir(mountpoint);
  return { dir, mountpoint };
}

function attr(ino: number, mode: number, sizeBytes: number): Attr {
  const t = { sec: 1_000_000_000, nsec: 5 };
  return { ino, mode, nlink: 1, uid: 0, gid: 0, rdev: 0, sizeBytes, blksizeBytes: 4096, blocks: 0, atime: t, mtime: t, ctime: t };
}

/** MemFs that records what the binding hands it. */
class RecordingFs extends MemFs {
  creates: Array<{ ctx: RequestContext; args: CreateArgs }> = [];
  largestWriteBytes = 0;

  override create(ctx: RequestContext, args: CreateArgs): CreateReply | Promise<never> {
    this.creates.push({ ctx: { ...ctx }, args });
    return super.create(ctx, args);
  }

  override open(ctx: RequestContext, args: OpenArgs): OpenReply {
    // Direct I/O lets one write(2) arrive as one request of up to max_write bytes.
    return { ...super.open(ctx, args), directIo: true };
  }

  override write(ctx: RequestContext, args: WriteArgs): number {
    this.largestWriteBytes = Math.max(this.largestWriteBytes, args.data.length);
    return super.write(ctx, args);
  }
}

describe('a session over MemFs', () => {
  let session: FuseSession;
  let place: { dir: string; mountpoint: string };
  const recording = new RecordingFs({ attrTimeoutSec: 0 });
  const failures: string[] = [];

  before(async () => {
    place = await tempMountpoint();
    session = await FuseSession.mount({
      mountpoint: place.mountpoint,
      operations: recording,
      mountOptions: ['allow_other', 'default_permissions', 'fsname=qfs-test', 'subtype=qfstest'],
      onHandlerError: ({ op }) => failures.push(op),
    });
    await fs.chmod(place.mountpoint, 0o1777);
  });

  after(async () => {
    await session.unmount();
    await session.unmount(); // idempotent
    assert.equal(await session.closed, 0);
    await rm(place.dir, { recursive: true, force: true });
  });

  it('passes mount options through and negotiates 1 MiB writes', async () => {
    const info = await mountInfo(place.mountpoint);
    assert.equal(info?.fstype, 'fuse.qfstest');
    const mounts = await fs.readFile('/proc/self/mounts', 'utf8');
    assert.match(mounts, new RegExp(`^qfs-test ${place.mountpoint} fuse.qfstest .*allow_other`, 'm'));
    assert.equal(session.conn?.maxWriteBytes, MiB);
    const r = await python(
      // A page-aligned buffer: the kernel cuts direct I/O at max_pages pinned user pages.
      `import mmap, os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
os.close(fd)
fd = os.open(sys.argv[1], os.O_WRONLY)
buf = mmap.mmap(-1, 1 << 20)
buf.write(b'z' * (1 << 20))
print(os.write(fd, buf))`,
      [join(place.mountpoint, 'onemeg')],
    );
    assert.equal(r.stdout.trim(), String(MiB), r.stderr);
    assert.equal(recording.largestWriteBytes, MiB);
  });

  it('hands handlers the caller uid, gid, pid and umask, and the masked mode', async () => {
    const r = await runAs(65534, 65533, 'sh', ['-c', `umask 027; exec touch ${join(place.mountpoint, 'ctx-file')}`]);
    assert.equal(r.code, 0, r.stderr);
    const rec = recording.creates.find((c) => c.args.name === 'ctx-file');
    assert.ok(rec);
    assert.equal(rec.ctx.uid, 65534);
    assert.equal(rec.ctx.gid, 65533);
    assert.equal(rec.ctx.umask, 0o027);
    assert.ok(rec.ctx.pid > 0);
    assert.equal(rec.args.mode & 0o777, 0o640);
  });

  it('lets a blocked F_SETLKW be interrupted by a signal', async () => {
    const f = join(place.mountpoint, 'locked');
    await fs.writeFile(f, 'x');
    const r = await python(
      `import fcntl, os, signal, sys, time
path = sys.argv[1]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    f = open(path, 'r+'); fcntl.lockf(f, fcntl.LOCK_EX); os.write(w, b'1'); time.sleep(5); os._exit(0)
os.read(r, 1)
class Alarm(Exception): pass
def on_alarm(signum, frame): raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.3)
f = open(path, 'r+')
try:
    fcntl.lockf(f, fcntl.LOCK_EX)
    print('locked?')
except Alarm:
    print('interrupted')
os.kill(pid, 9)
os.waitpid(pid, 0)`,
      [f],
    );
    assert.equal(r.stdout.trim(), 'interrupted', r.stderr);
    assert.ok(session.stats.interrupts >= 1);
  });

  it('reports no handler failures for ordinary traffic', () => {
    assert.deepEqual(failures, []);
  });
});

/** A tiny hand-written file system for the answer/notification tests. */
class TinyFs implements FuseOperations {
  lookups = new Map<string, number>();
  names = new Map<string, number>([['file', 2]]);
  sizes = new Map<number, number>([[2, 10], [3, 20]]);
  gate: Promise<void> | undefined;

  lookup(_ctx: RequestContext, { name }: LookupArgs): Entry | NegativeEntry | Promise<Entry> {
    this.lookups.set(name, (this.lookups.get(name) ?? 0) + 1);
    if (name === 'slow') return this.gate!.then(() => ({ ino: 9, attr: attr(9, 0o100644, 0), attrTimeoutSec: 0, entryTimeoutSec: 0 }));
    if (name === 'ghost') return { ino: 0, entryTimeoutSec: 60 };
    if (name === 'denied') throw new FuseError('EACCES');
    if (name === 'node-error') throw Object.assign(new Error('like fs'), { code: 'ENOTEMPTY', errno: -39 });
    if (name === 'numeric') throw { errno: -36 };
    if (name === 'bug') throw new TypeError('handler bug');
    if (name === 'bad-result') return undefined as unknown as Entry;
    const ino = this.names.get(name);
    if (ino === undefined) throw fuseError('ENOENT');
    return { ino, attr: attr(ino, 0o100644, this.sizes.get(ino) ?? 0), attrTimeoutSec: 60, entryTimeoutSec: 60 };
  }

  getattr(_ctx: RequestContext, { ino }: GetattrArgs): AttrReply {
    if (ino === 1) return { attr: attr(1, 0o040755, 0), attrTimeoutSec: 0 };
    return { attr: attr(ino, 0o100644, this.sizes.get(ino) ?? 0), attrTimeoutSec: 60 };
  }
}

describe('answers and notifications', () => {
  let session: FuseSession;
  let place: { dir: string; mountpoint: string };
  const tiny = new TinyFs();
  const failures: string[] = [];
  const p = (name: string): string => join(place.mountpoint, name);

  before(async () => {
    place = await tempMountpoint();
    session = await FuseSession.mount({ mountpoint: place.mountpoint, operations: tiny, onHandlerError: ({ op }) => failures.push(op) });
  });

  after(async () => {
    await session.unmount();
    await rm(place.dir, { recursive: true, force: true });
  });

  it('maps thrown errors to errno; bugs become EIO and are reported', async () => {
    await assert.rejects(fs.stat(p('denied')), { code: 'EACCES' });
    await assert.rejects(fs.stat(p('node-error')), { code: 'ENOTEMPTY' });
    await assert.rejects(fs.stat(p('numeric')), { code: 'ENAMETOOLONG' });
    await assert.rejects(fs.stat(p('bug')), { code: 'EIO' });
    await assert.rejects(fs.stat(p('bad-result')), { code: 'EIO' });
    assert.deepEqual(failures, ['lookup', 'lookup']);
  });

  it('operations without a handler answer ENOSYS', async () => {
    await assert.rejects(fs.mkdir(p('d')), { code: 'ENOSYS' });
    await assert.rejects(fs.symlink('x', p('s')), { code: 'ENOSYS' });
    await assert.rejects(fs.unlink(p('file')), { code: 'ENOSYS' });
  });

  it('caches negative entries for their timeout', async () => {
    await assert.rejects(fs.stat(p('ghost')), { code: 'ENOENT' });
    await assert.rejects(fs.stat(p('ghost')), { code: 'ENOENT' });
    assert.equal(tiny.lookups.get('ghost'), 1);
  });

  it('invalidateEntry, invalidateInode and notifyDelete reach the kernel', async () => {
    assert.equal((await fs.stat(p('file'))).ino, 2);
    tiny.names.set('file', 3);
    assert.equal((await fs.stat(p('file'))).ino, 2, 'still cached');
    await session.invalidateEntry(1, 'file');
    assert.equal((await fs.stat(p('file'))).ino, 3);
    tiny.sizes.set(3, 33);
    assert.equal((await fs.stat(p('file'))).size, 20, 'attributes cached');
    await session.invalidateInode(3, -1, 0);
    assert.equal((await fs.stat(p('file'))).size, 33);
    // ghost's negative entry goes with notifyDelete... of a name the kernel does not know: fine.
    await session.invalidateEntry(1, 'ghost');
    tiny.names.set('ghost2', 2);
    await session.notifyDelete(1, 3, 'file').catch((err: FuseError) => assert.equal(err.code, 'EBUSY'));
    await session.invalidateInode(12345); // unknown to the kernel: resolves
  });

  it('a reply after the session ended is a harmless no-op', async () => {
    let open!: () => void;
    tiny.gate = new Promise<void>((resolve) => (open = resolve));
    const stuck = run('stat', [p('slow')]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(session.pendingRequests, 1);
    await session.unmount();
    const r = await stuck;
    assert.notEqual(r.code, 0);
    open();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(session.stats.staleReplies, 1);
    await assert.rejects(session.invalidateInode(2), { code: 'ENOTCONN' });
  });
});

describe('refused sessions', () => {
  it('rejects unknown options and missing mount points, and leaves nothing behind', async () => {
    const place = await tempMountpoint();
    try {
      await assert.rejects(
        FuseSession.mount({ mountpoint: place.mountpoint, operations: new TinyFs(), mountOptions: ['no_such_option'] }),
        /unknown option|fuse_session_new failed/,
      );
      await assert.rejects(
        FuseSession.mount({ mountpoint: join(place.dir, 'absent'), operations: new TinyFs() }),
        /mount failed|ENOENT/,
      );
      assert.equal(await mountInfo(place.mountpoint), undefined);
    } finally {
      await rm(place.dir, { recursive: true, force: true });
    }
  });
});
