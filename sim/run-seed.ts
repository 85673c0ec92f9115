// One simulation run, fixed by its seed: a cluster (N, Qr, Qw drawn from the seed), clients that
// issue random file operations and check every answer against a reference model, and a fault
// schedule that kills, powers off and partitions data servers, rots and tears blocks, fails disk
// writes, restarts the metadata server and drops, delays, duplicates and garbles messages. Then
// faults stop and full redundancy must come back within a bound. Invariants (sim/README in
// docs/simulation.md): reads return what the model allows; no acknowledged write is lost while
// a good replica of it survives; every put of a block version carries the bytes of its first
// write (so no repair copies an unverified replica, and no version is reused); no delete removes
// the version the block map names; redundancy returns after faults stop.

import { checksumOf } from '../src/common/checksum.js';
import { codeOf, messageOf } from '../src/common/errors.js';
import { limits } from '../src/common/limits.js';
import { randomInt, seededRandom, type Random } from '../src/common/random.js';
import { blockKey, parseBlockKey } from '../src/common/types.js';
import { metaMethods, namespaceMethods } from '../src/protocol/meta-messages.js';
import { SimCluster, type PlantedBug, type SimDataServer } from './sim-cluster.js';
import type { NetworkFaults } from './sim-network.js';
import { perfectNetwork } from './sim-network.js';
import { perfectDisk } from './sim-disk.js';

export interface SeedOptions {
  /** File operations in all (spread over the clients). */
  ticks: number;
  /** A bug to plant, to show the checker catches it (tests only). */
  plantedBug?: PlantedBug;
}

export const defaultSeedOptions: SeedOptions = { ticks: 120 };

/** An invariant that did not hold. */
export class Violation extends Error {
  constructor(
    readonly invariant: string,
    message: string,
  ) {
    super(`${invariant}: ${message}`);
    this.name = 'Violation';
  }
}

export interface SeedReport {
  seed: number;
  servers: number;
  readQuorum: number;
  writeQuorum: number;
  ops: number;
  failedOps: number;
  reads: number;
  /** Files held open across their unlink, read back later. */
  openAcrossUnlink: number;
  faults: Record<string, number>;
  /** Committed blocks with no good copy left on any server (destroyed by faults beyond what
   * the quorum can mask): allowed, and counted. */
  lostBlocks: number;
  recoveryMs: number;
  virtualMs: number;
  network: { messages: number; dropped: number; duplicated: number; flipped: number; refused: number };
}

const CLIENTS = 3;
const FILES_PER_CLIENT = 2;
const OP_DEADLINE_MS = 15_000;
const SCRUB_INTERVAL_MS = 20_000;
/** After faults stop, every block must be back on every server within this much virtual time:
 * failure detection and a heal, two scrub passes (one to find rot, one of slack), the orphan age
 * (a disk filled with orphans, a stale one back after a mediator restart, frees space only once
 * the scrubber may collect them) and the longest wait between heal attempts. */
const RECOVERY_BOUND_MS = Number(process.env['QFS_SIM_RECOVERY_MS'] ?? limits.orphanMinAgeMs + 2 * SCRUB_INTERVAL_MS + limits.healRetryMaxDelayMs + 30_000);
const ROOT = 1;
const CALLER = { uid: 0, gid: 0 };

interface ModelFile {
  name: string;
  ino: number;
  /** The contents the file may have: one when certain; more after an operation that failed
   * (it may or may not have happened) until a read tells which. */
  candidates: Buffer[];
  /** Every contents the file may have had, in order: what a read running beside its writer may
   * see (a commit is atomic, so a read sees one of these, never a mix). */
  states: Buffer[];
}

