// Write-back buffering of one inode's dirty data in the mount. Sequential writes are gathered
// into extents of up to limits.maxPayloadBytes, and a full extent is sent at once, with a bound
// on sends in flight and on the buffer space held, so memory stays bounded (scattered writes send
// their oldest extents early); anything else waits for flush(). Sends of one
// inode leave in write order on one connection and the mediator applies them in arrival order.
// A failed send is remembered and reported by the next flush (close, fsync), as local file
// systems report write-back errors; the data of a failed send is dropped, never retried blindly.

import { limits } from '../common/limits.js';
import type { Timespec } from '../common/types.js';

export interface Extent {
  offset: number;
  data: Buffer;
  /** Bytes of `data` in use. */
  length: number;
}

/** Sends one extent: resolves once it is committed. */
export type SendExtent = (offset: number, data: Buffer, time: Timespec) => Promise<void>;

export const MAX_SENDS_IN_FLIGHT = 4;
/** Buffer space (allocated, not just used) one inode's unsent extents may hold, in full extents. */
export const MAX_BUFFERED_FULL_EXTENTS = 4;
const INITIAL_EXTENT_BYTES = 64 * 1024;

export class WriteBackBuffer {
  private extents: Extent[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  /** End of the furthest byte written through this buffer, committed or not. */
  private endBytes = 0;
  private lastWriteTime: Timespec | undefined;

  constructor(
    private readonly send: SendExtent,
    private readonly extentBytes: number = limits.maxPayloadBytes,
    private readonly maxBufferedBytes: number = MAX_BUFFERED_FULL_EXTENTS * extentBytes,
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
    if (this.overlapsBuffered(offset, data.length)) await this.flush();
    let position = 0;
    while (position < data.length) {
      const extent = this.extentFor(offset + position);
      const take = Math.min(data.length - position, extent.data.length - extent.length);
      extent.data.set(data.subarray(position, position + take), extent.length);
      extent.length += take;
      position += take;
      if (extent.length < extent.data.length) continue;
      if (extent.data.length < this.extentBytes) this.grow(extent);
      else await this.sendExtent(extent);
    }
    // Each scattered write opens an extent of its own: past the budget, the oldest go now.
    while (this.extents.length > 0 && this.bufferedBytes() > this.maxBufferedBytes) await this.sendExtent(this.extents[0]!);
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
    for (const extent of [...this.extents]) await this.sendExtent(extent);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Forgets the size this buffer grew the file to (after a truncate, the file's size rules). */
  resetEnd(sizeBytes: number): void {
    this.endBytes = sizeBytes;
  }

  private overlapsBuffered(offset: number, length: number): boolean {
    return this.extents.some((e) => offset < e.offset + e.length && e.offset < offset + length && offset !== e.offset + e.length);
  }

  /** The extent that continues exactly at `offset`, or a new one. */
  private extentFor(offset: number): Extent {
    const tail = this.extents.find((e) => e.offset + e.length === offset && e.length < e.data.length);
    if (tail) return tail;
    // Small files get a small buffer; it doubles as writes continue, up to one extent.
    const extent: Extent = { offset, data: Buffer.allocUnsafe(Math.min(INITIAL_EXTENT_BYTES, this.extentBytes)), length: 0 };
    this.extents.push(extent);
    return extent;
  }

  private grow(extent: Extent): void {
    const bigger = Buffer.allocUnsafe(Math.min(extent.data.length * 2, this.extentBytes));
    extent.data.copy(bigger, 0, 0, extent.length);
    extent.data = bigger;
  }

  private async sendExtent(extent: Extent): Promise<void> {
    this.extents = this.extents.filter((e) => e !== extent);
    while (this.inFlight.size >= MAX_SENDS_IN_FLIGHT) await Promise.race(this.inFlight);
    const data = extent.data.subarray(0, extent.length);
    const sending: Promise<void> = this.send(extent.offset, data, this.lastWriteTime!).then(
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
