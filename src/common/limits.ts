// Every limit of quorumfs in one place. Passing one is a typed error (QfsError), never unbounded
// memory or an unbounded wait. Units are last in every name.

const KiB = 1024;
const MiB = 1024 * KiB;

export const limits = {
  /** File data is cut into blocks of this size; the last block of a file may be shorter. */
  blockSizeBytes: 1 * MiB,
  /** Largest payload one frame may carry (a block plus room). */
  maxPayloadBytes: 4 * MiB,
  /** Blocks one write call may touch (each is read, merged and held in memory at once). */
  maxBlocksPerWrite: 32,
  /** Extents one write call may carry. */
  maxExtentsPerWrite: 1024,
  /** Kernel readahead a mount asks for (sysfs; root only): whole blocks, several in flight. */
  mountReadaheadBytes: 16 * MiB,
  /** Largest msgpack header of one frame. */
  maxHeaderBytes: 256 * KiB,
  /** Largest whole frame: header plus payload plus the fixed prefix. */
  maxFrameBytes: 4 * MiB + 256 * KiB + 16,
  /** Requests one connection may have outstanding at a server; more get TOO_MANY_REQUESTS. */
  maxInFlightPerConnection: 1024,
  /** Requests a client may have outstanding on one connection before callers wait. */
  maxPendingPerClient: 4096,
  /** Bytes queued for sending on one client connection before callers wait. */
  maxQueuedSendBytes: 64 * MiB,
  /** Connections one server accepts at once. */
  maxConnections: 512,
  /** A directory entry name, in bytes (NAME_MAX). */
  maxNameBytes: 255,
  /** A whole path, in bytes, including the terminating NUL (PATH_MAX). */
  maxPathBytes: 4096,
  /** A symlink target, in bytes. */
  maxSymlinkBytes: 4095,
  /** A block key on a data server. */
  maxKeyBytes: 128,
  /** Extended attributes: name and value sizes (as Linux's XATTR_NAME_MAX / XATTR_SIZE_MAX). */
  maxXattrNameBytes: 255,
  maxXattrValueBytes: 64 * KiB,
  /** Entries returned by one readdir call. */
  maxReaddirEntries: 1024,
  /** Blocks named in one block-map read or commit. */
  maxBlocksPerCall: 4096,
  /** Entries returned by one list-contents page. */
  maxListEntries: 100_000,
  /** Default deadline of a call that has none of its own. */
  defaultCallTimeoutMs: 5_000,
  /** Deadline of connecting to a peer. */
  connectTimeoutMs: 2_000,
  /** Data servers are pinged this often by the mediator. */
  heartbeatIntervalMs: 200,
  /** Heartbeats missed in a row before a data server counts as down. */
  heartbeatMissesBeforeDown: 3,
  /** Verified blocks the mediator keeps in memory for repeated and partial reads. */
  mediatorBlockCacheBytes: 128 * MiB,
  /** A block version nothing refers to is deleted by the scrubber only if two passes at least
   * this far apart saw it so: longer than any write takes to commit. */
  orphanMinAgeMs: 60_000,
  /** A data server with less free space than this counts as full in status (about what one more
   * block takes: its bytes, its header and the file system's rounding). Such a server still
   * takes writes: space may come back. */
  dataServerSpaceReserveBytes: 1 * MiB + 64 * KiB,
  /** Versions the mediator reserves from the metadata server at once. */
  versionReserveBatch: 10_000,
} as const;
