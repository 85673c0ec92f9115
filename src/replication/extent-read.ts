// One quorum read of some extents of a block version, shared by the mediator (a patch's base)
// and the mount (a random read): one server sends the extents, the others check theirs in place,
// and what was sent is checked here again, each extent against the version's table and the table
// against the block map's checksum. Only the case where all is well is served: the caller falls
// back to reading the block whole, which widens, votes and repairs.

import { verifiedExtents } from '../common/checksum.js';
import { dataMethods } from '../protocol/data-messages.js';
import type { RpcChannel } from '../transport/rpc-channel.js';

export interface ExtentRead {
  key: string;
  version: number;
  /** The block map's checksum and length of the version. */
  checksum: string;
  sizeBytes: number;
  /** Increasing extent indexes. */
  extents: number[];
}

/** The version's table and the extents asked for, in order; undefined if any copy asked did not
 * match the block map. Call errors (a server unreachable, missing the version) are thrown. */
export async function readCheckedExtents(
  reader: RpcChannel,
  checkers: readonly RpcChannel[],
  read: ExtentRead,
  timeoutMs?: number,
): Promise<{ table: Buffer; parts: Buffer[] } | undefined> {
  const args = { key: read.key, version: read.version, extents: read.extents };
  const [got, ...checks] = await Promise.all([
    reader.callWithPayload(dataMethods.getExtents, args, { timeoutMs }),
    ...checkers.map((server) => server.call(dataMethods.verifyExtents, args, { timeoutMs })),
  ]);
  if (got.result.version !== read.version || checks.some((c) => c.status !== 'ok' || c.checksum !== read.checksum)) return undefined;
  const parts = verifiedExtents(read.checksum, read.sizeBytes, got.result.table, read.extents, got.payload);
  return parts && { table: Buffer.from(got.result.table), parts };
}
