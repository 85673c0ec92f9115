// Disk full as a state: data servers on small tmpfs file systems. One full server of three
// (Qw 2) does not fail writes, and status shows it full with its capacity until space comes
// back; with every server full, a write through the mount fails ENOSPC (not EIO) at fsync and
// at close, what was written before stays readable, and df on the mount reports the data
// servers' space, not the host disk's. Every tmpfs is unmounted in cleanup, also on failure.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { limits } from '../../src/common/limits.js';
import { ROOT_INO } from '../../src/common/types.js';
import { mediatorMethods, type StatusReport } from '../../src/protocol/mediator-messages.js';
import { freePorts, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { python, run } from '../helpers/fuse-commands.js';
import { isMounted, startMount, type Mount } from '../helpers/mount.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A cluster of three (Qr 2, Qw 2) whose data servers listed in `small` store blocks on a tmpfs
 * of `tmpfsBytes`, mounted before the mediator starts them. */
class SmallDiskCluster {
  cluster: Cluster | undefined;
  readonly tmpfsDirs: string[] = [];

  private constructor(
    readonly dataDir: string,
    readonly ports: { mediator: number; meta: number; data: number[] },
  ) {}

  static async start(small: number[], tmpfsBytes: number): Promise<SmallDiskCluster> {
    const [mediator, meta, ...data] = await freePorts(5);
    const self = new SmallDiskCluster(await mkdtemp(path.join(os.tmpdir(), 'qfs-diskfull-')), { mediator: mediator!, meta: meta!, data });
    try {
      for (const i of small) {
        // The mediator runs data server <port> on <data-dir>/data-<port> (child-servers.ts).
        const dir = path.join(self.dataDir, `data-${data[i]}`);
        await mkdir(dir);
        const r = await run('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsBytes}`, 'tmpfs', dir]);
        assert.equal(r.code, 0, `mount tmpfs on ${dir}: ${r.stderr}`);
        self.tmpfsDirs.push(dir);
      }
      self.cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, sparePorts: 'none', ports: self.ports, dataDir: self.dataDir });
    } catch (err) {
      await self.stop();
      throw err;
    }
    return self;
  }

  get mediator(): string {
    return `127.0.0.1:${this.ports.mediator}`;
  }

  async statusJson(): Promise<StatusReport> {
    const r = await runCli(['status', '--mediator', this.mediator, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as StatusReport;
  }

  /** Stops the cluster, then unmounts every tmpfs (lazily if still busy) and removes the data. */
  async stop(): Promise<void> {
    try {
      await this.cluster?.stop();
    } finally {
      for (const dir of this.tmpfsDirs) {
        if (!(await isMounted(dir))) continue;
        const r = await run('umount', [dir]);
        if (r.code !== 0) await run('umount', ['-l', dir]);
      }
      await rm(this.dataDir, { recursive: true, force: true });
    }
  }
}

/** Starts a SmallDiskCluster before the enclosing describe block's tests and stops it (and its
 * tmpfs mounts) after them, also when they fail; the returned function gives it to each test. */
function withSmallDiskCluster(small: number[], tmpfsBytes: number): () => SmallDiskCluster {
  let c: SmallDiskCluster | undefined;
  before(async () => {
    c = await SmallDiskCluster.start(small, tmpfsBytes);
  });
  after(async () => {
    await c?.stop();
  });
  return () => {
    if (!c) throw new Error('the small-disk cluster did not start');
    return c;
  };
}

function dataServer(report: StatusReport, port: number): StatusReport['servers'][number] {
  const s = report.servers.find((x) => x.role === 'data' && x.port === port);
  assert.ok(s, `data server ${port} in status`);
  return s;
}

describe('one data server on a 16 MiB tmpfs (3 servers, Qr 2 Qw 2)', { timeout: 180_000 }, () => {
  const TMPFS_BYTES = 16 * MiB;
  const clusterOf = withSmallDiskCluster([0], TMPFS_BYTES);

  it('writes more than it holds without an error; status shows it full with its capacity', async () => {
    const c = clusterOf();
    const client = c.cluster!.client;
    const files = Array.from({ length: 10 }, (_, i) => ({ name: `/f${i}`, data: randomBytes(4 * MiB) }));
    for (const f of files) await client.writeFile(f.name, f.data); // 40 MiB: more than 16
    for (const f of files) assert.equal(sha(await client.readFile(f.name)), sha(f.data), f.name);

    const report = await c.statusJson();
    const small = dataServer(report, c.ports.data[0]!);
    assert.equal(small.full, true, JSON.stringify(small));
    assert.equal(small.state, 'live', 'a full server keeps its membership state');
    assert.equal(small.capacityBytes, TMPFS_BYTES);
    assert.ok(small.freeBytes !== undefined && small.freeBytes < limits.dataServerSpaceReserveBytes, `free ${small.freeBytes}`);
    for (const port of c.ports.data.slice(1)) {
      const big = dataServer(report, port);
      assert.equal(big.full, false, JSON.stringify(big));
      assert.ok(big.capacityBytes! > TMPFS_BYTES && big.freeBytes! > 0, JSON.stringify(big));
    }
    const meta = report.servers.find((s) => s.role === 'meta')!;
    assert.ok(!('capacityBytes' in meta) && !('freeBytes' in meta), 'unknown space is absent, never 0');
    // Two servers still have room, so the cluster can store more (the Qw-th largest free space).
    assert.ok(report.space !== undefined && report.space.freeBytes > TMPFS_BYTES, JSON.stringify(report.space));

    const table = await runCli(['status', '--mediator', c.mediator]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /CAPACITY\s+FREE\s+NOTE/);
    const row = table.stdout.split('\n').find((l) => l.includes(`:${c.ports.data[0]} `));
    assert.ok(row?.includes('16.0 MiB') && row.includes('full'), `status row: ${row}`);
  });

  it('stops being full once space comes back, and takes writes again', async () => {
    const c = clusterOf();
    const client = c.cluster!.client;
    for (let i = 0; i < 10; i++) await client.unlink(ROOT_INO, `f${i}`);
    // Deleted versions go after a grace period; the next heartbeats see the space.
    await waitFor(async () => dataServer(await c.statusJson(), c.ports.data[0]!).full === false, 30_000, 'the server to stop being full');
    const data = randomBytes(2 * MiB);
    await client.writeFile('/again', data);
    const list = await runCli(['list-contents', String(c.ports.data[0]), '--json']);
    assert.equal(list.code, 0, list.stderr);
    const ino = (await client.resolve('/again')).ino;
    const keys = (JSON.parse(list.stdout) as Array<{ key: string }>).map((e) => e.key);
    assert.ok(keys.includes(`${ino}:0`) && keys.includes(`${ino}:1`), `blocks of /again on the freed server: ${keys.join(', ')}`);
  });
});

/** Writes `totalBytes` to a new file through the mount in 1 MiB writes, then fsyncs (if asked)
 * and closes; prints each step's outcome, e.g. "write:OK fsync:ENOSPC close:OK". Runs in its own
 * process: the mount is served by another one, and the errno of each call is what counts. */
const WRITER = `
import os, sys, errno
path, total, do_fsync = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'fsync'
steps = []
def step(name, call):
    try:
        call()
        steps.append(name + ':OK')
        return True
    except OSError as e:
        steps.append(name + ':' + errno.errorcode.get(e.errno, str(e.errno)))
        return False
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
chunk = os.urandom(1 << 20)
def write_all():
    written = 0
    while written < total:
        written += os.write(fd, chunk)
if step('write', write_all) and do_fsync:
    step('fsync', lambda: os.fsync(fd))
step('close', lambda: os.close(fd))
print(' '.join(steps))
`;

describe('every data server on a 24 MiB tmpfs, through a mount', { timeout: 180_000 }, () => {
  const TMPFS_BYTES = 24 * MiB;
  let c: SmallDiskCluster;
  let mount: Mount;
  before(async () => {
    c = await SmallDiskCluster.start([0, 1, 2], TMPFS_BYTES);
    mount = await startMount(c.ports.mediator);
  });
  after(async () => {
    try {
      await mount?.stop();
    } finally {
      await c?.stop();
    }
  });

  const df = async (): Promise<{ sizeBytes: number; availBytes: number }> => {
    const r = await run('df', ['-B1', '--output=size,avail', mount.dir]);
    assert.equal(r.code, 0, r.stderr);
    const [sizeBytes, availBytes] = r.stdout.trim().split('\n').pop()!.trim().split(/\s+/).map(Number);
    return { sizeBytes: sizeBytes!, availBytes: availBytes! };
  };

  it('df on the mount reports the data servers space, not the host disk', async () => {
    const { sizeBytes, availBytes } = await df();
    // In whole blocks of 1 MiB: the tmpfs size, as all three are the same.
    assert.ok(sizeBytes > TMPFS_BYTES - limits.blockSizeBytes && sizeBytes <= TMPFS_BYTES, `df size ${sizeBytes}`);
    assert.ok(availBytes > 0 && availBytes <= sizeBytes, `df avail ${availBytes}`);
  });

  it('a write no quorum can store fails ENOSPC at fsync and at close, not EIO; earlier data stays readable', async () => {
    const earlier = randomBytes(4 * MiB);
    await writeFile(path.join(mount.dir, 'before.bin'), earlier);
    const availBefore = (await df()).availBytes;

    const withFsync = await python(WRITER, [path.join(mount.dir, 'big-fsync.bin'), String(40 * MiB), 'fsync'], { timeoutMs: 120_000 });
    assert.equal(withFsync.code, 0, withFsync.stderr);
    assert.equal(withFsync.stdout.trim(), 'write:OK fsync:ENOSPC close:OK');

    const closeOnly = await python(WRITER, [path.join(mount.dir, 'big-close.bin'), String(40 * MiB), 'close'], { timeoutMs: 120_000 });
    assert.equal(closeOnly.code, 0, closeOnly.stderr);
    assert.equal(closeOnly.stdout.trim(), 'write:OK close:ENOSPC');

    assert.equal(sha(await readFile(path.join(mount.dir, 'before.bin'))), sha(earlier));
    const availAfter = (await df()).availBytes;
    assert.ok(availAfter < availBefore, `df avail ${availAfter} after filling, ${availBefore} before`);
  });
});

describe('a full server gets what it missed once space comes back, with no manual heal', { timeout: 180_000 }, () => {
  const TMPFS_BYTES = 16 * MiB;
  const clusterOf = withSmallDiskCluster([0], TMPFS_BYTES);

  /** Committed blocks the server does not hold, from the block maps and its listing. */
  async function lackingOn(port: number, inos: number[]): Promise<number> {
    const list = await runCli(['list-contents', String(port), '--json']);
    assert.equal(list.code, 0, list.stderr);
    const held = new Set((JSON.parse(list.stdout) as Array<{ key: string; version: number }>).map((e) => `${e.key}@${e.version}`));
    let lacking = 0;
    for (const ino of inos) {
      const { blocks } = await clusterOf().cluster!.client.rpc.call(mediatorMethods.blockMap, { ino });
      for (const b of blocks) if (!held.has(`${ino}:${b.index}@${b.version}`)) lacking++;
    }
    return lacking;
  }

  it('counts exactly the blocks the full server lacks, then repairs them all when it has room', async () => {
    const c = clusterOf();
    const client = c.cluster!.client;
    const files = Array.from({ length: 10 }, (_, i) => ({ name: `/m${i}`, data: randomBytes(4 * MiB) }));
    const inos: number[] = [];
    for (const f of files) inos.push((await client.writeFile(f.name, f.data)).ino); // 40 MiB onto 16
    const small = c.ports.data[0]!;
    let lacking = 0;
    await waitFor(async () => {
      lacking = await lackingOn(small, inos);
      const s = await c.statusJson();
      return lacking > 0 && s.counters.underReplicated === lacking && dataServer(s, small).lackingBlocks === lacking && s.fullyReplicated === false;
    }, 20_000, 'status to count the blocks the full server lacks');

    const grown = await run('mount', ['-o', `remount,size=${8 * TMPFS_BYTES}`, c.tmpfsDirs[0]!]);
    assert.equal(grown.code, 0, grown.stderr);
    // Space figures come with heartbeats (refreshed at most once a second), which may trail
    // the repairs: wait for both.
    await waitFor(async () => {
      const s = await c.statusJson();
      return s.fullyReplicated === true && dataServer(s, small).full === false;
    }, 60_000, 'the misses to be repaired and the server to have room');
    assert.equal(await lackingOn(small, inos), 0);
    assert.equal((await c.statusJson()).counters.underReplicated, 0);
  });
});
