// Hands out block versions: unique and increasing for the life of the file system. Versions are
// reserved from the metadata server in batches (durably there), so a crash can skip versions
// but never reuse one.

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

  async allocate(): Promise<number> {
    while (this.next >= this.end) {
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
