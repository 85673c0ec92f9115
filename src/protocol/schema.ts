// A small decoder combinator library: validates an unknown value decoded from the wire and
// returns it typed, or throws INVALID naming the path of the bad field. Messages are checked
// at the boundary with these; code inside trusts the types.

import { qfsError } from '../common/errors.js';

export type Decoder<T> = (value: unknown, path: string) => T;
type Decoded<D> = D extends Decoder<infer T> ? T : never;

function fail(path: string, expected: string, value: unknown): never {
  const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  throw qfsError('INVALID', `${path || 'message'}: expected ${expected}, got ${got}`);
}

export const uint: Decoder<number> = (v, p) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(p, 'a non-negative integer', v);

export const int: Decoder<number> = (v, p) =>
  typeof v === 'number' && Number.isSafeInteger(v) ? v : fail(p, 'an integer', v);

export const bool: Decoder<boolean> = (v, p) => (typeof v === 'boolean' ? v : fail(p, 'a boolean', v));

export const str: Decoder<string> = (v, p) => (typeof v === 'string' ? v : fail(p, 'a string', v));

export const unknownValue: Decoder<unknown> = (v) => v;

export function boundedStr(maxBytes: number): Decoder<string> {
  return (v, p) => {
    const s = str(v, p);
    if (Buffer.byteLength(s) > maxBytes) throw qfsError('INVALID', `${p}: longer than ${maxBytes} bytes`);
    return s;
  };
}

export const bytes: Decoder<Uint8Array> = (v, p) => (v instanceof Uint8Array ? v : fail(p, 'bytes', v));

export function literal<const T extends string | number>(...values: T[]): Decoder<T> {
  return (v, p) => ((values as unknown[]).includes(v) ? (v as T) : fail(p, `one of ${values.join(', ')}`, v));
}

export function optional<T>(d: Decoder<T>): Decoder<T | undefined> {
  return (v, p) => (v === undefined || v === null ? undefined : d(v, p));
}

/** A value that may be null on the wire: a figure that cannot be known is null, never 0. */
export function nullable<T>(d: Decoder<T>): Decoder<T | null> {
  return (v, p) => (v === null || v === undefined ? null : d(v, p));
}

export function array<T>(d: Decoder<T>, maxItems: number): Decoder<T[]> {
  return (v, p) => {
    if (!Array.isArray(v)) return fail(p, 'an array', v);
    if (v.length > maxItems) throw qfsError('INVALID', `${p}: more than ${maxItems} items`);
    return v.map((item, i) => d(item, `${p}[${i}]`));
  };
}

export function oneOf<A, B>(a: Decoder<A>, b: Decoder<B>): Decoder<A | B> {
  return (v, p) => {
    try {
      return a(v, p);
    } catch {
      return b(v, p);
    }
  };
}

type Shape = Record<string, Decoder<unknown>>;
type ObjectOf<S extends Shape> = { [K in keyof S as undefined extends Decoded<S[K]> ? never : K]: Decoded<S[K]> } & {
  [K in keyof S as undefined extends Decoded<S[K]> ? K : never]?: Decoded<S[K]>;
};

/** An object with exactly the given fields checked; unknown fields are dropped. */
export function object<S extends Shape>(shape: S): Decoder<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(p, 'an object', v);
    const src = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const value = shape[key]!(src[key], p ? `${p}.${key}` : key);
      if (value !== undefined) out[key] = value;
    }
    return out as ObjectOf<S>;
  };
}
