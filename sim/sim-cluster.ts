// A whole quorumfs cluster in one process on virtual time: the real MediatorCore (membership,
// replication, repair) over the real metadata store (SQLite in memory) and N simulated data
// servers running the real data-server handlers over simulated disks, connected by the simulated
// network. The cluster exposes the levers the fault schedule pulls and the ground truth the
// checker reads; it decides nothing itself.

import { asyncMetaStore } from '../src/stores/meta-store.js';
import { pino, type Logger } from 'pino';
import { seededRandom, type Random } from '../src/common/random.js';
import { limits } from '../src/common/limits.js';
import { blockKey } from '../src/common/types.js';
import { MediatorCore, type DataServerProcess, type MediatorWorld } from '../src/services/mediator-core.js';
import { registerDataHandlers } from '../src/services/data-server.js';
import { registerMetaHandlers } from '../src/services/meta-server.js';
import { SqliteMetaStore } from '../src/stores/sqlite-meta-store.js';
import type { ClosableChannel, RpcChannel } from '../src/transport/rpc-channel.js';
import { LocalRegistry } from './local-registry.js';
import { dataAccess } from '../src/protocol/data-messages.js';
import { metaAccess } from '../src/protocol/meta-messages.js';
import { SimDisk } from './sim-disk.js';
import { SimNetwork, type Endpoint, type SendObserver } from './sim-network.js';
import { VirtualClock } from './virtual-clock.js';

export interface SimClusterOptions {
  seed: number;
  servers: number;
  readQuorum: number;
  writeQuorum: number;
  spares: number;
  scrubIntervalMs: number;
  diskCapacityBytes: number;
  /** Log lines kept for a failure report. */
  logLines: number;
  /** The mediator's block cache: small or none, so reads reach the replicas. */
  blockCacheBytes: number;
  /** A bug planted on purpose, to show the checker catches it (tests only). */
  plantedBug?: PlantedBug;
}

/** Bugs the tests plant to prove the checker can fail: a metadata server that acknowledges half
 * the commits without making them; a collector that deletes the version the block map names; a
 * repair that sends bytes it did not verify; a metadata server that acknowledges holds on open
 * files without keeping them. */
export type PlantedBug = 'meta-forgets-commits' | 'delete-committed' | 'unverified-repair' | 'ignore-holds';

/** One simulated data server: its process state, its disk and its handlers. */
export class SimDataServer implements Endpoint {
  readonly registry: LocalRegistry;
  private running = true;
  private cutOff = false;
  private crashes = 0;
  private exit!: (how: string) => void;
  readonly exited: Promise<string> = new Promise((resolve) => (this.exit = resolve));
  /** Killed for good (its process exited); a rebooting server is down but not gone. */
  gone = false;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly pid: number,
    readonly disk: SimDisk,
    clock: VirtualClock,
    logger: Logger,
  ) {
    this.registry = new LocalRegistry(name, dataAccess);
    registerDataHandlers(this.registry, disk, { faultInjection: true, logger, clock, port: () => port, pid, terminate: () => this.kill('terminate') });
  }

  up(): boolean {
    return this.running;
  }

  partitioned(): boolean {
    return this.cutOff;
  }

  epoch(): number {
    return this.crashes;
  }

  /** The process dies and stays dead: the mediator sees it exit. */
  kill(how: string): void {
    if (this.gone) return;
    this.gone = true;
    this.running = false;
    this.crashes++;
    this.disk.crash();
    this.exit(how);
  }

  /** The machine loses power: down (its process does not exit: nobody sees it go) and what was
   * not written back is lost; back with its disk after `reboot()`. */
  powerLoss(): void {
    if (this.gone) return;
    this.running = false;
    this.crashes++;
    this.disk.crash();
  }

  reboot(): void {
    if (!this.gone) this.running = true;
  }

  setPartitioned(cut: boolean): void {
    this.cutOff = cut;
  }
}

/** A planted bug: binds method `name` on `registry` to `replacement`, which gets the call's
 * arguments and may run the real handler. Applies to registrations made after it. */
