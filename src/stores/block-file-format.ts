// The on-disk format of a block store: one file per (key, version), format version 1, and the
// directory layout that places it. A block file is a header naming its own key, version, checksum
// and data length, followed by exactly that many data bytes. Decoding never throws and never
// trusts a field: every length is bounded, and the caller cross-checks the header against the file
// name and the file size, so a renamed, truncated or foreign file is reported, not believed.

import { CHECKSUM_PREFIX } from '../common/checksum.js';
import { limits } from '../common/limits.js';

const BLOCK_MAGIC = 'QFSB';
const BLOCK_FORMAT_VERSION = 1;
const BLOCK_FILE_SUFFIX = '.blk';
/** Files being written; any left at open were cut short by a crash and are removed. */
export const TEMP_FILE_SUFFIX = '.tmp';

/** Marks a directory as a block store and versions the layout (names, subdirectories). */
export const STORE_MARKER_NAME = 'qfs-block-store.json';
export const STORE_LAYOUT_VERSION = 1;

const MAGIC_BYTES = Buffer.from(BLOCK_MAGIC, 'latin1');
const CHECKSUM_RAW_BYTES = 32;
// magic(4) formatVersion(1) checksum(32) dataLength(8) keyLength(2) ... key ... version(8)
const FIXED_HEADER_BYTES = 4 + 1 + CHECKSUM_RAW_BYTES + 8 + 2 + 8;
/** The largest header: reading this many bytes from the start of a file always covers it. */
export const MAX_HEADER_BYTES = FIXED_HEADER_BYTES + limits.maxKeyBytes;

const KEY_PATTERN = /^[A-Za-z0-9._:-]+$/;
const VERSION_TEXT_PATTERN = /^(0|[1-9][0-9]*)$/;

interface BlockHeader {
  key: string;
  version: number;
  /** 'sha256:<hex>' of the data that follows the header. */
  checksum: string;
  dataLengthBytes: number;
}

type HeaderDecodeResult =
  | { ok: true; header: BlockHeader; headerBytes: number }
  | { ok: false; reason: string };

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

/** The header of a block file. The caller has validated key, version and checksum. */
export function encodeHeader(header: BlockHeader): Buffer {
  const { key } = header;
  const buf = Buffer.alloc(headerLengthBytes(key));
  let at = MAGIC_BYTES.copy(buf, 0);
  at = buf.writeUInt8(BLOCK_FORMAT_VERSION, at);
  at += Buffer.from(header.checksum.slice(CHECKSUM_PREFIX.length), 'hex').copy(buf, at);
  at = buf.writeBigUInt64LE(BigInt(header.dataLengthBytes), at);
  at = buf.writeUInt16LE(key.length, at);
  at += buf.write(key, at, 'latin1');
  buf.writeBigUInt64LE(BigInt(header.version), at);
  return buf;
}

/** Parses the header at the start of `buf` (which may hold more bytes: the data). */
export function decodeHeader(buf: Uint8Array): HeaderDecodeResult {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < FIXED_HEADER_BYTES) return fail(`header cut short at ${b.length} bytes`);
  if (!b.subarray(0, 4).equals(MAGIC_BYTES)) return fail('bad magic');
  const formatVersion = b.readUInt8(4);
  if (formatVersion !== BLOCK_FORMAT_VERSION) return fail(`unsupported format version ${formatVersion}`);
  const checksum = CHECKSUM_PREFIX + b.toString('hex', 5, 5 + CHECKSUM_RAW_BYTES);
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
  const header = { key, version: Number(version), checksum, dataLengthBytes: Number(dataLength) };
  return { ok: true, header, headerBytes: at + 8 };
}

function fail(reason: string): HeaderDecodeResult {
  return { ok: false, reason };
}

/** The name of a block file: the key as it is (its alphabet is file-name safe), then the version. */
export function blockFileName(key: string, version: number): string {
  return `${key}.${version}${BLOCK_FILE_SUFFIX}`;
}

/** Inverse of blockFileName. The version has no dot, so the last dot splits key from version. */
export function parseBlockFileName(name: string): { key: string; version: number } | undefined {
  if (!name.endsWith(BLOCK_FILE_SUFFIX)) return undefined;
  const stem = name.slice(0, -BLOCK_FILE_SUFFIX.length);
  const dot = stem.lastIndexOf('.');
  if (dot < 0) return undefined;
  const key = stem.slice(0, dot);
  const versionText = stem.slice(dot + 1);
  if (!isBlockKey(key) || !VERSION_TEXT_PATTERN.test(versionText)) return undefined;
  const version = Number(versionText);
  return isBlockVersion(version) ? { key, version } : undefined;
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