export async function runSeed(seed: number, options: SeedOptions = defaultSeedOptions): Promise<SeedReport> {
  const random = seededRandom(seed);
  const servers = [3, 4, 5][randomInt(random, 3)]!;
  const writeQuorum = Math.floor(servers / 2) + 1;
  const readQuorum = servers - writeQuorum + 1;
  // No cache in most runs, so reads go to the replicas; a small one in the others.
  const blockCacheBytes = random() < 0.7 ? 0 : 256 * 1024;
  // Small disks in some runs, so writes, heals and repairs meet a full disk.
  const diskCapacityBytes = random() < 0.25 ? (4 + randomInt(random, 12)) * 1024 * 1024 : 1 << 30;
  const faults: Record<string, number> = {};
  const count = (what: string): void => void (faults[what] = (faults[what] ?? 0) + 1);
  const firstWrite = new Map<string, string>();
  let violation: Violation | undefined;
  const fail = (v: Violation): void => {
    violation ??= v;
  };

  // Checks on every message as it is sent, before any fault touches it.
  const cluster: SimCluster = new SimCluster(
    // Spare ports: every kill, and every outage past failure detection, takes one; a long run
    // must not run out (the cluster would then rightly serve with fewer servers).
    { seed, servers, readQuorum, writeQuorum, spares: Math.max(64, options.ticks), scrubIntervalMs: SCRUB_INTERVAL_MS, diskCapacityBytes, logLines: 60, blockCacheBytes, plantedBug: options.plantedBug },
    (to, op, args, payload) => {
      const a = args as { key?: string; version?: number; checksum?: string };
      if (op === 'put' && a.key !== undefined && a.version !== undefined && a.checksum !== undefined) {
        const id = `${a.key}@${a.version}`;
        const actual = checksumOf(payload);
        if (actual !== a.checksum) fail(new Violation('verified-copies-only', `a put of ${id} to ${to} carried bytes with checksum ${actual}, not the ${a.checksum} it claimed`));
        const first = firstWrite.get(id);
        if (first === undefined) firstWrite.set(id, a.checksum);
        else if (first !== a.checksum) fail(new Violation('verified-copies-only', `a put of ${id} to ${to} carried ${a.checksum}; its first write was ${first} (a version reused, or a copy not verified)`));
      }
      if ((op === 'delete' || op === 'deleteOlderThan') && a.key !== undefined) {
        const parsed = parseBlockKey(a.key);
        const committed = parsed && cluster.committedVersion(parsed.ino, parsed.index);
        if (committed) {
          const removes = op === 'delete' ? a.version === undefined || a.version === committed.version : committed.version < a.version!;
          if (removes) fail(new Violation('no-committed-delete', `${op} ${a.key}${a.version === undefined ? '' : `@${a.version}`} to ${to} would remove v${committed.version}, which the block map names`));
        }
      }
    },
  );
  const clock = cluster.clock;
  if (options.plantedBug === 'unverified-repair') {
    // Every put after a version's first (a repair or a heal) sends garbled bytes.
    cluster.network.tamper = (op, args, payload) => {
      const a = args as { key?: string; version?: number };
      return op === 'put' && firstWrite.has(`${a.key}@${a.version}`) && payload.length > 0 ? Buffer.concat([payload.subarray(1), Buffer.from([payload[0]! ^ 1])]) : payload;
    };
  }
  const report: SeedReport = { seed, servers, readQuorum, writeQuorum, ops: 0, failedOps: 0, reads: 0, openAcrossUnlink: 0, faults, lostBlocks: 0, recoveryMs: 0, virtualMs: 0, network: cluster.network.stats };
  const startMs = clock.nowMs();
  try {
    await cluster.start();
    const files = await clock.await(createFiles(cluster), 60_000);
    const check = (): void => {
      if (violation) throw violation;
    };

    // The workload and the fault schedule run side by side on virtual time.
    let workloadDone = false;
    const opsPerClient = Math.ceil(options.ticks / CLIENTS);
    const clients = Array.from({ length: CLIENTS }, (_, c) =>
      runClient({
        cluster,
        index: c,
        random: seededRandom(seed * 31 + c),
        files: files.slice(c * FILES_PER_CLIENT, (c + 1) * FILES_PER_CLIENT),
        ops: opsPerClient,
        report,
        fail,
        plantedBug: options.plantedBug,
      }),
    );
    const operator = runOperator(cluster, seededRandom(seed * 31 + CLIENTS + 1), () => workloadDone || violation !== undefined);
    const observer = runObserver(cluster, seededRandom(seed * 31 + CLIENTS), files, () => workloadDone || violation !== undefined, report, fail);
    const schedule = runFaults(cluster, seededRandom(seed * 17 + 5), () => workloadDone || violation !== undefined, count, writeQuorum);
    await clock.await(
      Promise.all(clients).finally(() => (workloadDone = true)),
      options.ticks * OP_DEADLINE_MS * 4,
    );
    await clock.await(Promise.all([schedule, observer, operator]), 120_000);
    check();

    // Faults stop: everything comes back, and full redundancy must follow within the bound.
    endFaults(cluster);
    const recoveryStart = clock.nowMs();
    for (;;) {
      const state = redundancyState(cluster, servers);
      if (state.full) {
        report.lostBlocks = state.lost;
        break;
      }
      if (clock.nowMs() - recoveryStart > RECOVERY_BOUND_MS) {
        throw new Violation('redundancy-returns', `${RECOVERY_BOUND_MS} ms after faults stopped: ${state.why}`);
      }
      await clock.advance(1_000);
      check();
    }
    report.recoveryMs = clock.nowMs() - recoveryStart;

    // Every file reads back as the model says, unless faults destroyed every copy of a block.
    for (const file of files) {
      const running = cluster.runningServers();
      const lost = [...cluster.committedBlocks()].some((b) => b.ino === file.ino && !cluster.hasGoodCopy(b, running));
      const maxLength = Math.max(...file.candidates.map((c) => c.length));
      try {
        const { data } = await clock.await(cluster.core.fileIo.read(file.ino, 0, maxLength + 1, clock.nowMs() + OP_DEADLINE_MS), OP_DEADLINE_MS * 2);
        if (!file.candidates.some((c) => c.equals(data))) {
          throw new Violation('reads-match-model', `after recovery ${file.name} reads ${describe(data)}; the model allows ${file.candidates.map(describe).join(' or ')}`);
        }
      } catch (err) {
        if (err instanceof Violation) throw err;
        if (!lost) throw new Violation('no-acknowledged-write-lost', `after recovery ${file.name} cannot be read (${messageOf(err)}) though every block has a good copy`);
      }
    }
    check();
    report.virtualMs = clock.nowMs() - startMs;
    return report;
  } catch (err) {
    const v = err instanceof Violation ? err : (violation ?? new Violation('harness', messageOf(err)));
    throw Object.assign(v, { seed, logs: cluster.logs.slice() });
  } finally {
    await cluster.stop().catch(() => undefined);
  }
}

