// The on-disk format of a block store: one file per (key, version), and the directory layout that
// places it. A block file is a header naming its own key, version, checksum and data length; in
// format 2, the block's extent table (common/checksum.ts) follows; then exactly that many data
// bytes. Format 1 (a whole-block `sha256:` checksum, no table) is still read. Format 3 is a delta:
// the header also names a base version of the same key and how many extents the file holds;
// after the table come those extents' indexes (u32 each, increasing) and their bytes; every other
// extent is the base's. A version deleted while a delta is based on it is kept, renamed from
// `.blk` to `.rtn` (retained), until no delta needs it. Decoding never
// throws and never trusts a field: every length is bounded, and the caller cross-checks the header
// against the file name and the file size, so a renamed, truncated or foreign file is reported,
// not believed.

import { EXTENT_HASH_BYTES, EXTENT_PREFIX, LEGACY_PREFIX, digestOf, extentCount, isLegacyChecksum } from '../common/checksum.js';
import { limits } from '../common/limits.js';

const BLOCK_MAGIC = 'QFSB';
/** Format 1: `sha256:` checksum, no table. Format 2: `xsha256:` checksum and its table. */
const LEGACY_FORMAT_VERSION = 1;
const EXTENT_FORMAT_VERSION = 2;
const DELTA_FORMAT_VERSION = 3;
const EXTENT_INDEX_BYTES = 4;
// A delta's header adds: baseVersion(8) extentCount(4)
const DELTA_HEADER_BYTES = 8 + 4;
const BLOCK_FILE_SUFFIX = '.blk';
const RETAINED_FILE_SUFFIX = '.rtn';
/** Files being written; any left at open were cut short by a crash and are removed. */
export const TEMP_FILE_SUFFIX = '.tmp';

/** Marks a directory as a block store and versions the layout (names, subdirectories). */
export const STORE_MARKER_NAME = 'qfs-block-store.json';
export const STORE_LAYOUT_VERSION = 1;

const MAGIC_BYTES = Buffer.from(BLOCK_MAGIC, 'latin1');
const CHECKSUM_RAW_BYTES = 32;
// magic(4) formatVersion(1) checksum(32) dataLength(8) keyLength(2) ... key ... version(8)
const FIXED_HEADER_BYTES = 4 + 1 + CHECKSUM_RAW_BYTES + 8 + 2 + 8;
/** The largest header and table: reading this many bytes from the start of a file always covers
 * both. */
export const MAX_HEADER_BYTES =
  FIXED_HEADER_BYTES + DELTA_HEADER_BYTES + limits.maxKeyBytes + extentCount(limits.maxPayloadBytes) * (EXTENT_HASH_BYTES + EXTENT_INDEX_BYTES);

const KEY_PATTERN = /^[A-Za-z0-9._:-]+$/;
const VERSION_TEXT_PATTERN = /^(0|[1-9][0-9]*)$/;

interface BlockHeader {
  key: string;
  version: number;
  /** 'xsha256:<hex>' (format 2) or 'sha256:<hex>' (format 1) of the data. */
  checksum: string;
  dataLengthBytes: number;
  /** Format 3: the base version and the indexes of the extents this file holds. */
  delta?: DeltaInfo;
}

export interface DeltaInfo {
  baseVersion: number;
  indexes: number[];
}

export interface DecodedHeader {
  header: BlockHeader;
  /** Where the table begins (the header's length). */
  headerBytes: number;
  /** Where the data begins: after the table in format 2, after the header in format 1, after
   * the extent indexes in format 3 (where only the extents it holds follow). */
  dataOffset: number;
  /** Format 2 only: the extent table, when the buffer decoded held all of it. */
  table: Buffer | undefined;
}

type HeaderDecodeResult = ({ ok: true } & DecodedHeader) | { ok: false; reason: string };

/** 1..maxKeyBytes characters from [A-Za-z0-9._:-]; all ASCII, so characters are bytes. */
export function isBlockKey(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= limits.maxKeyBytes && KEY_PATTERN.test(value);
}

