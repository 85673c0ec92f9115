// Byte ranges to blocks: which blocks a read or write touches and which part of each. Pure.

interface BlockSlice {
  /** Block index within the file. */
  index: number;
  /** Offset of the slice within the block. */
  offsetInBlock: number;
  /** Offset of the slice within the caller's buffer. */
  offsetInBuffer: number;
  lengthBytes: number;
}

/** The slices of the blocks covering [offset, offset + length). Empty for length 0. */
export function sliceRange(offset: number, length: number, blockSizeBytes: number): BlockSlice[] {
  const slices: BlockSlice[] = [];
  let position = offset;
  const end = offset + length;
  while (position < end) {
    const index = Math.floor(position / blockSizeBytes);
    const offsetInBlock = position - index * blockSizeBytes;
    const lengthBytes = Math.min(blockSizeBytes - offsetInBlock, end - position);
    slices.push({ index, offsetInBlock, offsetInBuffer: position - offset, lengthBytes });
    position += lengthBytes;
  }
  return slices;
}

/** Bytes of block `index` that lie inside a file of `sizeBytes` (0 past the end). */
export function visibleBytesOfBlock(index: number, sizeBytes: number, blockSizeBytes: number): number {
  return Math.max(0, Math.min(blockSizeBytes, sizeBytes - index * blockSizeBytes));
}

/** Number of blocks a file of this size spans. */
export function blockCount(sizeBytes: number, blockSizeBytes: number): number {
  return Math.ceil(sizeBytes / blockSizeBytes);
}
