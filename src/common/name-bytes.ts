// Names (and symlink targets) are bytes in Linux: anything but '/' and NUL. Inside quorumfs they
// are JS strings in a lossless form (PEP 383's "surrogateescape"): valid UTF-8 decodes as usual,
// and each byte of an invalid sequence becomes the lone surrogate U+DC80..U+DCFF. Valid UTF-8
// never decodes to a lone surrogate, so bytes → string is one-to-one and nameToBytes inverts it
// exactly; a string name of well-formed text means its UTF-8 bytes. Pure functions, no I/O.

import { isUtf8 } from 'node:buffer';

const ESCAPE_BASE = 0xdc00;
const ESCAPE_FIRST = 0xdc80;
const ESCAPE_LAST = 0xdcff;
// In unicode mode a surrogate pair is one code point, so this matches lone surrogates only.
const LONE_SURROGATE = /\p{Surrogate}/u;

function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** The string form of a name's bytes; lossless for any bytes. */
export function nameFromBytes(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const length = utf8SequenceLength(bytes, i);
    if (length > 0) {
      out += Buffer.from(bytes.buffer, bytes.byteOffset + i, length).toString('utf8');
      i += length;
    } else {
      out += String.fromCharCode(ESCAPE_BASE + bytes[i]!);
      i += 1;
    }
  }
  return out;
}

/** The bytes a name stands for: the inverse of nameFromBytes. A lone surrogate that is not an
 * escaped byte (only a hand-made string has one) has no bytes: it becomes U+FFFD, as
 * Buffer.from would make it, so such a string never aliases an escaped name. */
export function nameToBytes(name: string): Buffer {
  if (isWellFormed(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  const flush = (end: number): void => {
    if (end > run) parts.push(Buffer.from(name.slice(run, end), 'utf8')); // lone surrogates → U+FFFD
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < name.length) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a surrogate pair: one valid character, encoded with its run
        continue;
      }
    }
    if (unit >= ESCAPE_FIRST && unit <= ESCAPE_LAST) {
      flush(i);
      parts.push(Buffer.of(unit - ESCAPE_BASE));
      run = i + 1;
    }
  }
  flush(name.length);
  return Buffer.concat(parts);
}

/** Bytes of a name (what NAME_MAX limits), without building them when the name is plain text. */
export function nameByteLength(name: string): number {
  return isWellFormed(name) ? Buffer.byteLength(name, 'utf8') : nameToBytes(name).length;
}

/** True if the name is text: it can travel as a msgpack str and be shown as is. */
export function isTextName(name: string): boolean {
  return isWellFormed(name);
}

/** Length of the valid UTF-8 sequence starting at bytes[at] (shortest form, no surrogates, at
 * most U+10FFFF), or 0 if none starts there. */
function utf8SequenceLength(bytes: Uint8Array, at: number): number {
  const b0 = bytes[at]!;
  if (b0 < 0x80) return 1;
  let length: number;
  let min: number;
  let cp: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
    min = 0x80;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    min = 0x800;
    cp = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    min = 0x10000;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (at + length > bytes.length) return 0;
  for (let k = 1; k < length; k++) {
    const b = bytes[at + k]!;
    if ((b & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return length;
}
