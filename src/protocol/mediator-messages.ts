// Methods the mediator serves to clients (the FUSE mount, the CLI, tests): the namespace methods
// of the metadata server unchanged, plus file data, attributes with truncation, and status.

import type { AccessPolicy } from '../core/access-policy.js';
import { CLUSTER_EVENT_KINDS } from '../core/event-log.js';
import { limits } from '../common/limits.js';
import { blockRef, empty, inodeAttr, name, timespec } from './common-decoders.js';
import { method } from './method.js';
import { heldInodes, namespaceMethods, sessionId, setAttrRequest } from './meta-messages.js';
import { array, bool, int, literal, nullable, object, optional, str, uint } from './schema.js';

const progressShape = {
  totalBlocks: uint,
  doneBlocks: uint,
  failedBlocks: uint,
  totalBytes: uint,
  doneBytes: uint,
  startedMs: uint,
  endedMs: optional(uint),
  etaMs: optional(uint),
  /** The totals are known (a heal's compare is done). */
  compared: optional(bool),
};

const progress = object(progressShape);

const healProgress = object({
  ...progressShape,
  /** Blocks the server still lacks; null until the compare of this attempt is done. */
  lackingBlocks: nullable(uint),
  attempts: uint,
  lastError: optional(str),
  /** Milliseconds until the next attempt, when the last one was incomplete. */
  nextRetryMs: optional(uint),
});

/** The outcome of a heal or scrub pass: complete, or why not in one line. */
const passOutcome = object({ complete: bool, reason: optional(str) });

const serverStatus = object({
  id: str,
  host: str,
  port: uint,
  role: str,
  state: str,
  local: bool,
  pid: optional(uint),
  blocks: optional(uint),
  bytes: optional(uint),
  replaces: optional(str),
  replacedBy: optional(str),
  downReason: optional(str),
  /** Blocks this server lacks: null while not known (a heal has not finished comparing). */
  lackingBlocks: optional(nullable(uint)),
  heal: optional(healProgress),
  /** A data server's file system size and free space, as last reported; absent until known. */
  capacityBytes: optional(uint),
  freeBytes: optional(uint),
  /** A data server whose last put found no space, or with less free space than the reserve.
   * It still takes writes (space may come back). */
  full: optional(bool),
});

const statusReport = object({
  /** `version`: the mediator's quorumfs version (package.json); absent from older mediators. */
  mediator: object({ address: str, pid: uint, readQuorum: uint, writeQuorum: uint, uptimeMs: uint, version: optional(str) }),
  /** With several mediators on etcd: the one that leads (it answers status), host:port. */
  leader: optional(str),
  /** With several mediators on etcd: each one taking part in the election (host:port). */
  mediators: optional(array(str, limits.maxServersListed)),
  servers: array(serverStatus, limits.maxServersListed),
  sparePortsLeft: array(uint, 65536),
  counters: object({
    /** From the metadata server; null when it did not answer. */
    inodes: nullable(uint),
    blocks: nullable(uint),
    bytes: nullable(uint),
    reads: uint,
    writes: uint,
    corruptFound: uint,
    corruptRepaired: uint,
    /** Blocks lacking a good copy on some server that should hold one; null when not known. */
    underReplicated: nullable(uint),
    healedBlocks: uint,
    scrubPasses: uint,
    writeMisses: uint,
    replacements: uint,
    metaRestarts: uint,
    /** Writes planned from what the mediator knew of the file, skipping the metadata read. */
    metaReadsSkipped: optional(uint),
    /** Of those, commits refused because the file had changed meanwhile (redone from the metadata). */
    staleCommits: optional(uint),
    /** Block versions written as patches of the version before (a partial write of a big block). */
    blocksPatched: optional(uint),
    /** Of those, patches too few servers could apply, sent again whole. */
    patchesSentWhole: optional(uint),
  }),
  /** Whether every committed block has its full number of good copies; null when not known. */
  fullyReplicated: nullable(bool),
  scrub: optional(object({ running: bool, progress, complete: optional(bool), reason: optional(str) })),
  /** What the cluster can store (statfs reports the same): see usableSpace in core/capacity.ts. */
  space: optional(object({ capacityBytes: uint, freeBytes: uint })),
  /** The web status page's URL, when the mediator serves one (--http-port). */
  statusPage: optional(str),
});

const clusterEvent = object({
  seq: uint,
  timeMs: uint,
  kind: literal(...CLUSTER_EVENT_KINDS),
  message: str,
  server: optional(str),
});

const eventPage = object({
  events: array(clusterEvent, limits.maxEventsPerPage),
  lastSeq: uint,
  /** Events after `afterSeq` the mediator's ring dropped before they were asked for. */
  missed: optional(uint),
});

export type EventPageReply = ReturnType<typeof eventPage>;

export type StatusReport = ReturnType<typeof statusReport>;
export type ServerStatus = ReturnType<typeof serverStatus>;

