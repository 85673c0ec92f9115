// FileData: the bytes of one regular file in memory, kept as fixed-size chunks so sparse files
// (truncate up, seek past the end, punched holes) cost nothing. A missing chunk reads as zeros
// and counts as a hole for SEEK_HOLE/SEEK_DATA. The caller enforces the size and space limits
// with `growthBytes` before writing; FileData itself never refuses.

const CHUNK_SIZE_BYTES = 64 * 1024;

export class FileData {
  private readonly chunks = new Map<number, Buffer>();
  private size = 0;

  get sizeBytes(): number {
    return this.size;
  }

  /** Bytes held in memory (allocated chunks). */
  get allocatedBytes(): number {
    return this.chunks.size * CHUNK_SIZE_BYTES;
  }

  /** Chunks a write or allocation of [offset, offset+length) would add. */
  growthBytes(offset: number, length: number): number {
    if (length <= 0) return 0;
    let added = 0;
    const first = Math.floor(offset / CHUNK_SIZE_BYTES);
    const last = Math.floor((offset + length - 1) / CHUNK_SIZE_BYTES);
    for (let c = first; c <= last; c++) if (!this.chunks.has(c)) added += CHUNK_SIZE_BYTES;
    return added;
  }

  /** Up to `length` bytes from `offset`, shorter at end of file. Returns a new buffer. */
  read(offset: number, length: number): Buffer {
    const end = Math.min(this.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    let pos = offset;
    while (pos < end) {
      const index = Math.floor(pos / CHUNK_SIZE_BYTES);
      const within = pos - index * CHUNK_SIZE_BYTES;
      const n = Math.min(CHUNK_SIZE_BYTES - within, end - pos);
      const chunk = this.chunks.get(index);
      if (chunk) chunk.copy(out, pos - offset, within, within + n);
      pos += n;
    }
    return out;
  }

  /** Writes `data` at `offset`, growing the file if needed. */
  write(offset: number, data: Uint8Array): void {
    let pos = 0;
    while (pos < data.length) {
      const abs = offset + pos;
      const index = Math.floor(abs / CHUNK_SIZE_BYTES);
      const within = abs - index * CHUNK_SIZE_BYTES;
      const n = Math.min(CHUNK_SIZE_BYTES - within, data.length - pos);
      let chunk = this.chunks.get(index);
      if (!chunk) {
        chunk = Buffer.alloc(CHUNK_SIZE_BYTES);
        this.chunks.set(index, chunk);
      }
      chunk.set(data.subarray(pos, pos + n), within);
      pos += n;
    }
    this.size = Math.max(this.size, offset + data.length);
  }

  /** Sets the size; bytes past a shrink are discarded so a later grow reads zeros. */
  truncate(sizeBytes: number): void {
    if (sizeBytes < this.size) this.zero(sizeBytes, this.size - sizeBytes, true);
    this.size = sizeBytes;
  }

  /** Zeroes [offset, offset+length); whole chunks are freed when `release` (punch hole). */
  zero(offset: number, length: number, release: boolean): void {
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const index = Math.floor(pos / CHUNK_SIZE_BYTES);
      const within = pos - index * CHUNK_SIZE_BYTES;
      const n = Math.min(CHUNK_SIZE_BYTES - within, end - pos);
      const chunk = this.chunks.get(index);
      if (chunk) {
        if (release && n === CHUNK_SIZE_BYTES) this.chunks.delete(index);
        else chunk.fill(0, within, within + n);
      }
      pos += n;
    }
  }

  /** Allocates chunks for [offset, offset+length) without changing their content. */
  allocate(offset: number, length: number): void {
    if (length <= 0) return;
    const first = Math.floor(offset / CHUNK_SIZE_BYTES);
    const last = Math.floor((offset + length - 1) / CHUNK_SIZE_BYTES);
    for (let c = first; c <= last; c++) if (!this.chunks.has(c)) this.chunks.set(c, Buffer.alloc(CHUNK_SIZE_BYTES));
  }

  /** Grows the size without writing (fallocate without KEEP_SIZE). */
  extendTo(sizeBytes: number): void {
    if (sizeBytes > this.size) this.size = sizeBytes;
  }

  /** First offset >= `offset` inside data (allocated), or -1 if none before end of file. */
  nextData(offset: number): number {
    for (let pos = offset; pos < this.size; ) {
      const index = Math.floor(pos / CHUNK_SIZE_BYTES);
      if (this.chunks.has(index)) return pos;
      pos = (index + 1) * CHUNK_SIZE_BYTES;
    }
    return -1;
  }

  /** First offset >= `offset` inside a hole; end of file counts as a hole. */
  nextHole(offset: number): number {
    for (let pos = offset; pos < this.size; ) {
      const index = Math.floor(pos / CHUNK_SIZE_BYTES);
      if (!this.chunks.has(index)) return pos;
      pos = (index + 1) * CHUNK_SIZE_BYTES;
    }
    return this.size;
  }
}
