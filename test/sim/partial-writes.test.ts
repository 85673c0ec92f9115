// Writes and reads of less than a block, on a cluster in one process on virtual time. A 4 KiB
// write into a 1 MiB block is sent as a patch (pieces and the new checksum), not as the block; a
// server whose base is bad refuses it and is repaired like any write miss; when too few servers
// can apply it, the block is sent whole. The mount's direct reader fetches only the extents a
// random read covers (one server sends, the others check in place), the whole block on the
// second such read, and hands anything unexpected to the mediator instead of returning it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { blockKey, type InodeAttr } from '../../src/common/types.js';
import { limits } from '../../src/common/limits.js';
import { seededRandom } from '../../src/common/random.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import { namespaceMethods } from '../../src/protocol/meta-messages.js';
import { DirectReader } from '../../src/mount/direct-read.js';
import { DirectWriter } from '../../src/mount/direct-write.js';
import { ReplicaReports, type ReplicaReport } from '../../src/mount/replica-reports.js';
import { ReplicaTargets } from '../../src/mount/replica-targets.js';
import type { Method } from '../../src/protocol/method.js';
import type { CallOptions, ClosableChannel, RpcChannel } from '../../src/transport/rpc-channel.js';
import { SimCluster } from '../../sim/sim-cluster.js';

const DEADLINE_MS = 10_000;
const BS = limits.blockSizeBytes;

interface Harness {
  cluster: SimCluster;
  /** Calls the mediator made to data servers, by method name. */
  ops: Map<string, number>;
  create(name: string): Promise<InodeAttr>;
  write(ino: number, offset: number, data: Buffer): Promise<void>;
  contents(ino: number, size: number): Promise<Buffer>;
}

async function withCluster(body: (h: Harness) => Promise<void>): Promise<void> {
  const ops = new Map<string, number>();
  const cluster = new SimCluster(
    { seed: 11, servers: 3, readQuorum: 2, writeQuorum: 2, spares: 2, scrubIntervalMs: 0, diskCapacityBytes: 1 << 30, logLines: 20, blockCacheBytes: 0 },
    (_to, op) => ops.set(op, (ops.get(op) ?? 0) + 1),
  );
  const clock = cluster.clock;
  const h: Harness = {
    cluster,
    ops,
    create: (name) => clock.await(cluster.meta.call(namespaceMethods.create, { parent: 1, name, mode: 0o100644, caller: { uid: 0, gid: 0 }, exclusive: true }), DEADLINE_MS),
    write: async (ino, offset, data) => {
      await clock.await(cluster.core.fileIo.write(ino, offset, data, clock.nowMs() + DEADLINE_MS), DEADLINE_MS);
    },
    contents: async (ino, size) => (await clock.await(cluster.core.fileIo.read(ino, 0, size, clock.nowMs() + DEADLINE_MS), DEADLINE_MS)).data,
  };
  try {
    await cluster.start();
    await body(h);
  } finally {
    await cluster.stop();
  }
}

/** Writes a 1 MiB block whole, corrupts its copy on the first server, then writes 4 KiB into it
 * (a patch that server refuses) through `write`, and checks the file reads right. Returns the
 * server and the mediator's write-miss count from before the patch. */
async function patchOverBadBase(
  h: Harness,
  write: (ino: number, offset: number, data: Buffer) => Promise<unknown>,
): Promise<{ ino: number; bad: ReturnType<SimCluster['runningServers']>[number]; misses: number }> {
  const { ino } = await h.create('f');
  const model = randomBytes(BS);
  await write(ino, 0, model);
  const bad = h.cluster.runningServers()[0]!;
  await bad.disk.corrupt(blockKey(ino, 0));
  const misses = h.cluster.core.counters.writeMisses;
  const piece = randomBytes(4096);
  await write(ino, 500_000, piece);
  piece.copy(model, 500_000);
  assert.deepEqual(await h.contents(ino, BS), model);
  return { ino, bad, misses };
}

