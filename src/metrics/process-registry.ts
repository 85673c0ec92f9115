// One Prometheus registry per quorumfs process: Node's default process metrics plus whatever the
// process's parts register, every sample labelled with the process's role. Figure families read
// values the process already keeps (the mediator's status, a data server's store) at scrape time
// instead of keeping a second set of counters; an unknown figure is no sample, never 0.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The `role` label every sample of a process carries. */
export type ProcessRole = 'mediator' | 'meta' | 'data' | 'mount';

export function createProcessRegistry(role: ProcessRole): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** One sample of a figure family; labels must come from a bounded set (never paths or inodes). */
export interface FigureSample {
  labels?: Record<string, string>;
  value: number;
}

interface FigureConfig {
  name: string;
  help: string;
  labelNames?: readonly string[];
  registry: Registry;
  /** The samples now: empty when the figure is not known (nothing is shown rather than 0). */
  read: () => FigureSample[];
}

/** A gauge whose samples are read at scrape time. */
export class FigureGauge extends Gauge<string> {
  private readonly read: () => FigureSample[];

  constructor(config: FigureConfig) {
    super({ name: config.name, help: config.help, labelNames: config.labelNames ?? [], registers: [config.registry] });
    this.read = config.read;
  }

  override async get(): ReturnType<Gauge<string>['get']> {
    const base = await super.get();
    return { ...base, values: this.read().map((s) => ({ labels: s.labels ?? {}, value: s.value })) };
  }
}

/** A counter whose samples are read at scrape time from a monotonic figure the process keeps
 * (a restart of the process, or a new leader's core, starts it again from 0: Prometheus's rate()
 * takes that as a counter reset). */
export class FigureCounter extends Counter<string> {
  private readonly read: () => FigureSample[];

  constructor(config: FigureConfig) {
    if (!config.name.endsWith('_total')) throw new Error(`counter ${config.name} must end in _total`);
    super({ name: config.name, help: config.help, labelNames: config.labelNames ?? [], registers: [config.registry] });
    this.read = config.read;
  }

  override async get(): ReturnType<Counter<string>['get']> {
    const base = await super.get();
    return { ...base, values: this.read().map((s) => ({ labels: s.labels ?? {}, value: s.value })) };
  }
}