async function createFiles(cluster: SimCluster): Promise<ModelFile[]> {
  const files: ModelFile[] = [];
  for (let i = 0; i < CLIENTS * FILES_PER_CLIENT; i++) {
    const name = `f${i}`;
    const attr = await cluster.meta.call(namespaceMethods.create, { parent: ROOT, name, mode: 0o100644, caller: CALLER, exclusive: true });
    cluster.core.fileIo.created(attr); // as the mediator's forwarding of create does
    files.push({ name, ino: attr.ino, candidates: [Buffer.alloc(0)], states: [Buffer.alloc(0)] });
  }
  return files;
}

/** One client: a sequence of operations on its own files, each checked against the model. */
interface Client {
  cluster: SimCluster;
  index: number;
  random: Random;
  files: ModelFile[];
  ops: number;
  report: SeedReport;
  fail: (v: Violation) => void;
  plantedBug: PlantedBug | undefined;
}

async function runClient(client: Client): Promise<void> {
  const openAfterUnlink: Promise<void>[] = [];
  try {
    await runOperations(client, openAfterUnlink);
  } finally {
    await Promise.all(openAfterUnlink);
  }
}

/** A file held open across its unlink: after `holdMs` it must still read back whole (retried a
 * few times, faults may be on), then it is closed and its blocks become orphans. */
async function keepOpen(cluster: SimCluster, session: string, ino: number, name: string, contents: Buffer, holdMs: number, fail: (v: Violation) => void): Promise<void> {
  const clock = cluster.clock;
  await clock.sleep(holdMs);
  let lastError = '';
  // A failed read is excused if, as it failed, a block of the file had no good copy on any server
  // the mediator could use (taking writes, up, reachable): faults beyond what a quorum masks. A
  // copy on the disk of a server the mediator has replaced does not count (seed 3686: it came
  // back when a mediator restart reused that directory, after the reads had failed).
  let excused = false;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const { data } = await cluster.core.fileIo.read(ino, 0, contents.length + 1, clock.nowMs() + OP_DEADLINE_MS);
      if (!data.equals(contents)) fail(new Violation('open-files-survive-unlink', `${name} (inode ${ino}), open since before its unlink ${holdMs} ms ago, reads ${describe(data)}, not ${describe(contents)}`));
      lastError = '';
      break;
    } catch (err) {
      lastError = messageOf(err);
      if (!usableCopies(cluster, ino)) excused = true;
      await clock.sleep(5_000);
    }
  }
  if (lastError !== '' && !excused) {
    fail(new Violation('open-files-survive-unlink', `${name} (inode ${ino}), open across its unlink, cannot be read (${lastError}) though each of its blocks had a good copy on a server in use`));
  }
  for (;;) {
    try {
      const { orphans } = await cluster.meta.call(metaMethods.release, { session, ino }, { timeoutMs: OP_DEADLINE_MS });
      cluster.core.deleteOrphans(orphans);
      return;
    } catch {
      await clock.sleep(1_000); // the metadata server restarting: close again
    }
  }
}