describe('writes of less than a block', () => {
  it('a 4 KiB write into a 1 MiB block is sent as a patch, and every server holds the new version', async () => {
    await withCluster(async ({ cluster, ops, create, write, contents }) => {
      const { ino } = await create('f');
      const model = randomBytes(BS);
      await write(ino, 0, model);
      const puts = ops.get('put') ?? 0;
      const piece = randomBytes(4096);
      await write(ino, 100_000, piece);
      piece.copy(model, 100_000);
      assert.deepEqual(await contents(ino, BS), model);
      assert.equal(cluster.core.fileIo.counters.blocksPatched, 1);
      assert.equal(cluster.core.fileIo.counters.patchesSentWhole, 0);
      assert.equal(ops.get('put') ?? 0, puts, 'no block was sent whole');
      assert.equal(ops.get('patch'), 3);
      await cluster.clock.advance(1_000);
      const committed = cluster.committedVersion(ino, 0)!;
      for (const server of cluster.runningServers()) assert.ok(server.disk.goodCopy(blockKey(ino, 0), committed.version, committed.checksum), server.name);
    });
  });

  it('a server whose base is bad refuses the patch; the write commits on the others and the miss is repaired', async () => {
    await withCluster(async (h) => {
      const { cluster } = h;
      const { ino, bad, misses } = await patchOverBadBase(h, h.write);
      assert.equal(cluster.core.fileIo.counters.patchesSentWhole, 0);
      assert.equal(cluster.core.counters.writeMisses, misses + 1);
      await cluster.clock.advance(5_000);
      const committed = cluster.committedVersion(ino, 0)!;
      assert.ok(bad.disk.goodCopy(blockKey(ino, 0), committed.version, committed.checksum), 'the miss was repaired');
    });
  });

  it('when too few servers can apply a patch, the block is sent whole, read from the good copy', async () => {
    await withCluster(async ({ cluster, ops, create, write, contents }) => {
      const { ino } = await create('f');
      const model = randomBytes(BS);
      await write(ino, 0, model);
      for (const server of cluster.runningServers().slice(0, 2)) await server.disk.corrupt(blockKey(ino, 0));
      const puts = ops.get('put') ?? 0;
      const piece = randomBytes(10);
      await write(ino, 7, piece);
      piece.copy(model, 7);
      assert.deepEqual(await contents(ino, BS), model);
      assert.equal(cluster.core.fileIo.counters.patchesSentWhole, 1);
      assert.ok((ops.get('put') ?? 0) >= puts + 2, 'sent whole to a write quorum');
    });
  });
});

/** A channel that counts the methods called through it. */
function counting(inner: ClosableChannel, calls: string[]): ClosableChannel {
  return {
    call: <A, R>(m: Method<A, R>, args: A, options?: CallOptions) => {
      calls.push(m.name);
      return inner.call(m, args, options);
    },
    callWithPayload: <A, R>(m: Method<A, R>, args: A, options?: CallOptions) => {
      calls.push(m.name);
      return inner.callWithPayload(m, args, options);
    },
    close: () => inner.close(),
  };
}

/** The mediator as a mount sees it: replicaTargets answered by the simulated mediator's core
 * (as the real handler is; the first `listed()` servers only if given), and
 * reportReplicas handed to its core and kept in `reported`. */
function simMediator(cluster: SimCluster, reported: ReplicaReport[] = [], listed?: () => number): RpcChannel {
  return {
    call: async <A, R>(m: Method<A, R>, args: A) => {
      if (m.name === mediatorMethods.reportReplicas.name) {
        const { replicas } = args as { replicas: ReplicaReport[] };
        reported.push(...replicas);
        cluster.core.replicasReported(replicas);
        return {} as R;
      }
      assert.equal(m.name, mediatorMethods.replicaTargets.name);
      const targets = cluster.core.replicaTargets();
      return { ...targets, servers: targets.servers.slice(0, listed?.() ?? targets.servers.length) } as R;
    },
    callWithPayload: () => Promise.reject(new Error('not used')),
  };
}