function plant(registry: LocalRegistry, name: string, replacement: (args: { ino: number }, real: () => unknown) => unknown): void {
  const register = registry.register.bind(registry);
  registry.register = (m, handler) =>
    register(m, m.name !== name ? handler : (((args, ctx) => replacement(args as { ino: number }, () => handler(args, ctx))) as typeof handler));
}

/** A block the block map names, with where it is. */
export interface CommittedBlock {
  key: string;
  version: number;
  checksum: string;
  ino: number;
  index: number;
}

interface SimProcess extends DataServerProcess {
  server: SimDataServer;
}

interface Incarnation {
  core: MediatorCore<SimProcess>;
  meta: RpcChannel;
  channels: ClosableChannel[];
}

export class SimCluster {
  readonly clock = new VirtualClock();
  readonly network: SimNetwork;
  readonly metaStore: SqliteMetaStore;
  /** The mediator now: a crash ends one incarnation and starts the next. */
  private incarnation: Incarnation;
  /** Mediators started so far. */
  incarnations = 0;
  /** The data server on each port now, and each port's disk (it outlives the process). */
  readonly servers = new Map<number, SimDataServer>();
  private readonly disks = new Map<number, SimDisk>();
  private readonly metaEndpoint: Endpoint;
  private readonly mediatorRandom: Random;
  readonly logs: string[] = [];
  private metaUp = true;
  private nextPid = 1000;
  private readonly diskRandom: Random;
  readonly logger: Logger;

  constructor(
    readonly options: SimClusterOptions,
    observe: SendObserver,
  ) {
    // Independent streams from one seed, so each part's draws do not shift the others'.
    this.diskRandom = seededRandom(options.seed * 7 + 1);
    this.network = new SimNetwork(this.clock, seededRandom(options.seed * 7 + 2), observe);
    this.logger = pino(
      { level: 'info', base: undefined, timestamp: false },
      {
        write: (line: string) => {
          this.logs.push(`[t=${this.clock.nowMs() - this.startMs}ms] ${line.trim()}`);
          if (this.logs.length > options.logLines) this.logs.shift();
        },
      },
    );
    this.metaStore = SqliteMetaStore.open(':memory:', { clock: () => this.clock.nowTimespec() });
    const metaRegistry = new LocalRegistry('metadata server', metaAccess);
    const store = this.metaStore;
    if (options.plantedBug === 'meta-forgets-commits') {
      const forget = seededRandom(options.seed * 7 + 4);
      plant(metaRegistry, 'commitBlocks', (a, real) => (forget() < 0.5 ? { attr: store.getattr(a.ino), orphans: [] } : real()));
    }
    if (options.plantedBug === 'ignore-holds') plant(metaRegistry, 'hold', (a) => store.getattr(a.ino));
    registerMetaHandlers(metaRegistry, asyncMetaStore(this.metaStore), 1);
    this.metaEndpoint = { name: 'meta', registry: metaRegistry, up: () => this.metaUp, partitioned: () => false, epoch: () => 0 };
    this.mediatorRandom = seededRandom(options.seed * 7 + 3);
    this.incarnation = this.newMediator();
  }

  private readonly startMs = this.clock.nowMs();

  /** A mediator process: its core and the channels it opened (they die with it). It is started
   * with the configured data and spare ports, as `quorumfs mediator` is after a restart. */
  private newMediator(): Incarnation {
    const o = this.options;
    const channels: ClosableChannel[] = [];
    const open = (channel: ClosableChannel): ClosableChannel => {
      channels.push(channel);
      return channel;
    };
    // The metadata server is on the mediator's host: its link is reliable; it may restart.
    const meta = open(this.network.channel(() => this.metaEndpoint, false, true));
    const world: MediatorWorld<SimProcess> = {
      clock: this.clock,
      random: this.mediatorRandom,
      logger: this.logger,
      meta,
      connectData: (address) => open(this.network.channel(() => this.servers.get(address.port), true, false)),
      spawnData: async (port, fresh) => this.spawn(port, fresh),
      stopData: async (p) => p.server.kill('stopped'),
    };
    const core = new MediatorCore(
      {
        readQuorum: o.readQuorum,
        writeQuorum: o.writeQuorum,
        host: 'sim',
        dataPorts: Array.from({ length: o.servers }, (_, i) => 7001 + i),
        sparePorts: Array.from({ length: o.spares }, (_, i) => 7101 + i),
        heartbeatIntervalMs: limits.heartbeatIntervalMs,
        healRateBytesPerSecond: 0,
        scrubRateBytesPerSecond: 0,
        scrubIntervalMs: o.scrubIntervalMs,
        blockCacheBytes: o.blockCacheBytes,
      },
      world,
    );
    this.incarnations++;
    return { core, meta, channels };
  }