/** Whether every block the block map names for `ino` has a good copy on a server the mediator
 * can use now: one that takes writes, is up and is not cut off. */
function usableCopies(cluster: SimCluster, ino: number): boolean {
  const usable = cluster.activeServers().filter((s) => s.up() && !s.partitioned());
  return [...cluster.committedBlocks()].every((b) => b.ino !== ino || cluster.hasGoodCopy(b, usable));
}

async function runOperations(client: Client, openAfterUnlink: Promise<void>[]): Promise<void> {
  const { cluster, index: clientIndex, random, files, ops, report, fail, plantedBug } = client;
  const clock = cluster.clock;
  const bs = limits.blockSizeBytes;
  for (let n = 0; n < ops; n++) {
    await clock.sleep(randomInt(random, 400)); // think time: faults land between and during operations
    const file = files[randomInt(random, files.length)]!;
    report.ops++;
    const deadline = (): number => clock.nowMs() + OP_DEADLINE_MS;
    if (file.candidates.length > 1 && !(await resolve(cluster, file, fail))) continue;
    const current = file.candidates[0]!;
    const roll = random();
    try {
      if (roll < 0.4) {
        const crossing = random() < 0.05;
        const offset = crossing ? bs - randomInt(random, 2_000) : randomInt(random, Math.min(current.length + 2_000, 40_000));
        const data = randomBytes(random, 1 + randomInt(random, crossing ? 4_000 : 9_000));
        const after = withWrite(current, offset, data);
        file.candidates = [current, after];
        file.states.push(after);
        await cluster.core.fileIo.write(file.ino, offset, data, deadline());
        file.candidates = [after];
        if (plantedBug === 'delete-committed') {
          // A collector with an off-by-one: it deletes the version just committed.
          const committed = cluster.committedVersion(file.ino, Math.floor(offset / bs));
          if (committed) void cluster.core.replicator.deleteVersions(blockKey(file.ino, Math.floor(offset / bs)), [committed.version], deadline());
        }
      } else if (roll < 0.8) {
        report.reads++;
        const offset = randomInt(random, current.length + 100);
        const size = 1 + randomInt(random, 20_000);
        const { data } = await cluster.core.fileIo.read(file.ino, offset, size, deadline());
        const allowed = file.candidates.filter((c) => c.subarray(offset, offset + size).equals(data));
        if (allowed.length === 0) {
          fail(new Violation('reads-match-model', `${file.name} [${offset}, +${size}) read ${describe(data)}; the model has ${describe(current.subarray(offset, offset + size))}`));
          return;
        }
      } else if (roll < 0.92) {
        const size = randomInt(random, current.length + 3_000);
        const after = withSize(current, size);
        file.candidates = [current, after];
        file.states.push(after);
        await cluster.core.fileIo.setattr(file.ino, { size }, deadline());
        file.candidates = [after];
      } else {
        // Unlink and create again: the old blocks become orphans, deleted after the grace; or,
        // half the time, the old file is open (held) when it is unlinked, and must read back
        // whole until it is closed, however long that is (scrub passes run meanwhile).
        if (random() < 0.5 && file.candidates.length === 1) {
          const session = `sim-client-${clientIndex}`;
          await cluster.meta.call(metaMethods.hold, { session, ino: file.ino });
          report.openAcrossUnlink++;
          openAfterUnlink.push(keepOpen(cluster, session, file.ino, file.name, current, randomInt(random, 100_000), fail));
        }
        const removed = await cluster.meta.call(namespaceMethods.unlink, { parent: ROOT, name: file.name });
        cluster.core.deleteOrphans(removed.orphans);
        const attr = await cluster.meta.call(namespaceMethods.create, { parent: ROOT, name: file.name, mode: 0o100644, caller: CALLER, exclusive: true });
        cluster.core.fileIo.created(attr); // as the mediator's forwarding of create does
        file.ino = attr.ino;
        file.candidates = [Buffer.alloc(0)];
        file.states.push(Buffer.alloc(0));
      }
    } catch (err) {
      if (isHarnessError(err)) throw err;
      report.failedOps++;
      // A failed write or truncate may or may not have happened: the next read decides.
    }
  }
}

