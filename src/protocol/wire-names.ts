// Names on the wire. A name (or symlink target, or xattr name) that is text travels as a msgpack
// str, as it always has, so older peers and other languages read it unchanged; a name whose bytes
// are not UTF-8 cannot be a msgpack str (str must be UTF-8), so it travels as bin holding its
// exact bytes. Decoders accept both and give the lossless string form of common/name-bytes.ts.

import { qfsError } from '../common/errors.js';
import { isTextName, nameFromBytes, nameToBytes } from '../common/name-bytes.js';
import type { Decoder } from './schema.js';

/** A name decoder: str or bin, at most maxBytes bytes either way. */
export function wireName(maxBytes: number): Decoder<string> {
  return (v, p) => {
    if (typeof v === 'string') {
      if (Buffer.byteLength(v) > maxBytes) throw qfsError('INVALID', `${p}: longer than ${maxBytes} bytes`);
      return v;
    }
    if (v instanceof Uint8Array) {
      if (v.length > maxBytes) throw qfsError('INVALID', `${p}: longer than ${maxBytes} bytes`);
      return nameFromBytes(v);
    }
    const got = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    throw qfsError('INVALID', `${p || 'message'}: expected a name (str or bin), got ${got}`);
  };
}

/**
 * The value to pack for a message that carries names: every string that is not text (it holds
 * escaped bytes) is replaced by its bytes. Plain objects and arrays are copied only along the
 * paths that change, so a message of text names is returned as it is.
 */
export function namesToWire(value: unknown): unknown {
  if (typeof value === 'string') return isTextName(value) ? value : nameToBytes(value);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const wire = namesToWire(item);
      if (wire !== item) {
        out ??= value.slice();
        out[i] = wire;
      }
    }
    return out ?? value;
  }
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    const src = value as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(src)) {
      const item = src[key];
      const wire = namesToWire(item);
      if (wire !== item) {
        out ??= { ...src };
        out[key] = wire;
      }
    }
    return out ?? value;
  }
  return value;
}
