// Where this mount puts the writes of a file opened with O_APPEND. Without the writeback cache
// the kernel gives such a write the position of its cached size, without asking for attributes
// first, and that size may predate another mount's append (libfuse leaves O_APPEND to the file
// system). So the mount keeps, for each file open here, the file's end as it knows it: the
// metadata's size when the file was opened, moved by every write and truncate made through this
// mount. Bookkeeping only: no I/O and no clock; callers pass what happened.

export class FileEnds {
  /** File end in bytes, for each inode open on this mount. */
  private readonly ends = new Map<number, number>();

  /**
   * A handle was opened and the metadata said the file has `sizeBytes`. The first handle takes
   * that size; a later one only raises the end, never lowers it, since writes of the handles
   * already open may not have reached the metadata yet.
   */
  opened(ino: number, sizeBytes: number): void {
    this.ends.set(ino, Math.max(this.ends.get(ino) ?? 0, sizeBytes));
  }

  /** The last handle of the file on this mount was closed: its end is the metadata's again. */
  closed(ino: number): void {
    this.ends.delete(ino);
  }

  /** Where an appending write goes: the file's end, or undefined if the file is not open here. */
  endOf(ino: number): number | undefined {
    return this.ends.get(ino);
  }

  /**
   * Records a write of `lengthBytes` at `offset` made through this mount (appending or not) and
   * returns how to take it back if the write then fails: the end goes back unless a later write
   * or truncate moved it again.
   */
  wrote(ino: number, offset: number, lengthBytes: number): () => void {
    const before = this.ends.get(ino);
    if (before === undefined) return () => {};
    const after = Math.max(before, offset + lengthBytes);
    this.ends.set(ino, after);
    return () => {
      if (this.ends.get(ino) === after) this.ends.set(ino, before);
    };
  }

  /** The file was truncated or extended to `sizeBytes` through this mount. */
  resized(ino: number, sizeBytes: number): void {
    if (this.ends.has(ino)) this.ends.set(ino, sizeBytes);
  }
}