/** A mount's view of the data servers through `mediator`; its calls to them are counted in `calls`. */
function mountTargets(cluster: SimCluster, calls: string[], mediator: RpcChannel = simMediator(cluster)): ReplicaTargets {
  return new ReplicaTargets({
    mediator,
    connect: (address) => counting(cluster.network.channel(() => cluster.servers.get(address.port), false, false), calls),
    ttlMs: 1_000,
    nowMs: () => cluster.clock.nowMs(),
  });
}

describe("the mount's direct reads of part of a block", () => {
  async function withReader(body: (h: Harness, reader: DirectReader, calls: string[]) => Promise<void>): Promise<void> {
    await withCluster(async (h) => {
      const { cluster } = h;
      const calls: string[] = [];
      const targets = mountTargets(cluster, calls);
      const reader = new DirectReader({
        meta: cluster.meta,
        targets,
        blockSizeBytes: BS,
        // Smaller than the file: random reads of it fetch extents first.
        cacheBytes: BS,
        random: seededRandom(5),
        now: () => cluster.clock.nowTimespec(),
      });
      try {
        await body(h, reader, calls);
      } finally {
        targets.close();
      }
    });
  }

  it('a random read of a file bigger than the cache fetches the extents it covers, a second one the whole block, a third nothing', async () => {
    await withReader(async ({ cluster, create, write }, reader, calls) => {
      const { ino } = await create('f');
      const model = randomBytes(2 * BS);
      await write(ino, 0, model);
      const read = async (offset: number, size: number): Promise<Buffer | undefined> =>
        (await cluster.clock.await(reader.read(ino, offset, size), DEADLINE_MS))?.data;
      // Across an extent boundary: two extents.
      assert.deepEqual(await read(BS + 16 * 1024 - 100, 4096), model.subarray(BS + 16 * 1024 - 100, BS + 16 * 1024 - 100 + 4096));
      assert.deepEqual(calls.sort(), ['getExtents', 'verifyExtents']);
      calls.length = 0;
      assert.deepEqual(await read(BS + 700_000, 4096), model.subarray(BS + 700_000, BS + 704_096));
      assert.deepEqual(calls.sort(), ['get', 'verify']);
      calls.length = 0;
      assert.deepEqual(await read(BS + 300_000, 100), model.subarray(BS + 300_000, BS + 300_100));
      assert.deepEqual(calls, []);
    });
  });

  it('a random read of a file the cache can hold fetches its block whole', async () => {
    await withReader(async ({ cluster, create, write }, reader, calls) => {
      const { ino } = await create('f');
      const model = randomBytes(BS);
      await write(ino, 0, model);
      const got = await cluster.clock.await(reader.read(ino, 500_000, 4096), DEADLINE_MS);
      assert.deepEqual(got?.data, model.subarray(500_000, 504_096));
      assert.deepEqual(calls.sort(), ['get', 'verify']);
    });
  });

  it('a bad copy among those asked sends the read to the mediator, never wrong bytes', async () => {
    await withReader(async ({ cluster, create, write }, reader) => {
      const { ino } = await create('f');
      await write(ino, 0, randomBytes(2 * BS));
      // Two of three copies bad: any Qr = 2 servers asked include one.
      for (const server of cluster.runningServers().slice(0, 2)) await server.disk.corrupt(blockKey(ino, 0));
      for (const offset of [0, 200_000, 900_000]) {
        assert.equal(await cluster.clock.await(reader.read(ino, offset, 4096), DEADLINE_MS), undefined, `read at ${offset}`);
      }
    });
  });
});

