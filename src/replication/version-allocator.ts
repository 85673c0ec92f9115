// Hands out block versions: unique for the life of the file system, and each above the version
// of the block it replaces (the metadata server refuses a commit that would lower one), though
// the mediator and every mount each hold a batch of their own. Versions are reserved from the
// metadata server in batches (durably there), so a crash can skip versions but never reuse one.

import { limits } from '../common/limits.js';

export class VersionAllocator {
  private next = 0;
  private end = 0;
  private refill: Promise<void> | undefined;

  /** `reserve(count)` must durably reserve [first, first + count) and return first. */
  constructor(
    private readonly reserve: (count: number) => Promise<number>,
    private readonly batchSize: number = limits.versionReserveBatch,
  ) {}

  /** A version above `above` (the version of the block it replaces: a block's versions only
   * grow, whichever writer makes them). Reserved by another writer's allocator, `above` may lie
   * past this batch: then the batch's rest is skipped and a new one reserved, which starts past
   * every version reserved before it. */
  async allocate(above = 0): Promise<number> {
    while (this.next >= this.end || this.next <= above) {
      if (this.next < this.end) this.next = this.end;
      this.refill ??= this.reserve(this.batchSize)
        .then((first) => {
          this.next = first;
          this.end = first + this.batchSize;
        })
        .finally(() => {
          this.refill = undefined;
        });
      await this.refill;
    }
    return this.next++;
  }
}
