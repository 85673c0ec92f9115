// The block maps a mount keeps (direct-read.ts), at size: reading 30,000 files keeps the maps of
// the last limits.mountBlockMapsKept only (an older one is fetched again, a recent one is not),
// and forgetting 30,000 other files still leaves the map of a file read afterwards kept.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { limits } from '../../src/common/limits.js';
import { S_IFREG, type InodeAttr } from '../../src/common/types.js';
import { DirectReader } from '../../src/mount/direct-read.js';
import { ReplicaTargets } from '../../src/mount/replica-targets.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import { metaMethods } from '../../src/protocol/meta-messages.js';
import type { Method } from '../../src/protocol/method.js';
import type { RpcChannel } from '../../src/transport/rpc-channel.js';

const FILES = 30_000;
const T = { sec: 1_700_000_000, nsec: 0 };
/** Read just now, after its last change: no relatime mark is due. */
const READ_AT = { sec: T.sec + 10, nsec: 0 };

/** An empty regular file: nothing to fetch from data servers, only its map. */
function emptyFile(ino: number): InodeAttr {
  return { ino, mode: S_IFREG | 0o644, nlink: 1, uid: 0, gid: 0, rdev: 0, size: 0, atime: READ_AT, mtime: T, ctime: T, generation: 1 };
}

function channel(answer: (name: string, args: Record<string, unknown>) => unknown): RpcChannel {
  return {
    call: async <A, R>(m: Method<A, R>, args: A) => answer(m.name, args as Record<string, unknown>) as R,
    callWithPayload: () => Promise.reject(new Error('not used')),
  };
}

describe("a mount's block maps at size", () => {
  it('keeps the maps of the files read last, up to its bound, and forgets of many others do not stop it keeping more', async () => {
    const fetched = new Map<number, number>();
    const meta = channel((name, args) => {
      assert.equal(name, metaMethods.getBlocks.name);
      const ino = args['ino'] as number;
      fetched.set(ino, (fetched.get(ino) ?? 0) + 1);
      return { attr: emptyFile(ino), blocks: [] };
    });
    const mediator = channel((name) => {
      assert.equal(name, mediatorMethods.replicaTargets.name);
      return { readQuorum: 1, writeQuorum: 1, servers: [] };
    });
    const targets = new ReplicaTargets({ mediator, connect: () => assert.fail('no server to connect to'), ttlMs: 1_000, nowMs: () => 0 });
    // Time stands still: every kept map stays fresh, so only the bound drops one.
    const reader = new DirectReader({ meta, targets, blockSizeBytes: limits.blockSizeBytes, cacheBytes: limits.mountBlockCacheBytes, random: Math.random, now: () => READ_AT, mapTtlMs: 1_000, nowMs: () => 0 });
    const read = async (ino: number): Promise<void> => {
      const got = await reader.read(ino, 0, 4096);
      assert.equal(got?.data.length, 0, `inode ${ino}`);
    };
    for (let ino = 1; ino <= FILES; ino++) await read(ino);
    assert.equal(fetched.size, FILES);
    await read(FILES); // the last one read: kept
    assert.equal(fetched.get(FILES), 1);
    await read(FILES - limits.mountBlockMapsKept + 1); // the oldest still kept
    assert.equal(fetched.get(FILES - limits.mountBlockMapsKept + 1), 1);
    await read(1); // long dropped: fetched again
    assert.equal(fetched.get(1), 2);

    for (let ino = FILES + 1; ino <= 2 * FILES; ino++) reader.forget(ino);
    const next = 2 * FILES + 1;
    await read(next);
    await read(next);
    assert.equal(fetched.get(next), 1, 'a map fetched after many forgets is kept');
    targets.close();
  });
});
