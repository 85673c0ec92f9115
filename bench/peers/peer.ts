// What the benchmark needs from a peer file system (GlusterFS, MooseFS): a mounted directory
// and a stop() that removes everything start() created. Peers are started once per bench
// invocation; each run works in a fresh sub-directory of `dir`.

export interface Peer {
  /** The system's name, for logs. */
  readonly name: string;
  /** The mount point; valid once start() resolved. */
  readonly dir: string;
  /**
   * Installs what is missing, starts the daemons, mounts. On failure it has already undone what
   * it did and throws a one-line error naming the step. Throws if stop() was called first.
   */
  start(): Promise<void>;
  /**
   * Unmounts, stops every process it started (by pid) and deletes its files. Safe at any time,
   * also during or after a failed start(); idempotent. Throws one error listing failed steps.
   */
  stop(): Promise<void>;
}

/** Where progress messages go (the runner's stderr log). */
export type PeerLog = (message: string) => void;

/**
 * The start/stop bookkeeping both peers share: stop() may come at any moment (a signal during
 * start), so it waits for the step in flight, makes start() give up at its next checkpoint and
 * then tears down whatever exists. Subclasses say how to set up and tear down.
 */
export abstract class PeerLifecycle implements Peer {
  abstract readonly name: string;
  abstract readonly dir: string;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(protected readonly log: PeerLog) {}

  /** Everything start() does; call checkpoint() between steps. */
  protected abstract setUp(): Promise<void>;
  /** Undoes what exists of setUp's work, whichever step it reached; throws listing failures. */
  protected abstract tearDown(): Promise<void>;

  /** Throws when stop() has been called, so that a stopping start() goes no further. */
  protected checkpoint(step: string): void {
    if (this.stopping) throw new Error(`${step}: stopped before this step`);
  }

  async start(): Promise<void> {
    if (this.starting || this.stopping) throw new Error(`${this.name}: start() may be called once, before stop()`);
    const startMs = performance.now();
    this.starting = this.setUp();
    try {
      await this.starting;
    } catch (err) {
      await this.stop().catch((e: unknown) => this.log(`${this.name}: ${(e as Error).message}`));
      throw new Error(`${this.name} ${(err as Error).message}`);
    }
    this.log(`${this.name} started at ${this.dir} in ${((performance.now() - startMs) / 1000).toFixed(1)} s`);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => undefined);
      await this.tearDown();
    })();
    return this.stopping;
  }
}