/** A client that reads the other clients' files while they change them: each read must return
 * a range of one of the contents the file had while the read ran. */
async function runObserver(cluster: SimCluster, random: Random, files: ModelFile[], done: () => boolean, report: SeedReport, fail: (v: Violation) => void): Promise<void> {
  const clock = cluster.clock;
  while (!done()) {
    await clock.sleep(randomInt(random, 200));
    const file = files[randomInt(random, files.length)]!;
    const ino = file.ino;
    const allowed = [...file.candidates];
    const seen = file.states.length;
    const offset = randomInt(random, Math.max(...allowed.map((c) => c.length)) + 100);
    const size = 1 + randomInt(random, 20_000);
    let data: Buffer;
    try {
      report.reads++;
      data = (await cluster.core.fileIo.read(ino, offset, size, clock.nowMs() + OP_DEADLINE_MS)).data;
    } catch {
      continue; // faults, or the file was unlinked meanwhile
    }
    if (file.ino !== ino) continue; // unlinked and created again: the old inode's history is gone
    allowed.push(...file.states.slice(seen));
    if (!allowed.some((c) => c.subarray(offset, offset + size).equals(data))) {
      fail(new Violation('reads-match-model', `a concurrent read of ${file.name} [${offset}, +${size}) returned ${describe(data)}, matching none of the ${allowed.length} contents it had meanwhile`));
      return;
    }
  }
}

/** An operator who now and then asks for a heal or a scrub pass and looks at status, as the
 * command line does, while everything else goes on. */
async function runOperator(cluster: SimCluster, random: Random, done: () => boolean): Promise<void> {
  const clock = cluster.clock;
  while (!done()) {
    await clock.sleep(2_000 + randomInt(random, 8_000));
    if (done()) break;
    const core = cluster.core;
    const roll = random();
    if (roll < 0.4) void core.redundancy.healAll();
    else if (roll < 0.8) void core.redundancy.scrub();
    core.dataServerStatus();
    core.redundancy.summary(null);
  }
}

/** Reads a file whose contents are uncertain and keeps the candidate it matches; false if the
 * read failed (it stays uncertain). */
async function resolve(cluster: SimCluster, file: ModelFile, fail: (v: Violation) => void): Promise<boolean> {
  const clock = cluster.clock;
  const maxLength = Math.max(...file.candidates.map((c) => c.length));
  try {
    const { data } = await cluster.core.fileIo.read(file.ino, 0, maxLength + 1, clock.nowMs() + OP_DEADLINE_MS);
    const match = file.candidates.find((c) => c.equals(data));
    if (!match) {
      fail(new Violation('reads-match-model', `${file.name} reads ${describe(data)}; after a failed operation the model allows ${file.candidates.map(describe).join(' or ')}`));
      return false;
    }
    file.candidates = [match];
    return true;
  } catch {
    return false;
  }
}

function isHarnessError(err: unknown): boolean {
  return codeOf(err) === 'INTERNAL' && !/EIO \(simulated\)/.test(messageOf(err));
}

/** The fault schedule: until the workload ends, a fault every so often, drawn from `random`.
 * At most N - Qw data servers are impaired at once (killed and not yet replaced, powered off,
 * or cut off), so writes can still reach a quorum; rot, torn and failed writes, and message
 * faults are on top of that. */
