// Methods a data server serves. Block bytes travel as the frame payload, never in the header.

import type { AccessPolicy } from '../core/access-policy.js';
import { limits } from '../common/limits.js';
import { checksumStr, empty } from './common-decoders.js';
import { method } from './method.js';
import { array, bool, boundedStr, bytes, literal, object, optional, str, uint } from './schema.js';
import { extentCount } from '../common/checksum.js';

const key = boundedStr(limits.maxKeyBytes);

const blockInfo = object({ key, version: uint, sizeBytes: uint, checksum: checksumStr });

/** Where a listing page ends: the last (key, version) it held. */
export const blockCursor = object({ key, version: uint });

/** Extent indexes of one block, increasing. */
const extents = array(uint, extentCount(limits.maxPayloadBytes));

const verifyResult = object({ status: literal('ok', 'corrupt', 'missing'), checksum: optional(checksumStr) });

const summary = object({ checksum: str, sizeBytes: uint, preview: str });

const serverInfo = object({
  role: str,
  port: uint,
  pid: uint,
  blocks: uint,
  bytes: uint,
  freeBytes: optional(uint),
  /** Size of the file system the blocks are stored on. */
  totalBytes: optional(uint),
  uptimeMs: uint,
  faultInjection: bool,
  /** Cumulative since start: block bytes served and stored, block requests, and the
   * milliseconds spent serving them (the mediator's status page turns them into rates). */
  load: optional(object({ readBytes: uint, writtenBytes: uint, requests: uint, requestMs: uint })),
});

export const dataMethods = {
  /** Stores the payload as (key, version); the payload's checksum must match. */
  put: method('put', object({ key, version: uint, checksum: checksumStr }), empty, true),
  /** Returns the payload of (key, version), or of the highest version held. CORRUPT, NOT_FOUND. */
  get: method('get', object({ key, version: optional(uint) }), object({ version: uint, checksum: checksumStr }), true),
  /** The block's extent table and, as the payload, the extents asked for (concatenated), each
   * checked on the server; the reader checks them again against the block map's checksum. */
  getExtents: method(
    'getExtents',
    object({ key, version: uint, extents }),
    object({ version: uint, checksum: checksumStr, sizeBytes: uint, table: bytes }),
    true,
  ),
  /** verify for some extents of a block: the table and those extents are checked in place. */
  verifyExtents: method('verifyExtents', object({ key, version: uint, extents }), verifyResult, true),
  /** Stores (key, version) as baseVersion with the payload's pieces laid over it; the result's
   * checksum must match. NOT_FOUND without the base. */
  patch: method(
    'patch',
    object({ key, baseVersion: uint, version: uint, checksum: checksumStr, pieces: array(object({ offset: uint, lengthBytes: uint }), limits.maxPiecesPerPatch) }),
    empty,
    true,
  ),
  stat: method('stat', object({ key, version: optional(uint) }), blockInfo, true),
  /** Deletes one version, or every version of the key; absent is not an error. */
  delete: method('delete', object({ key, version: optional(uint) }), object({ removed: uint }), true),
  /** Deletes the versions of a key below the given one. */
  deleteOlderThan: method('deleteOlderThan', object({ key, version: uint }), object({ removed: uint }), true),
  /** One page of the blocks held, in storage order, after the cursor (from the start without
   * one); `next` is the cursor of the following page, absent at the end. A page ends at
   * limits.listPageBytes or `limit` entries, so a million keys cost many small frames. */
  list: method(
    'list',
    object({ after: optional(blockCursor), limit: optional(uint) }),
    object({ entries: array(blockInfo, limits.maxListEntries), next: optional(blockCursor) }),
    true,
  ),
  /** Which of these committed blocks the server lacks (absent, damaged or another checksum)
   * and which it also holds in older versions, from its index: no block is read. */
  have: method(
    'have',
    object({ blocks: array(object({ key, version: uint, checksum: checksumStr }), limits.maxBlocksPerBatch) }),
    object({ lacking: array(uint, limits.maxBlocksPerBatch), older: array(uint, limits.maxBlocksPerBatch) }),
    true,
  ),
  /** verify for many blocks at once: each result is in the order asked. */
  verifyMany: method(
    'verifyMany',
    object({ blocks: array(object({ key, version: uint }), limits.maxBlocksPerBatch) }),
    object({ results: array(verifyResult, limits.maxBlocksPerBatch) }),
    true,
  ),
  /** Reads (key, version) on the server and checks its checksum there: no bytes on the wire. */
  verify: method('verify', object({ key, version: uint }), verifyResult, true),
  heartbeat: method('heartbeat', empty, serverInfo, true),
  corrupt: method(
    'corrupt',
    object({ key, version: optional(uint) }),
    object({ key, version: uint, before: summary, after: summary }),
    false,
  ),
  terminate: method('terminate', empty, empty, false),
} as const;

/** Data servers serve the mediator and the operator's command line. File-system clients read
 * (a mount reads Qr replicas itself and checks them against the block map) and write new block
 * versions (a mount writes its files' blocks to the replicas itself, then commits the block map
 * at the metadata server); they never delete or list replicas. Fault injection also needs the server's --fault-injection flag. */
export const dataAccess: AccessPolicy = {
  defaultRoles: ['server', 'admin'],
  methodRoles: {
    corrupt: ['admin'],
    terminate: ['admin'],
    get: ['server', 'admin', 'client'],
    put: ['server', 'admin', 'client'],
    patch: ['server', 'admin', 'client'],
    verify: ['server', 'admin', 'client'],
    getExtents: ['server', 'admin', 'client'],
    verifyExtents: ['server', 'admin', 'client'],
  },
};
