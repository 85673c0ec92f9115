// The one table from quorumfs error codes to the errno a FUSE request is answered with
// (docs/errors.md lists the same). Anything that is not a QfsError passes through unchanged, so
// FuseErrors and Node fs errors keep their own errno.

import { QfsError, type ErrorCode } from '../common/errors.js';
import type { ErrnoName } from '../fuse/errno-codes.js';
import { FuseError } from '../fuse/fuse-error.js';

const ERRNO_OF_CODE: Readonly<Record<ErrorCode, ErrnoName>> = {
  NOT_FOUND: 'ENOENT',
  EXISTS: 'EEXIST',
  NOT_DIR: 'ENOTDIR',
  IS_DIR: 'EISDIR',
  NOT_EMPTY: 'ENOTEMPTY',
  NAME_TOO_LONG: 'ENAMETOOLONG',
  INVALID: 'EINVAL',
  PERMISSION: 'EPERM',
  UNAUTHENTICATED: 'EACCES',
  ACCESS: 'EACCES',
  NO_SPACE: 'ENOSPC',
  NO_DATA: 'ENODATA',
  RANGE: 'ERANGE',
  CROSS_DEVICE: 'EXDEV',
  CORRUPT: 'EIO',
  QUORUM_NOT_REACHED: 'EIO',
  UNAVAILABLE: 'EIO',
  TIMEOUT: 'EIO',
  TOO_MANY_REQUESTS: 'EAGAIN',
  FRAME_TOO_LARGE: 'EIO',
  BAD_FRAME: 'EIO',
  UNKNOWN_OPERATION: 'ENOSYS',
  FAULT_INJECTION_DISABLED: 'EPERM',
  NOT_SUPPORTED: 'EOPNOTSUPP',
  INCOMPLETE: 'EIO',
  STALE: 'ESTALE',
  NOT_LEADER: 'EIO',
  ADDRESS_IN_USE: 'EADDRINUSE',
  INTERNAL: 'EIO',
};

/** The error to throw from a FUSE handler for anything a quorumfs call threw. */
export function toFuseError(err: unknown): unknown {
  if (err instanceof QfsError) return new FuseError(ERRNO_OF_CODE[err.code], err.message);
  return err;
}
