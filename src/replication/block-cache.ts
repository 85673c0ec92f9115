// A bounded LRU cache of verified block contents, keyed by (key, version). A version's bytes
// never change, so a cached entry can never be stale: this is what lets a FUSE read of 128 KiB
// cost one replica read per 1 MiB block instead of eight.

export class BlockCache {
  private readonly entries = new Map<string, Buffer>();
  private sizeBytes = 0;

  constructor(private readonly capacityBytes: number) {}

  get(key: string, version: number): Buffer | undefined {
    const id = `${key}@${version}`;
    const data = this.entries.get(id);
    if (data) {
      this.entries.delete(id); // move to the most recently used end
      this.entries.set(id, data);
    }
    return data;
  }

  /** Caches verified bytes; the cache keeps a reference, so the caller must not change them. */
  set(key: string, version: number, data: Buffer): void {
    if (data.length > this.capacityBytes) return;
    const id = `${key}@${version}`;
    const old = this.entries.get(id);
    if (old) {
      this.sizeBytes -= old.length;
      this.entries.delete(id);
    }
    this.entries.set(id, data);
    this.sizeBytes += data.length;
    for (const [oldest, bytes] of this.entries) {
      if (this.sizeBytes <= this.capacityBytes) break;
      this.entries.delete(oldest);
      this.sizeBytes -= bytes.length;
    }
  }

  get usedBytes(): number {
    return this.sizeBytes;
  }
}
