// Directories whose every name this mount knows, so that a lookup of a name that is not there is
// answered here instead of by the metadata server. The kernel looks a name up before every
// create, mkdir, symlink, link and rename onto a new name; in a directory this mount made and
// fills (an untar, a build, a job's output) each of those lookups was a round trip that found
// nothing.
//
// A directory becomes known when this mount creates it (it is empty then) and is kept up to date
// by this mount's own changes. Anything that makes its contents uncertain forgets it: a change
// another client made (the metadata server reports it before it answers that client), a change
// of ours that failed or whose outcome is unknown, a lost connection (reports may have been
// missed), the kernel forgetting the inode, and the memory bound. An absence is only vouched for
// while the metadata server has answered a call sent within the last `ttlMs`: every report it
// sent before taking that call arrived before its answer, on the same connection, so what is
// answered here is no staler than the kernel's own negative entries (the entry timeout).

import { checkName } from '../stores/meta-validate.js';

interface KnownNamesOptions {
  /** How long after a call the metadata server answered its reports still count as complete. */
  ttlMs: number;
  /** At most this many names are kept over all directories; past it a directory is forgotten. */
  maxNames: number;
  nowMs?: () => number;
}

export class KnownNames {
  private readonly dirs = new Map<number, Set<string>>();
  private names = 0;
  /** When the latest call the metadata server answered was sent. */
  private answeredSentAtMs = Number.NEGATIVE_INFINITY;
  private readonly nowMs: () => number;

  constructor(private readonly options: KnownNamesOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** How many names are held (for tests and the memory bound). */
  get size(): number {
    return this.names;
  }

  /** The metadata server answered a call sent at `sentAtMs`. */
  answered(sentAtMs: number): void {
    if (sentAtMs > this.answeredSentAtMs) this.answeredSentAtMs = sentAtMs;
  }

  /** True only when `name` is certainly not in `dir`. */
  isAbsent(dir: number, name: string): boolean {
    const names = this.dirs.get(dir);
    if (!names || name === '.' || name === '..' || !isValidName(name)) return false;
    if (this.nowMs() - this.answeredSentAtMs > this.options.ttlMs) return false;
    return !names.has(name);
  }

  /** This mount made `dir`: it has no names yet. */
  createdEmpty(dir: number): void {
    this.forget(dir);
    if (this.names < this.options.maxNames) this.dirs.set(dir, new Set());
  }

  /** This mount added `name` to `dir`. */
  added(dir: number, name: string): void {
    const names = this.dirs.get(dir);
    if (!names || names.has(name)) return;
    if (this.names >= this.options.maxNames) {
      this.forget(dir);
      return;
    }
    names.add(name);
    this.names++;
  }

  /** This mount removed `name` from `dir`. */
  removed(dir: number, name: string): void {
    const names = this.dirs.get(dir);
    if (names?.delete(name)) this.names--;
  }

  /** What this mount knows of `dir` may be wrong now. */
  forget(dir: number): void {
    const names = this.dirs.get(dir);
    if (!names) return;
    this.names -= names.size;
    this.dirs.delete(dir);
  }

  /** Reports may have been missed (the connection to the metadata server broke). */
  forgetAll(): void {
    this.dirs.clear();
    this.names = 0;
  }
}

/** A name the metadata store would look up; any other gets its error from there (NAME_TOO_LONG). */
function isValidName(name: string): boolean {
  try {
    checkName(name);
    return true;
  } catch {
    return false;
  }
}
