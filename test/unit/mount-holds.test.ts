// The mount's side of holds on open files (QuorumfsFs against a scripted mediator): the hold
// rides on the open's own call, the release goes at the last close only and in the background,
// a reopen waits for a release still in flight, a failed open releases what it may have held,
// and attachSession restates exactly the inodes open.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import { S_IFREG, type InodeAttr } from '../../src/common/types.js';
import type { RequestContext } from '../../src/fuse/fuse-operations.js';
import { QuorumfsFs } from '../../src/mount/quorumfs-fs.js';
import type { Method } from '../../src/protocol/method.js';

const SESSION = 'mount-under-test';
const ctx: RequestContext = { uid: 0, gid: 0, pid: 1, umask: 0o22 };

function attrOf(ino: number): InodeAttr {
  const t = { sec: 1, nsec: 0 };
  return { ino, mode: S_IFREG | 0o644, uid: 0, gid: 0, size: 0, nlink: 1, rdev: 0, atime: t, mtime: t, ctime: t, generation: 1 };
}

/** A mediator that records every call; `close` calls wait until the test lets them answer. */
function scriptedMediator() {
  const calls: Array<{ op: string; args: Record<string, unknown> }> = [];
  const pendingCloses: Array<() => void> = [];
  let failOpens = false;
  const rpc = {
    call: async (m: Method<unknown, unknown>, args: Record<string, unknown>): Promise<unknown> => {
      calls.push({ op: m.name, args });
      switch (m.name) {
        case 'open':
          if (failOpens) throw new Error('no answer');
          return attrOf(args['ino'] as number);
        case 'close':
          await new Promise<void>((resolve) => pendingCloses.push(resolve));
          return {};
        case 'attachSession':
          return { missing: [] };
        default:
          throw new Error(`unexpected call ${m.name}`);
      }
    },
  };
  const client = { rpc } as unknown as QuorumfsClient;
  return {
    client,
    calls,
    ops: () => calls.map((c) => `${c.op}:${String(c.args['ino'] ?? (c.args['inos'] as number[]).join(','))}`),
    answerCloses: () => pendingCloses.splice(0).forEach((resolve) => resolve()),
    failOpens: (fail: boolean) => (failOpens = fail),
  };
}

function fsWith(client: QuorumfsClient): QuorumfsFs {
  return new QuorumfsFs({ client, attrTimeoutSec: 1, entryTimeoutSec: 1, now: () => ({ sec: 1, nsec: 0 }), session: SESSION });
}

const release = (ino: number, fh: number) => ({ ino, fh, flags: 0, flush: false, flockRelease: false, lockOwner: 0n });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('holds on the mount', () => {
  it('holds with the open call itself and releases at the last close only, without waiting for it', async () => {
    const m = scriptedMediator();
    const fs = fsWith(m.client);
    const a = await fs.open(ctx, { ino: 5, flags: 0 });
    const b = await fs.open(ctx, { ino: 5, flags: 0 });
    assert.deepEqual(m.ops(), ['open:5', 'open:5']);
    assert.ok(m.calls.every((c) => c.op !== 'open' || c.args['session'] === SESSION));
    await fs.release(ctx, release(5, a.fh));
    assert.deepEqual(m.ops(), ['open:5', 'open:5'], 'a handle is still open: no release');
    await fs.release(ctx, release(5, b.fh)); // answers although the mediator has not answered the release
    assert.deepEqual(m.ops(), ['open:5', 'open:5', 'close:5']);
    m.answerCloses();
  });

  it('a reopen waits for the release still in flight, so the release cannot drop the new hold', async () => {
    const m = scriptedMediator();
    const fs = fsWith(m.client);
    const a = await fs.open(ctx, { ino: 7, flags: 0 });
    await fs.release(ctx, release(7, a.fh));
    const reopen = fs.open(ctx, { ino: 7, flags: 0 });
    await tick();
    assert.deepEqual(m.ops(), ['open:7', 'close:7'], 'the open is not sent before the release is answered');
    m.answerCloses();
    await reopen;
    assert.deepEqual(m.ops(), ['open:7', 'close:7', 'open:7']);
  });

  it('a failed open releases what it may have held; attachSession restates exactly the open inodes', async () => {
    const m = scriptedMediator();
    const fs = fsWith(m.client);
    await fs.open(ctx, { ino: 1, flags: 0 });
    await fs.open(ctx, { ino: 2, flags: 0 });
    m.failOpens(true);
    await assert.rejects(fs.open(ctx, { ino: 3, flags: 0 }));
    assert.deepEqual(m.ops(), ['open:1', 'open:2', 'open:3', 'close:3']);
    m.answerCloses();
    await fs.attachSession();
    assert.deepEqual(m.ops().at(-1), 'attachSession:1,2');
  });
});
