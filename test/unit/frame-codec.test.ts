// The frame codec: round trips, limits, garbage, and a property that any split of a stream of
// frames into chunks decodes to the same frames.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { QfsError } from '../../src/common/errors.js';
import { FRAME_REQUEST, FRAME_RESPONSE, FrameDecoder, encodeFrame } from '../../src/protocol/frame-codec.js';

const seed = Number(process.env['QFS_SEED'] ?? 42);

function codeOfThrown(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof QfsError ? err.code : 'not a QfsError';
  }
  return 'no error';
}

describe('frame codec', () => {
  it('round-trips header and payload', () => {
    const payload = Buffer.from('hello block');
    const frames = new FrameDecoder().push(encodeFrame(FRAME_REQUEST, { id: 7, op: 'put', args: { key: 'a:0' } }, payload));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.kind, FRAME_REQUEST);
    assert.deepEqual(frames[0]!.header, { id: 7, op: 'put', args: { key: 'a:0' } });
    assert.deepEqual(frames[0]!.payload, payload);
  });

  it('keeps a partial frame until the rest arrives', () => {
    const bytes = encodeFrame(FRAME_RESPONSE, { id: 1, ok: true }, Buffer.alloc(1000, 7));
    const decoder = new FrameDecoder();
    assert.equal(decoder.push(bytes.subarray(0, 3)).length, 0);
    assert.equal(decoder.push(bytes.subarray(3, 500)).length, 0);
    const frames = decoder.push(bytes.subarray(500));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.payload.length, 1000);
    assert.equal(decoder.pendingBytes, 0);
  });

  it('refuses a declared length over the limit before buffering it', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 1024, maxHeaderBytes: 512 });
    const prefix = Buffer.alloc(10);
    prefix.writeUInt32BE(10_000_000, 0);
    assert.equal(codeOfThrown(() => decoder.push(prefix)), 'FRAME_TOO_LARGE');
  });

  it('refuses to encode an oversized frame', () => {
    assert.equal(
      codeOfThrown(() => encodeFrame(FRAME_REQUEST, { id: 1 }, Buffer.alloc(64 * 1024 * 1024))),
      'FRAME_TOO_LARGE',
    );
  });

  it('rejects a wrong protocol version, a bad kind, a bad header length and bad msgpack', () => {
    const good = encodeFrame(FRAME_REQUEST, { id: 1 });
    const version = Buffer.from(good);
    version.writeUInt8(99, 4);
    assert.equal(codeOfThrown(() => new FrameDecoder().push(version)), 'BAD_FRAME');
    const kind = Buffer.from(good);
    kind.writeUInt8(9, 5);
    assert.equal(codeOfThrown(() => new FrameDecoder().push(kind)), 'BAD_FRAME');
    const headerLength = Buffer.from(good);
    headerLength.writeUInt32BE(1_000, 6);
    assert.equal(codeOfThrown(() => new FrameDecoder().push(headerLength)), 'BAD_FRAME');
    const garbage = Buffer.from(good);
    garbage.fill(0xc1, 10); // 0xc1 is never used in msgpack
    assert.equal(codeOfThrown(() => new FrameDecoder().push(garbage)), 'BAD_FRAME');
    const short = Buffer.alloc(8);
    short.writeUInt32BE(2, 0);
    assert.equal(codeOfThrown(() => new FrameDecoder().push(short)), 'BAD_FRAME');
  });

  it('decodes any split of a stream of frames into the same frames (property)', () => {
    const frameArb = fc.record({
      kind: fc.constantFrom(1 as const, 2 as const, 3 as const),
      header: fc.record({ id: fc.nat(), op: fc.string({ maxLength: 20 }), n: fc.integer() }),
      payload: fc.uint8Array({ maxLength: 3000 }),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f.kind, f.header, f.payload)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const decoder = new FrameDecoder();
        const out = [];
        let start = 0;
        for (const point of [...points, stream.length]) {
          out.push(...decoder.push(stream.subarray(start, point)));
          start = point;
        }
        assert.equal(out.length, frames.length);
        out.forEach((frame, i) => {
          assert.equal(frame.kind, frames[i]!.kind);
          assert.deepEqual(frame.header, { ...frames[i]!.header }); // fast-check records have no prototype
          assert.deepEqual(new Uint8Array(frame.payload), frames[i]!.payload);
        });
        assert.equal(decoder.pendingBytes, 0);
      }),
      { seed, numRuns: 300 },
    );
  });
});
