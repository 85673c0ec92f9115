// The error a FUSE handler throws to answer a request with an errno, and the one place that
// turns any thrown value into the errno sent to the kernel. Anything without a recognisable
// errno becomes EIO: a handler bug must fail the call, never the mount.

import { errnoCodes, errnoFromName, errnoName, type ErrnoName } from './errno-codes.js';

/** A handler failure carrying a Linux errno; `code` is its name ('ENOENT'). */
export class FuseError extends Error {
  readonly errno: number;
  readonly code: string;

  constructor(code: ErrnoName, message?: string) {
    super(message ?? code);
    this.name = 'FuseError';
    this.code = code;
    this.errno = errnoCodes[code];
  }
}

/** Shorthand: `throw fuseError('ENOENT')`. */
export function fuseError(code: ErrnoName, message?: string): FuseError {
  return new FuseError(code, message);
}

function hasField<K extends string>(value: unknown, key: K): value is Record<K, unknown> {
  return typeof value === 'object' && value !== null && key in value;
}

/**
 * The positive errno to answer with for a thrown value. Order: a known errno name in `code`
 * (as Node's fs errors and FuseError carry), then a numeric `errno` (Node uses negative ones),
 * else EIO.
 */
export function errnoOf(err: unknown): number {
  return carriedErrno(err) ?? errnoCodes.EIO;
}

/** The errno a thrown value carries, or undefined when it carries none (a bug, not a result). */
export function carriedErrno(err: unknown): number | undefined {
  if (hasField(err, 'code') && typeof err.code === 'string') {
    const byName = errnoFromName(err.code);
    if (byName !== undefined) return byName;
  }
  if (hasField(err, 'errno') && typeof err.errno === 'number' && Number.isInteger(err.errno)) {
    const n = Math.abs(err.errno);
    if (n > 0 && errnoName(n) !== undefined) return n;
  }
  return undefined;
}