export function isBlockVersion(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function headerLengthBytes(key: string): number {
  return FIXED_HEADER_BYTES + key.length;
}

/** Bytes of a format-2 file before its data: header and table. */
export function dataOffsetOf(key: string, dataLengthBytes: number): number {
  return headerLengthBytes(key) + extentCount(dataLengthBytes) * EXTENT_HASH_BYTES;
}

/** The extent indexes of a delta, to write after its header and table. */
export function encodeDeltaIndexes(indexes: readonly number[]): Buffer {
  const buf = Buffer.alloc(indexes.length * EXTENT_INDEX_BYTES);
  indexes.forEach((index, i) => buf.writeUInt32LE(index, i * EXTENT_INDEX_BYTES));
  return buf;
}

/** The header of a block file, in the format its checksum's algorithm needs (a format-2 header
 * is followed by the table). The caller has validated key, version and checksum. */
export function encodeHeader(header: BlockHeader): Buffer {
  const { key, delta } = header;
  const buf = Buffer.alloc(headerLengthBytes(key) + (delta ? DELTA_HEADER_BYTES : 0));
  let at = MAGIC_BYTES.copy(buf, 0);
  at = buf.writeUInt8(delta ? DELTA_FORMAT_VERSION : isLegacyChecksum(header.checksum) ? LEGACY_FORMAT_VERSION : EXTENT_FORMAT_VERSION, at);
  at += digestOf(header.checksum).copy(buf, at);
  at = buf.writeBigUInt64LE(BigInt(header.dataLengthBytes), at);
  at = buf.writeUInt16LE(key.length, at);
  at += buf.write(key, at, 'latin1');
  at = buf.writeBigUInt64LE(BigInt(header.version), at);
  if (delta) {
    at = buf.writeBigUInt64LE(BigInt(delta.baseVersion), at);
    buf.writeUInt32LE(delta.indexes.length, at);
  }
  return buf;
}

/** Parses the header at the start of `buf` (which may hold more bytes: the table, the data). */
export function decodeHeader(buf: Uint8Array): HeaderDecodeResult {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < FIXED_HEADER_BYTES) return fail(`header cut short at ${b.length} bytes`);
  if (!b.subarray(0, 4).equals(MAGIC_BYTES)) return fail('bad magic');
  const formatVersion = b.readUInt8(4);
  if (formatVersion !== LEGACY_FORMAT_VERSION && formatVersion !== EXTENT_FORMAT_VERSION && formatVersion !== DELTA_FORMAT_VERSION) {
    return fail(`unsupported format version ${formatVersion}`);
  }
  const legacy = formatVersion === LEGACY_FORMAT_VERSION;
  const checksum = (legacy ? LEGACY_PREFIX : EXTENT_PREFIX) + b.toString('hex', 5, 5 + CHECKSUM_RAW_BYTES);
  let at = 5 + CHECKSUM_RAW_BYTES;
  const dataLength = b.readBigUInt64LE(at);
  if (dataLength > BigInt(limits.maxPayloadBytes)) return fail(`data length ${dataLength} over the limit`);
  at += 8;
  const keyLength = b.readUInt16LE(at);
  at += 2;
  if (keyLength < 1 || keyLength > limits.maxKeyBytes) return fail(`key length ${keyLength} out of range`);
  if (b.length < FIXED_HEADER_BYTES + keyLength) return fail(`header cut short at ${b.length} bytes`);
  const key = b.toString('latin1', at, at + keyLength);
  if (!isBlockKey(key)) return fail('key has characters outside [A-Za-z0-9._:-]');
  at += keyLength;
  const version = b.readBigUInt64LE(at);
  if (version > BigInt(Number.MAX_SAFE_INTEGER)) return fail(`version ${version} is not a safe integer`);
  const header: BlockHeader = { key, version: Number(version), checksum, dataLengthBytes: Number(dataLength) };
  at += 8;
  if (legacy) return { ok: true, header, headerBytes: at, dataOffset: at, table: undefined };
  const count = extentCount(header.dataLengthBytes);
  if (formatVersion !== DELTA_FORMAT_VERSION) {
    const dataOffset = at + count * EXTENT_HASH_BYTES;
    return { ok: true, header, headerBytes: at, dataOffset, table: b.length >= dataOffset ? b.subarray(at, dataOffset) : undefined };
  }
  if (b.length < at + DELTA_HEADER_BYTES) return fail(`header cut short at ${b.length} bytes`);
  const baseVersion = b.readBigUInt64LE(at);
  if (baseVersion >= version) return fail(`base version ${baseVersion} is not below version ${version}`);
  const held = b.readUInt32LE(at + 8);
  if (held < 1 || held > count) return fail(`a delta holding ${held} of ${count} extents`);
  const headerBytes = at + DELTA_HEADER_BYTES;
  const indexesAt = headerBytes + count * EXTENT_HASH_BYTES;
  const dataOffset = indexesAt + held * EXTENT_INDEX_BYTES;
  // The caller reads enough for every field: one cut short is a damaged file.
  if (b.length < dataOffset) return fail(`delta header cut short at ${b.length} bytes`);
  const indexes: number[] = [];
  for (let i = 0; i < held; i++) {
    const index = b.readUInt32LE(indexesAt + i * EXTENT_INDEX_BYTES);
    if (index >= count || (i > 0 && index <= indexes[i - 1]!)) return fail('delta extent indexes out of order or range');
    indexes.push(index);
  }
  header.delta = { baseVersion: Number(baseVersion), indexes };
  return { ok: true, header, headerBytes, dataOffset, table: b.subarray(headerBytes, indexesAt) };
}

