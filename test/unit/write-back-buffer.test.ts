// The mount's write-back buffer: sequential writes gathered into one send, full extents sent at
// once with a bound on sends in flight, scattered writes sent in batches within the limits of one
// write call, overlapping writes ordered after what they overwrite, and a failed send reported by
// the next flush, once.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { limits } from '../../src/common/limits.js';
import { seededRandom } from '../../src/common/random.js';
import { WriteBackBuffer } from '../../src/mount/write-back-buffer.js';

const T = { sec: 1, nsec: 0 };

/** A fake mediator: applies each send (a batch of extents, all or nothing) to a byte array in
 * the order sends complete. `sends` lists every extent sent; `batches` their grouping. */
function fakeFile(options: { delayMs?: number; failAt?: number } = {}) {
  const sends: Array<{ offset: number; length: number }> = [];
  const batches: Array<Array<{ offset: number; length: number }>> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let content = Buffer.alloc(0);
  const send = async (extents: Array<{ offset: number; data: Buffer }>): Promise<void> => {
    const described = extents.map((e) => ({ offset: e.offset, length: e.data.length }));
    sends.push(...described);
    batches.push(described);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const copies = extents.map((e) => ({ offset: e.offset, data: Buffer.from(e.data) })); // buffers may be reused after the send settles
    await new Promise((r) => setTimeout(r, options.delayMs ?? 0));
    inFlight--;
    if (copies.some((e) => e.offset === options.failAt)) throw new Error('quorum not reached');
    for (const { offset, data } of copies) {
      if (content.length < offset + data.length) content = Buffer.concat([content, Buffer.alloc(offset + data.length - content.length)]);
      data.copy(content, offset);
    }
  };
  return { send, sends, batches, content: () => content, maxInFlight: () => maxInFlight };
}

describe('write-back buffer', () => {
  it('gathers small sequential writes into one send', async () => {
    const file = fakeFile();
    const buffer = new WriteBackBuffer(file.send, 1024 * 1024);
    for (let i = 0; i < 100; i++) await buffer.write(i * 4096, Buffer.alloc(4096, i), T);
    assert.equal(file.sends.length, 0, 'nothing sent before flush');
    assert.deepEqual(buffer.pending.endBytes, 409_600);
    assert.ok(buffer.dirty);
    await buffer.flush();
    assert.deepEqual(file.sends, [{ offset: 0, length: 409_600 }]);
    assert.equal(file.content()[4096 * 57], 57);
    assert.equal(buffer.dirty, false);
  });

  it('sends full extents at once, with a bounded number in flight', async () => {
    const file = fakeFile({ delayMs: 5 });
    const buffer = new WriteBackBuffer(file.send, 64 * 1024);
    for (let i = 0; i < 64; i++) await buffer.write(i * 16 * 1024, Buffer.alloc(16 * 1024, i), T);
    assert.ok(file.sends.length >= 12, `${file.sends.length} sends before flush`);
    await buffer.flush();
    assert.equal(file.sends.length, 16);
    assert.ok(file.maxInFlight() <= limits.maxWriteBackSendsInFlight);
    assert.equal(file.content().length, 1024 * 1024);
    assert.equal(file.content()[63 * 16 * 1024], 63);
  });

  it('orders an overlapping write after the data it overwrites', async () => {
    const file = fakeFile({ delayMs: 2 });
    const buffer = new WriteBackBuffer(file.send, 1024 * 1024);
    await buffer.write(0, Buffer.from('aaaaaaaa'), T);
    await buffer.write(2, Buffer.from('BB'), T);
    await buffer.flush();
    assert.equal(file.content().toString(), 'aaBBaaaa');
  });

  it('reports a failed send at the next flush, once', async () => {
    const file = fakeFile({ failAt: 100 });
    const buffer = new WriteBackBuffer(file.send, 1024 * 1024);
    await buffer.write(0, Buffer.from('ok'), T);
    await buffer.flush();
    await buffer.write(100, Buffer.from('lost'), T);
    await assert.rejects(buffer.flush(), /quorum not reached/);
    await buffer.flush(); // reported once, as close after a failed fsync
    assert.equal(file.content().subarray(0, 2).toString(), 'ok');
    assert.equal(file.content().length, 2, 'the failed batch changed nothing');
  });

  it('sends scattered writes in batches by offset, within the limits of one write call', async () => {
    const file = fakeFile();
    const block = limits.blockSizeBytes;
    const buffer = new WriteBackBuffer(file.send);
    // Two 4 KiB writes in each of 40 blocks, in a scattered order.
    const offsets: number[] = [];
    for (let i = 0; i < 40; i++) offsets.push(((i * 17) % 40) * block + 8192, ((i * 17) % 40) * block);
    for (const [n, offset] of offsets.entries()) await buffer.write(offset, Buffer.alloc(4096, n % 251), T);
    assert.equal(file.sends.length, 0, 'nothing sent before flush');
    await buffer.flush();
    assert.equal(file.sends.length, 80);
    for (const batch of file.batches) {
      const blocks = new Set(batch.map((e) => Math.floor(e.offset / block)));
      assert.ok(blocks.size <= limits.maxBlocksPerWrite, `a batch touches ${blocks.size} blocks`);
      assert.deepEqual(batch.map((e) => e.offset), [...batch.map((e) => e.offset)].sort((a, b) => a - b), 'by offset');
    }
    assert.equal(file.batches.length, Math.ceil(40 / limits.maxBlocksPerWrite));
    for (const [n, offset] of offsets.entries()) assert.equal(file.content()[offset + 4095], n % 251, `write ${n}`);
  });

  it('keeps a burst of 500 random 4 KiB writes over 64 blocks until the flush, which sends each block once', async () => {
    const file = fakeFile();
    const block = limits.blockSizeBytes;
    const buffer = new WriteBackBuffer(file.send);
    const shadow = Buffer.alloc(64 * block);
    const random = seededRandom(7); // the random 4 KiB bench's sequence
    for (let n = 0; n < 500; n++) {
      const offset = Math.floor(random() * 64 * 256) * 4096;
      const data = Buffer.alloc(4096, n % 251);
      await buffer.write(offset, data, T);
      data.copy(shadow, offset);
    }
    assert.equal(file.sends.length, 0, 'nothing sent before the flush');
    await buffer.flush();
    const sentBlocks = file.batches.flatMap((batch) => [...new Set(batch.map((e) => Math.floor(e.offset / block)))]);
    assert.equal(sentBlocks.length, new Set(sentBlocks).size, 'no block in two batches');
    assert.ok(file.content().equals(shadow.subarray(0, file.content().length)), 'the bytes written');
  });
});
