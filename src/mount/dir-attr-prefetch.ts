// Fetches a directory's attributes as soon as this mount has changed it. The kernel drops its
// cached attributes of a directory whose entries changed, and with default_permissions the next
// path walk through it waits for a GETATTR; fetched right after the change, while the
// application is still busy with the file it made, that reply is usually ready when the kernel
// asks. A fetched value is used at most once, only within `ttlMs`, and is forgotten when the
// directory is about to change again (here or, by the mediator's report, elsewhere).

import { limits } from '../common/limits.js';
import type { InodeAttr } from '../common/types.js';

interface Prefetch {
  untilMs: number;
  attr: Promise<InodeAttr | undefined>;
}

export class DirAttrPrefetch {
  private readonly pending = new Map<number, Prefetch>();

  constructor(
    private readonly fetch: (ino: number) => Promise<InodeAttr>,
    private readonly ttlMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** The directory is about to change, or changed elsewhere: what was fetched is stale. */
  forget(ino: number): void {
    this.pending.delete(ino);
  }

  forgetAll(): void {
    this.pending.clear();
  }

  /** The directory just changed here: fetch its attributes now. */
  start(ino: number): void {
    if (this.ttlMs <= 0) return;
    this.pending.delete(ino);
    if (this.pending.size >= limits.maxDirAttrPrefetches) this.pending.delete(this.pending.keys().next().value!);
    const attr = this.fetch(ino).catch(() => undefined); // the kernel's own GETATTR will report it
    this.pending.set(ino, { untilMs: this.nowMs() + this.ttlMs, attr });
  }

  /** The fetched attributes (once), or undefined when there are none fresh. */
  async take(ino: number): Promise<InodeAttr | undefined> {
    const prefetch = this.pending.get(ino);
    if (!prefetch) return undefined;
    this.pending.delete(ino);
    if (prefetch.untilMs <= this.nowMs()) return undefined;
    return prefetch.attr;
  }
}
