// Runs the scale benchmark's steps one at a time, each with a deadline: the step gets an
// AbortSignal that fires at its deadline or when the run is interrupted, and must stop its work
// on it (child processes killed, loops ended). A step's failure is recorded as one line naming
// the step and the error, never thrown past the runner, so later steps can still run.

export interface StepRecord {
  name: string;
  ok: boolean;
  seconds: number;
  deadlineS: number;
  /** One line: the step's error; or 'skipped: …' when it could not run. */
  error?: string;
}

export class StepRunner {
  readonly records: StepRecord[] = [];

  constructor(
    private readonly runSignal: AbortSignal,
    private readonly log: (message: string) => void,
  ) {}

  /** Runs `work`; its value, or undefined when it failed, timed out or was interrupted. */
  async run<T>(name: string, deadlineMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    if (this.runSignal.aborted) {
      this.skip(name, 'interrupted');
      return undefined;
    }
    const startMs = performance.now();
    const controller = new AbortController();
    const deadlineError = new Error(`no result within its deadline of ${formatSeconds(deadlineMs / 1000)}`);
    const timer = setTimeout(() => controller.abort(deadlineError), deadlineMs);
    const onInterrupt = (): void => controller.abort(new Error('interrupted'));
    this.runSignal.addEventListener('abort', onInterrupt, { once: true });
    this.log(`${name}: started (deadline ${formatSeconds(deadlineMs / 1000)})`);
    try {
      const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true }));
      const value = await Promise.race([work(controller.signal), aborted]);
      const seconds = (performance.now() - startMs) / 1000;
      this.records.push({ name, ok: true, seconds, deadlineS: deadlineMs / 1000 });
      this.log(`${name}: done in ${formatSeconds(seconds)}`);
      return value;
    } catch (err) {
      const seconds = (performance.now() - startMs) / 1000;
      const message = oneLine(err);
      this.records.push({ name, ok: false, seconds, deadlineS: deadlineMs / 1000, error: message });
      this.log(`${name}: FAILED after ${formatSeconds(seconds)}: ${message}`);
      controller.abort(new Error(`step failed: ${message}`)); // stop whatever the step still runs
      return undefined;
    } finally {
      clearTimeout(timer);
      this.runSignal.removeEventListener('abort', onInterrupt);
    }
  }

  skip(name: string, reason: string): void {
    const why = this.runSignal.aborted ? 'interrupted' : reason;
    this.records.push({ name, ok: false, seconds: 0, deadlineS: 0, error: `skipped: ${why}` });
    this.log(`${name}: skipped (${why})`);
  }

  get allOk(): boolean {
    return this.records.every((r) => r.ok);
  }
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ').slice(0, 600);
}

function formatSeconds(seconds: number): string {
  return seconds >= 100 ? `${seconds.toFixed(0)} s` : `${seconds.toFixed(1)} s`;
}

/** Resolves after `ms`, or rejects with the signal's reason when it fires first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