  get core(): MediatorCore<SimProcess> {
    return this.incarnation.core;
  }

  /** The channel the mediator reaches the metadata server by (namespace calls go through it). */
  get meta(): RpcChannel {
    return this.incarnation.meta;
  }

  /** The mediator dies: its calls in flight go nowhere, its children exit with it (they watch
   * its pipe), the metadata server restarts, and a new mediator starts on the same ports and
   * directories, knowing nothing of what the old one had in memory (write misses, heals). */
  async crashMediator(): Promise<void> {
    const old = this.incarnation;
    for (const channel of old.channels) channel.close();
    await old.core.stop(); // its timers end with it; its children are killed
    for (const server of this.servers.values()) server.kill('its mediator died');
    this.metaUp = false;
    this.clock.setTimer(100, () => (this.metaUp = true));
    this.incarnation = this.newMediator();
    await this.incarnation.core.start();
  }

  private spawn(port: number, fresh: boolean): SimProcess {
    const pid = this.nextPid++;
    const kept = fresh ? undefined : this.disks.get(port);
    const disk = kept ?? new SimDisk(this.clock, this.diskRandom, this.options.diskCapacityBytes);
    this.disks.set(port, disk);
    const server = new SimDataServer(`sim:${port}`, port, pid, disk, this.clock, this.logger);
    this.servers.set(port, server);
    return {
      server,
      pid,
      exited: server.exited,
      get alive() {
        return !server.gone;
      },
      kill: () => server.kill('killed by the mediator'),
    };
  }

  async start(): Promise<void> {
    await this.clock.await(this.core.start(), 60_000);
  }

  async stop(): Promise<void> {
    await this.clock.await(this.core.stop(), 60_000);
    this.metaStore.close();
  }

  setMetaUp(up: boolean): void {
    this.metaUp = up;
  }

  /** Data servers the mediator currently counts on or writes to, by port. */
  activeServers(): SimDataServer[] {
    const { writable } = this.core.serverIds();
    return writable.map((id) => this.servers.get(Number(id.slice(id.lastIndexOf(':') + 1)))!).filter((s) => s !== undefined);
  }

  /** Servers whose process has not exited. */
  runningServers(): SimDataServer[] {
    return [...this.servers.values()].filter((s) => !s.gone);
  }

  /** The version the block map names for (ino, index) now, or undefined. */
  committedVersion(ino: number, index: number): { version: number; checksum: string } | undefined {
    try {
      const [block] = this.metaStore.getBlocks(ino, index, index + 1);
      return block ? { version: block.version, checksum: block.checksum } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether one of `servers` holds a copy of `block` whose bytes match the block map. */
  hasGoodCopy(block: CommittedBlock, servers: readonly SimDataServer[]): boolean {
    return servers.some((s) => s.disk.goodCopy(block.key, block.version, block.checksum));
  }

  /** Every block the block map names, a page at a time. */
  *committedBlocks(): Generator<CommittedBlock> {
    let afterIno = 0;
    let afterIndex = 0;
    for (;;) {
      const page = this.metaStore.listBlocks(afterIno, afterIndex, 1024);
      for (const b of page) yield { key: blockKey(b.ino, b.index), version: b.version, checksum: b.checksum, ino: b.ino, index: b.index };
      if (page.length < 1024) return;
      const last = page[page.length - 1]!;
      afterIno = last.ino;
      afterIndex = last.index;
    }
  }
}