describe("the mount's block maps", () => {
  it('a sequential reader asks for the map once per window while it is fresh, and again once it is forgotten or old', async () => {
    await withCluster(async ({ cluster, create, write }) => {
      const { ino } = await create('f');
      const model = randomBytes(8 * BS);
      await write(ino, 0, model);
      const metaCalls: string[] = [];
      const targets = mountTargets(cluster, []);
      const reader = new DirectReader({
        meta: counting({ call: (m, args, options) => cluster.meta.call(m, args, options), callWithPayload: (m, args, options) => cluster.meta.callWithPayload(m, args, options), close: () => undefined }, metaCalls),
        targets,
        blockSizeBytes: BS,
        cacheBytes: 16 * BS,
        random: seededRandom(5),
        now: () => cluster.clock.nowTimespec(),
        mapTtlMs: 1_000,
        nowMs: () => cluster.clock.nowMs(),
      });
      const readAll = async (): Promise<Buffer> => {
        const parts: Buffer[] = [];
        for (let offset = 0; offset < model.length; offset += 128 * 1024) {
          const got = await cluster.clock.await(reader.read(ino, offset, 128 * 1024), DEADLINE_MS);
          assert.ok(got, `read at ${offset}`);
          parts.push(got.data);
        }
        return Buffer.concat(parts);
      };
      const getBlocks = (): number => metaCalls.filter((c) => c === 'getBlocks').length;
      try {
        assert.deepEqual(await readAll(), model);
        assert.equal(getBlocks(), 1, '64 reads, one map');
        // Changed elsewhere: the next read asks again and sees the new bytes.
        const piece = randomBytes(4096);
        await write(ino, 5 * BS + 10, piece);
        piece.copy(model, 5 * BS + 10);
        reader.forget(ino);
        assert.deepEqual(await readAll(), model);
        assert.equal(getBlocks(), 2);
        // Past the attribute timeout the map is asked for again, changed or not.
        await cluster.clock.advance(1_500);
        assert.deepEqual(await readAll(), model);
        assert.equal(getBlocks(), 3);
      } finally {
        targets.close();
      }
    });
  });
});

