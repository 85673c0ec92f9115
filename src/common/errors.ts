// One error type for all of quorumfs. Codes are stable strings: they cross the wire (classes do
// not) and one table (src/mount/errno.ts) maps them to errno at the FUSE edge. docs/errors.md lists
// every code with its meaning and whether a call failing with it is safe to retry.

const ERROR_CODES = [
  'NOT_FOUND', // no such inode, entry or block
  'EXISTS', // name already taken
  'NOT_DIR', // a path component or target is not a directory
  'IS_DIR', // a directory where a non-directory is required
  'NOT_EMPTY', // rmdir or rename onto a non-empty directory
  'NAME_TOO_LONG', // a name over limits.maxNameBytes or a path over limits.maxPathBytes
  'INVALID', // a malformed argument or message
  'PERMISSION', // the operation is not permitted (EPERM), e.g. to the caller's role
  'UNAUTHENTICATED', // no credentials for the peer, or the TLS-PSK handshake refused them
  'ACCESS', // access denied by mode bits (EACCES)
  'NO_SPACE', // a store is full; on a write: too few data servers had room for the quorum
  'NO_DATA', // no such extended attribute
  'RANGE', // a reply does not fit the caller's buffer
  'CROSS_DEVICE', // link or rename across file systems
  'CORRUPT', // stored bytes do not match their checksum
  'QUORUM_NOT_REACHED', // fewer replicas answered than the quorum needs (not for lack of space)
  'UNAVAILABLE', // the peer cannot be reached or went away
  'TIMEOUT', // the call's deadline passed
  'TOO_MANY_REQUESTS', // the peer's in-flight limit is reached
  'FRAME_TOO_LARGE', // a frame over limits.maxFrameBytes
  'BAD_FRAME', // a frame that does not decode
  'UNKNOWN_OPERATION', // a request for an operation the peer does not serve
  'FAULT_INJECTION_DISABLED', // corrupt/terminate on a server started without --fault-injection
  'NOT_SUPPORTED', // valid but not implemented by this peer
  'INCOMPLETE', // a heal or scrub pass ended without doing all it had to (it is retried)
  'STALE', // a conditional commit found the inode changed since the write was planned; nothing committed
  'NOT_LEADER', // this mediator (or its metadata server) does not lead the cluster now: ask another
  'ADDRESS_IN_USE', // a server was to listen on a port that something else holds
  'INTERNAL', // a bug: an invariant failed
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const codeSet: ReadonlySet<string> = new Set(ERROR_CODES);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && codeSet.has(value);
}

/** Codes after which the same call may be sent again without changing its outcome. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['UNAVAILABLE', 'TIMEOUT', 'TOO_MANY_REQUESTS']);

export class QfsError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QfsError';
    this.code = code;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

export function qfsError(code: ErrorCode, message: string, cause?: unknown): QfsError {
  return new QfsError(code, message, cause === undefined ? undefined : { cause });
}

/** The code of any thrown value: a QfsError keeps its code, anything else is INTERNAL. */
export function codeOf(err: unknown): ErrorCode {
  return err instanceof QfsError ? err.code : 'INTERNAL';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Wraps anything thrown into a QfsError, keeping QfsErrors as they are. */
export function asQfsError(err: unknown): QfsError {
  if (err instanceof QfsError) return err;
  return new QfsError('INTERNAL', messageOf(err), { cause: err });
}
