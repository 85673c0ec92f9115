// Write-back buffering of one inode's dirty data in the mount. Sequential writes are gathered
// into extents of up to limits.maxPayloadBytes, and a full extent is sent at once, with a bound
// on sends in flight and on the buffer space held, so memory stays bounded; anything else waits
// for flush(). Scattered writes are sent in batches (several extents in one call, by offset,
// within the limits of one write call), which the mediator applies as one change with one
// read-modify-write per block, as a page cache coalesces dirty pages. Buffered extents never
// overlap (a write inside one extent changes it in place; any other overlapping write flushes
// first), so a batch may hold any of them; sends of one inode leave in order on one connection
// and the mediator applies them in arrival order.
// A failed send is remembered and reported by the next flush (close, fsync), as local file
// systems report write-back errors; the data of a failed send is dropped, never retried blindly.

import { limits } from '../common/limits.js';
import type { Timespec } from '../common/types.js';

interface Extent {
  offset: number;
  data: Buffer;
  /** Bytes of `data` in use. */
  length: number;
}

/** Sends extents as one change: resolves once it is committed. */
type SendExtents = (extents: Array<{ offset: number; data: Buffer }>, time: Timespec) => Promise<void>;

export class WriteBackBuffer {
  private extents: Extent[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  /** End of the furthest byte written through this buffer, committed or not. */
  private endBytes = 0;
  private lastWriteTime: Timespec | undefined;

  constructor(
    private readonly send: SendExtents,
    private readonly extentBytes: number = limits.maxPayloadBytes,
    private readonly maxBufferedBytes: number = limits.maxWriteBackBufferedExtents * extentBytes,
    private readonly blockSizeBytes: number = limits.blockSizeBytes,
  ) {}

  /** True while there is data not yet committed (buffered or in flight). */
  get dirty(): boolean {
    return this.extents.length > 0 || this.inFlight.size > 0;
  }

  /** Size the file has from this buffer's point of view, and when it was last written. */
  get pending(): { endBytes: number; time: Timespec | undefined } {
    return { endBytes: this.endBytes, time: this.lastWriteTime };
  }

  /** Buffers `data` (copied) at `offset`. May wait for earlier sends to make room. */
  async write(offset: number, data: Uint8Array, time: Timespec): Promise<void> {
    this.lastWriteTime = time;
    this.endBytes = Math.max(this.endBytes, offset + data.length);
    // A rewrite of bytes buffered in one extent changes them there, as a page cache would.
    const holder = this.extents.find((e) => e.offset <= offset && offset + data.length <= e.offset + e.length);
    if (holder) {
      holder.data.set(data, offset - holder.offset);
      return;
    }
    if (this.overlapsBuffered(offset, data.length)) await this.flush();
    let position = 0;
    while (position < data.length) {
      const extent = this.extentFor(offset + position, data.length - position);
      const take = Math.min(data.length - position, extent.data.length - extent.length);
      extent.data.set(data.subarray(position, position + take), extent.length);
      extent.length += take;
      position += take;
      if (extent.length < extent.data.length) continue;
      if (extent.data.length < this.extentBytes) this.grow(extent);
      else await this.sendBatch([extent]);
    }
    // Each scattered write opens an extent of its own: past the budget, a batch goes now.
    while (this.extents.length > 0 && this.bufferedBytes() > this.maxBufferedBytes) await this.sendBatch(this.nextBatch());
  }

  private bufferedBytes(): number {
    return this.extents.reduce((sum, e) => sum + e.data.length, 0);
  }

  /** Sends everything buffered and waits for every send; throws the first failure since the
   * last flush (once). */
  async flush(): Promise<void> {
    await this.drain();
    const failure = this.failure;
    this.failure = undefined;
    if (failure !== undefined) throw failure;
  }

  /** Sends everything buffered and waits for every send, keeping a failure for the next flush():
   * for calls that must come after the writes (ctime, utimens) but do not report their errors. */
  async drain(): Promise<void> {
    while (this.extents.length > 0) await this.sendBatch(this.nextBatch());
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Forgets the size this buffer grew the file to (after a truncate, the file's size rules). */
  resetEnd(sizeBytes: number): void {
    this.endBytes = sizeBytes;
  }

  private overlapsBuffered(offset: number, length: number): boolean {
    return this.extents.some((e) => offset < e.offset + e.length && e.offset < offset + length && offset !== e.offset + e.length);
  }

  /** The extent that continues exactly at `offset`, or a new one for `wantBytes` from there. */
  private extentFor(offset: number, wantBytes: number): Extent {
    const tail = this.extents.find((e) => e.offset + e.length === offset && e.length < e.data.length);
    if (tail) return tail;
    // A new extent is as big as the write (a scattered 4 KiB write takes 4 KiB of the budget,
    // so a burst of them is sent once per block at the flush, not in many partial batches);
    // it doubles as sequential writes continue, up to one extent.
    const initial = Math.max(limits.writeBackInitialExtentBytes, 2 ** Math.ceil(Math.log2(Math.max(1, wantBytes))));
    const extent: Extent = { offset, data: Buffer.allocUnsafe(Math.min(initial, this.extentBytes)), length: 0 };
    this.extents.push(extent);
    return extent;
  }

  private grow(extent: Extent): void {
    const bigger = Buffer.allocUnsafe(Math.min(extent.data.length * 2, this.extentBytes));
    extent.data.copy(bigger, 0, 0, extent.length);
    extent.data = bigger;
  }

  /** Buffered extents by offset, as many as one write call takes: payload, extent count and
   * blocks touched within the mediator's limits (always at least one extent). */
  private nextBatch(): Extent[] {
    const sorted = [...this.extents].sort((a, b) => a.offset - b.offset);
    const batch: Extent[] = [];
    const blocks = new Set<number>();
    let bytes = 0;
    for (const extent of sorted) {
      const first = Math.floor(extent.offset / this.blockSizeBytes);
      const last = Math.floor((extent.offset + Math.max(extent.length, 1) - 1) / this.blockSizeBytes);
      const touched = new Set(blocks);
      for (let b = first; b <= last; b++) touched.add(b);
      const fits = bytes + extent.length <= this.extentBytes && batch.length < limits.maxExtentsPerWrite && touched.size <= limits.maxBlocksPerWrite;
      if (batch.length > 0 && !fits) break;
      batch.push(extent);
      bytes += extent.length;
      for (const b of touched) blocks.add(b);
    }
    return batch;
  }

  private async sendBatch(batch: Extent[]): Promise<void> {
    this.extents = this.extents.filter((e) => !batch.includes(e));
    while (this.inFlight.size >= limits.maxWriteBackSendsInFlight) await Promise.race(this.inFlight);
    const parts = batch.map((e) => ({ offset: e.offset, data: e.data.subarray(0, e.length) }));
    const sending: Promise<void> = this.send(parts, this.lastWriteTime!).then(
      () => {
        this.inFlight.delete(sending);
      },
      (err: unknown) => {
        this.inFlight.delete(sending);
        this.failure ??= err;
      },
    );
    this.inFlight.add(sending);
  }
}