function fail(reason: string): HeaderDecodeResult {
  return { ok: false, reason };
}

/** The name of a block file: the key as it is (its alphabet is file-name safe), then the version. */
export function blockFileName(key: string, version: number): string {
  return `${key}.${version}${BLOCK_FILE_SUFFIX}`;
}

/** The name a version takes once deleted while a delta is based on it. */
export function retainedFileName(key: string, version: number): string {
  return `${key}.${version}${RETAINED_FILE_SUFFIX}`;
}

/** Inverse of blockFileName and retainedFileName. The version has no dot, so the last dot
 * splits key from version. */
export function parseBlockFileName(name: string): { key: string; version: number; retained: boolean } | undefined {
  const retained = name.endsWith(RETAINED_FILE_SUFFIX);
  if (!retained && !name.endsWith(BLOCK_FILE_SUFFIX)) return undefined;
  const stem = name.slice(0, -(retained ? RETAINED_FILE_SUFFIX : BLOCK_FILE_SUFFIX).length);
  const dot = stem.lastIndexOf('.');
  if (dot < 0) return undefined;
  const key = stem.slice(0, dot);
  const versionText = stem.slice(dot + 1);
  if (!isBlockKey(key) || !VERSION_TEXT_PATTERN.test(versionText)) return undefined;
  const version = Number(versionText);
  return isBlockVersion(version) ? { key, version, retained } : undefined;
}

/**
 * The subdirectory ('00'..'ff') holding every version of `key`: FNV-1a (32-bit) of the key,
 * xor-folded to one byte. Part of the layout: changing it needs a new STORE_LAYOUT_VERSION.
 */
export function subdirOf(key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const folded = (h ^ (h >>> 8) ^ (h >>> 16) ^ (h >>> 24)) & 0xff;
  return folded.toString(16).padStart(2, '0');
}

const SUBDIR_PATTERN = /^[0-9a-f]{2}$/;

/** Subdirectories are made on first use, so a small store stays small and quick to open. */
export function isSubdirName(name: string): boolean {
  return SUBDIR_PATTERN.test(name);
}

interface StoreMarker {
  format: 'quorumfs-block-store';
  layoutVersion: number;
}

export function encodeStoreMarker(): string {
  const marker: StoreMarker = { format: 'quorumfs-block-store', layoutVersion: STORE_LAYOUT_VERSION };
  return JSON.stringify(marker) + '\n';
}

/** The layout version a marker file names, or a reason it is not a block-store marker. */
export function decodeStoreMarker(text: string): { ok: true; layoutVersion: number } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'marker is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { ok: false, reason: 'marker is not an object' };
  const format: unknown = Reflect.get(parsed, 'format');
  const layoutVersion: unknown = Reflect.get(parsed, 'layoutVersion');
  if (format !== 'quorumfs-block-store' || typeof layoutVersion !== 'number') {
    return { ok: false, reason: 'marker does not name a quorumfs block store' };
  }
  return { ok: true, layoutVersion };
}