describe("the mount's direct writes", () => {
  interface Writer {
    writer: DirectWriter;
    /** The mount's calls to data servers, by method name. */
    calls: string[];
    reported: ReplicaReport[];
    /** Writes through the writer; `viaMediator` counts the writes it hands over. */
    write(ino: number, offset: number, data: Buffer): Promise<InodeAttr>;
    handedOver: () => number;
  }

  async function withWriter(body: (h: Harness, w: Writer) => Promise<void>, listed?: () => number): Promise<void> {
    await withCluster(async (h) => {
      const { cluster } = h;
      const calls: string[] = [];
      const reported: ReplicaReport[] = [];
      const mediator = simMediator(cluster, reported, listed);
      const targets = mountTargets(cluster, calls, mediator);
      const reports = new ReplicaReports(mediator, cluster.clock);
      // The servers start as being healed (their first compare): reads count on them once live.
      while (cluster.core.dataServerStatus().some((s) => s.state !== 'live')) await cluster.clock.advance(100);
      let handedOver = 0;
      const writer = new DirectWriter({ meta: cluster.meta, targets, reports, blockSizeBytes: BS, random: seededRandom(9), clock: cluster.clock });
      const w: Writer = {
        writer,
        calls,
        reported,
        write: (ino, offset, data) =>
          cluster.clock.await(
            writer.write(ino, [{ offset, data }], undefined, () => {
              handedOver++;
              return cluster.core.fileIo.writeExtents(ino, [{ offset, data }], cluster.clock.nowMs() + DEADLINE_MS);
            }),
            DEADLINE_MS,
          ),
        handedOver: () => handedOver,
      };
      try {
        await body(h, w);
      } finally {
        reports.close();
        targets.close();
      }
    });
  }

  it('writes every replica and commits the block map without the mediator, patches included', async () => {
    await withWriter(async ({ cluster, ops, create, contents }, { writer, calls, write, handedOver }) => {
      const { ino } = await create('f');
      const model = randomBytes(2 * BS + 100);
      await write(ino, 0, model);
      const piece = randomBytes(4096);
      const attr = await write(ino, 300_000, piece);
      piece.copy(model, 300_000);
      assert.equal(attr.size, model.length);
      assert.deepEqual(await contents(ino, model.length), model);
      assert.equal(handedOver(), 0);
      assert.equal(writer.counters.written, 2);
      // Every put and patch the data servers were sent came from the mount.
      assert.equal(calls.filter((c) => c === 'put').length, 9, 'three blocks to three servers');
      assert.equal(calls.filter((c) => c === 'patch').length, 3, 'the 4 KiB write went as a patch');
      assert.equal(ops.get('put'), 9, 'the mediator sent no block');
      assert.equal(ops.get('patch'), 3, 'the mediator sent no patch');
      await cluster.clock.advance(1_000);
      for (const index of [0, 1, 2]) {
        const committed = cluster.committedVersion(ino, index)!;
        for (const server of cluster.runningServers()) assert.ok(server.disk.goodCopy(blockKey(ino, index), committed.version, committed.checksum), `${server.name} block ${index}`);
      }
    });
  });

  it('reports a replica its write missed, and the mediator repairs it', async () => {
    await withWriter(async (h, { write, reported }) => {
      const { cluster } = h;
      const { ino, bad, misses } = await patchOverBadBase(h, write);
      await cluster.clock.advance(5_000);
      assert.equal(reported.length, 1);
      assert.equal(reported[0]!.kind, 'missed');
      assert.equal(cluster.core.counters.writeMisses, misses + 1, 'counted by the mediator');
      const committed = cluster.committedVersion(ino, 0)!;
      assert.ok(bad.disk.goodCopy(blockKey(ino, 0), committed.version, committed.checksum), 'the miss was repaired');
    });
  });

  it('a write by the mount and one by the mediator into the same block at once keep both', async () => {
    await withWriter(async ({ cluster, create, contents }, { writer, write }) => {
      const { ino } = await create('f');
      const model = randomBytes(BS);
      await write(ino, 0, model);
      // Both plan from the block map (neither remembers the file), read version 1 and merge.
      writer.forget(ino);
      cluster.core.fileIo.forget(ino);
      const mine = randomBytes(5000);
      const theirs = randomBytes(7000);
      await Promise.all([
        write(ino, 1000, mine),
        cluster.clock.await(cluster.core.fileIo.write(ino, 600_000, theirs, cluster.clock.nowMs() + DEADLINE_MS), DEADLINE_MS),
      ]);
      mine.copy(model, 1000);
      theirs.copy(model, 600_000);
      assert.deepEqual(await contents(ino, BS), model);
      assert.equal(writer.fileCounters.staleCommits + cluster.core.fileIo.counters.staleCommits, 1, 'the later commit found the block changed and was planned again');
    });
  });

  it("a truncate's rewrite of the last block racing the mount's write into it keeps the write", async () => {
    await withWriter(async ({ cluster, create, contents }, { write }) => {
      const { ino } = await create('f');
      // The mount writes first: its batch of versions lies below the mediator's.
      const model = randomBytes(BS + BS / 2);
      await write(ino, 0, model);
      // Shrinking leaves bytes past the new end in block 1; growing again rewrites that block
      // cut to its visible bytes (the stale-tail fix) while the mount rewrites part of it.
      const deadline = (): number => cluster.clock.nowMs() + DEADLINE_MS;
      await cluster.clock.await(cluster.core.fileIo.setattr(ino, { size: BS + 200_000 }, deadline()), DEADLINE_MS);
      const piece = randomBytes(4096);
      await Promise.all([write(ino, BS + 100_000, piece), cluster.clock.await(cluster.core.fileIo.setattr(ino, { size: 2 * BS }, deadline()), DEADLINE_MS)]);
      const expected = Buffer.alloc(2 * BS);
      model.copy(expected, 0, 0, BS + 200_000);
      piece.copy(expected, BS + 100_000);
      assert.deepEqual(await contents(ino, 2 * BS), expected);
    });
  });

  it('hands the write to the mediator when it knows too few writable servers', async () => {
    let listed = 1;
    await withWriter(
      async ({ create, contents }, { writer, write, handedOver }) => {
        const { ino } = await create('f');
        const model = randomBytes(3000);
        await write(ino, 0, model);
        assert.equal(handedOver(), 1);
        assert.equal(writer.counters.written, 0);
        assert.deepEqual(await contents(ino, model.length), model);
        listed = 3;
      },
      () => listed,
    );
  });
});
