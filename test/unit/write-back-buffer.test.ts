// The mount's write-back buffer: sequential writes gathered into one send, full extents sent at
// once with a bound on sends in flight, overlapping writes ordered after what they overwrite,
// and a failed send reported by the next flush, once.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SENDS_IN_FLIGHT, WriteBackBuffer } from '../../src/fuse/write-back-buffer.js';

const T = { sec: 1, nsec: 0 };

/** A fake mediator: applies sends to a byte array in the order they complete. */
function fakeFile(options: { delayMs?: number; failAt?: number } = {}) {
  const sends: Array<{ offset: number; length: number }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let content = Buffer.alloc(0);
  const send = async (offset: number, data: Buffer): Promise<void> => {
    sends.push({ offset, length: data.length });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const copy = Buffer.from(data); // the buffer may be reused after the send settles
    await new Promise((r) => setTimeout(r, options.delayMs ?? 0));
    inFlight--;
    if (options.failAt === offset) throw new Error('quorum not reached');
    if (content.length < offset + copy.length) content = Buffer.concat([content, Buffer.alloc(offset + copy.length - content.length)]);
    copy.copy(content, offset);
  };
  return { send, sends, content: () => content, maxInFlight: () => maxInFlight };
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
    assert.ok(file.maxInFlight() <= MAX_SENDS_IN_FLIGHT);
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
    await buffer.write(100, Buffer.from('lost'), T);
    await assert.rejects(buffer.flush(), /quorum not reached/);
    await buffer.flush(); // reported once, as close after a failed fsync
    assert.equal(file.content().subarray(0, 2).toString(), 'ok');
  });
});
