// Block versions freed at the metadata server reach the mediator in events of bounded size,
// however large the file: an unlink of a file of 30,000 blocks (a 30 GiB file) used to answer
// with every freed version in its reply, a frame header over limits.maxHeaderBytes, so the
// committed unlink came back FRAME_TOO_LARGE and nothing was deleted. Replies carry none now.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checksumOf } from '../../src/common/checksum.js';
import { limits } from '../../src/common/limits.js';
import { createLogger } from '../../src/common/logger.js';
import { ROOT_INO, S_IFREG, type OrphanBlock } from '../../src/common/types.js';
import { ORPHANS_EVENT, metaMethods, orphansEvent } from '../../src/protocol/meta-messages.js';
import { MetaServer } from '../../src/services/meta-server.js';
import { RpcClient } from '../../src/transport/rpc-client.js';

const BLOCKS = 30_000;

describe('freed block versions at size', { timeout: 120_000 }, () => {
  let dir: string;
  let server: MetaServer;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'qfs-meta-orphans-'));
    server = await MetaServer.start({ address: { host: '127.0.0.1', port: 0 }, dir, logger: createLogger('meta-server', {}) });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`an unlink of a file of ${BLOCKS.toLocaleString('en')} blocks answers, and the mediator hears of every version in bounded events`, async () => {
    const events: OrphanBlock[][] = [];
    const mediator = new RpcClient(server.address, { plaintext: true, onEvent: (event, data) => event === ORPHANS_EVENT && events.push(orphansEvent(data, 'event').orphans) });
    const mount = new RpcClient(server.address, { plaintext: true });
    try {
      await mediator.call(metaMethods.watchOrphans, {});
      const f = await mount.call(metaMethods.create, { parent: ROOT_INO, name: 'huge', mode: S_IFREG | 0o644, caller: { uid: 0, gid: 0 }, exclusive: true });
      const checksum = checksumOf(Buffer.from('x'));
      for (let from = 0; from < BLOCKS; from += limits.maxBlocksPerCall) {
        const count = Math.min(BLOCKS, from + limits.maxBlocksPerCall) - from;
        const { first } = await mediator.call(metaMethods.reserveVersions, { count });
        const blocks = [];
        for (let i = 0; i < count; i++) blocks.push({ index: from + i, version: first + i, checksum, lengthBytes: 1 });
        const time = { sec: 1, nsec: 0 };
        await mediator.call(metaMethods.commitBlocks, { ino: f.ino, blocks, sizeBytes: (from + blocks.length - 1) * limits.blockSizeBytes + 1, time });
      }
      const unlinked = await mount.call(metaMethods.unlink, { parent: ROOT_INO, name: 'huge' });
      assert.deepEqual(unlinked.orphans, [], 'the reply carries no freed versions');
      await new Promise((r) => setTimeout(r, 200));
      const freed = events.flat().filter((o) => o.ino === f.ino);
      assert.equal(freed.length, BLOCKS);
      assert.equal(new Set(freed.map((o) => o.version)).size, BLOCKS);
      assert.ok(events.every((e) => e.length <= limits.maxOrphansPerEvent), 'each event bounded');
    } finally {
      mediator.close();
      mount.close();
    }
  });
});