export const mediatorMethods = {
  ...namespaceMethods,
  /** Reads up to `size` bytes at `offset`; the reply's payload holds them (short at EOF). */
  read: method('read', object({ ino: uint, offset: uint, size: uint }), object({ atimeUpdated: optional(bool) }), true),
  /** Writes the request's payload at `offset`; returns the new attributes. Not idempotent in
   * general (appends are not), so never retried blindly. */
  write: method('write', object({ ino: uint, offset: uint, time: optional(timespec) }), inodeAttr, false),
  /** Writes several extents as one change: the payload holds their bytes one after the other,
   * `extents` says where each goes (applied in order). At most limits.maxBlocksPerWrite blocks. */
  writev: method(
    'writev',
    object({ ino: uint, extents: array(object({ offset: uint, length: uint }), limits.maxExtentsPerWrite), time: optional(timespec) }),
    inodeAttr,
    false,
  ),
  setattr: method('setattr', object({ ino: uint, attr: setAttrRequest }), inodeAttr, false),
  /** One page of a file's block map from `fromIndex` (0 without it); `nextIndex` is where the
   * next page starts, absent at the end. */
  blockMap: method(
    'blockMap',
    object({ ino: uint, fromIndex: optional(uint) }),
    object({ attr: inodeAttr, blocks: array(blockRef, limits.maxBlocksPerCall), nextIndex: optional(uint) }),
    true,
  ),
  status: method('status', empty, statusReport, true),
  /** Where the metadata server listens: mounts call its namespace methods directly. An
   * unspecified host (0.0.0.0, ::) means the mediator's own. */
  metaServer: method('metaServer', empty, object({ host: str, port: uint }), true),
  /** The quorums and the data servers a mount reads from and writes to itself: every writable
   * server (live, or being healed), `live` when reads count on it. The mount falls back to
   * `read` and `writev` here when anything is not as expected. */
  replicaTargets: method(
    'replicaTargets',
    empty,
    object({
      readQuorum: uint,
      writeQuorum: uint,
      servers: array(object({ id: str, host: str, port: uint, live: bool }), limits.maxServersListed),
    }),
    true,
  ),
  /** Replicas a mount found lacking: a write that reached its quorum without them (`missed`), or
   * a copy a read found bad or missing (`bad`). The mediator repairs them as its own write misses
   * (a version the block map no longer names is dropped; a reported copy that was good is
   * rewritten all the same). */
  reportReplicas: method(
    'reportReplicas',
    object({ replicas: array(object({ key: str, version: uint, server: str, kind: literal('missed', 'bad') }), limits.maxReplicaReports) }),
    empty,
    true,
  ),
  /** Starts a catch-up compare of every data server now; with wait, returns when the attempt
   * ends, saying whether it completed (failed heals are retried in the background anyway). */
  heal: method('heal', object({ wait: bool }), passOutcome, true),
  /** Starts a scrub pass now (or joins the running one); with wait, returns when it ends. */
  scrub: method('scrub', object({ wait: bool }), passOutcome, true),
  /** One page of a file's blocks from `fromIndex`, each with the servers holding a good copy
   * (verified in place); `nextIndex` is where the next page starts, absent at the end. */
  explain: method(
    'explain',
    object({ ino: uint, fromIndex: optional(uint) }),
    object({
      attr: inodeAttr,
      blocks: array(object({ index: uint, version: uint, checksum: str, lengthBytes: uint, good: array(str, 1024), bad: array(object({ server: str, status: str }), 1024) }), limits.maxExplainBlocksPerPage),
      nextIndex: optional(uint),
    }),
    true,
  ),
  /** The mediator's recent cluster events numbered above `afterSeq` (from the oldest it keeps
   * without it), at most limits.maxEventsPerPage. With `waitMs`, when there is none yet, waits up
   * to that long (at most limits.maxEventWaitMs, and short of the call's deadline) for one. */
  events: method('events', object({ afterSeq: optional(uint), waitMs: optional(uint) }), eventPage, true),
  ping: method('ping', empty, object({ pid: int }), true),
  /** A data server started with --join names itself (its host:port as the cluster reaches it);
   * any mediator on etcd records it, and the leader makes it a member (or, `spare`, a standby
   * for the next replacement). Joining again changes nothing. */
  join: method('join', object({ host: str, port: uint, spare: bool, metrics: optional(object({ host: str, port: uint })) }), empty, true),
  /** Open files (see docs/open-files.md). `open`: the inode's attributes, and the inode held for
   * the session until `close`, in one call, so an unlink from another mount after the open has
   * returned cannot free its data. Both bind the session to the calling connection. */
  open: method('open', object({ ino: uint, session: sessionId }), inodeAttr, true),
  close: method('close', object({ ino: uint, session: sessionId }), empty, true),
  /** Binds the session to this connection (a mount's first call, and again after every
   * reconnect) and makes `inos` its whole set of holds: the inodes it has open. `missing`: the
   * ones that no longer exist (the session was gone long enough to lose them). */
  attachSession: method('attachSession', object({ session: sessionId, inos: heldInodes }), object({ missing: heldInodes }), true),
} as const;

/** The mediator serves everyone authenticated; starting heal and scrub passes (cluster-wide
 * work) is for the operator. */
export const mediatorAccess: AccessPolicy = {
  defaultRoles: ['client', 'admin', 'server'],
  methodRoles: { heal: ['admin', 'server'], scrub: ['admin', 'server'], join: ['server'] },
};

/** Event pushed to clients: cached attributes of `inodes` and the named entries are stale.
 * Names in it are sent as names are (wire-names.ts: bin when not text). */
export const INVALIDATE_EVENT = 'invalidate';
export const invalidateEvent = object({
  inodes: array(uint, 64),
  entries: array(object({ parent: uint, name }), 64),
});