async function runFaults(cluster: SimCluster, random: Random, done: () => boolean, count: (what: string) => void, writeQuorum: number): Promise<void> {
  const clock = cluster.clock;
  const maxImpaired = cluster.options.servers - writeQuorum;
  const impaired = new Set<SimDataServer>();
  cluster.network.faults = randomNetworkFaults(random);
  for (const s of cluster.runningServers()) s.disk.faults = { failWrite: random() * 0.02, tearWrite: random() * 0.003, maxLatencyMs: randomInt(random, 6) };
  const writeBack = (): void => {
    for (const s of cluster.runningServers()) s.disk.writeBack();
  };
  let mediatorCrashes = 0;
  while (!done()) {
    await clock.sleep(100 + randomInt(random, 1_000));
    if (done()) break;
    writeBack();
    if (random() < 0.03 && mediatorCrashes < 2) {
      mediatorCrashes++;
      count('mediatorCrash');
      impaired.clear();
      await cluster.crashMediator();
      continue;
    }
    const { live } = cluster.core.serverIds();
    const down = cluster.options.servers - live.length;
    const candidates = cluster.activeServers().filter((s) => !impaired.has(s));
    const canImpair = down + impaired.size < maxImpaired && candidates.length > 0;
    const roll = random();
    if (roll < 0.45) {
      // Impair a server: kill it, cut its power, or cut it off (none when enough are impaired).
      if (!canImpair) continue;
      const victim = candidates[randomInt(random, candidates.length)]!;
      if (roll < 0.12) {
        victim.kill('killed (simulated crash)');
        count('kill');
      } else if (roll < 0.27) {
        impaired.add(victim);
        victim.powerLoss();
        count('powerLoss');
        clock.setTimer(200 + randomInt(random, 3_000), () => {
          victim.reboot();
          impaired.delete(victim);
        });
      } else {
        impaired.add(victim);
        victim.setPartitioned(true);
        count('partition');
        clock.setTimer(300 + randomInt(random, 5_000), () => {
          victim.setPartitioned(false);
          impaired.delete(victim);
        });
      }
    } else if (roll < 0.51) {
      const running = cluster.runningServers();
      const victim = running[randomInt(random, running.length)];
      if (victim?.disk.rot()) count('rot');
    } else if (roll < 0.68) {
      cluster.setMetaUp(false);
      count('metaRestart');
      clock.setTimer(50 + randomInt(random, 450), () => cluster.setMetaUp(true));
    } else if (roll < 0.78) {
      cluster.network.faults = randomNetworkFaults(random);
      count('networkChange');
    } else if (roll < 0.88) {
      for (const s of cluster.runningServers()) s.disk.faults = { failWrite: random() * 0.02, tearWrite: random() * 0.003, maxLatencyMs: randomInt(random, 6) };
      count('diskChange');
    } // else a quiet spell
  }
  // Impairments still pending end when their timers fire; endFaults() ends them at once.
}

function randomNetworkFaults(random: Random): NetworkFaults {
  return {
    dropRequest: random() * 0.03,
    dropReply: random() * 0.03,
    duplicateRequest: random() * 0.05,
    flipPayloadBit: random() * 0.02,
    maxDelayMs: randomInt(random, 20),
    slow: random() * 0.02,
    slowDelayMs: 2_000,
  };
}

/** Faults stop: the network and disks behave, every server not killed is up and reachable. */
function endFaults(cluster: SimCluster): void {
  cluster.network.faults = perfectNetwork;
  cluster.setMetaUp(true);
  for (const s of cluster.runningServers()) {
    s.disk.faults = perfectDisk;
    s.setPartitioned(false);
    s.reboot();
  }
}

/** Ground truth: every server the cluster is meant to have takes writes, each holds a good copy
 * of every committed block that still has a good copy anywhere, and all are live (reads count
 * on them) unless a block was lost: a heal cannot finish a copy nobody has, so the server it
 * fills stays healing (and says why in status). */
function redundancyState(cluster: SimCluster, servers: number): { full: boolean; lost: number; why: string } {
  const { live, writable } = cluster.core.serverIds();
  if (writable.length !== servers) return { full: false, lost: 0, why: `${writable.length} of ${servers} data servers take writes` };
  const active = cluster.activeServers();
  const running = cluster.runningServers();
  let lost = 0;
  for (const b of cluster.committedBlocks()) {
    const lacking = active.filter((s) => !cluster.hasGoodCopy(b, [s]));
    if (lacking.length === 0) continue;
    if (!cluster.hasGoodCopy(b, running)) {
      lost++;
      continue;
    }
    return { full: false, lost, why: `${b.key}@${b.version} has no good copy on ${lacking.map((s) => s.name).join(', ')}` };
  }
  if (lost === 0 && live.length !== servers) return { full: false, lost, why: `every block is on every server but only ${live.length} of ${servers} are live` };
  return { full: true, lost, why: '' };
}

function withWrite(current: Buffer, offset: number, data: Buffer): Buffer {
  const out = Buffer.alloc(Math.max(current.length, offset + data.length));
  current.copy(out);
  data.copy(out, offset);
  return out;
}

function withSize(current: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  current.copy(out, 0, 0, Math.min(size, current.length));
  return out;
}

function randomBytes(random: Random, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = randomInt(random, 256);
  return out;
}

function describe(data: Buffer): string {
  return `${data.length} bytes (${checksumOf(data).slice(7, 19)})`;
}
