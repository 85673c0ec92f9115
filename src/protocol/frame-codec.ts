// The wire frame, version 1. Every message between quorumfs processes is one frame:
//   u32 BE  frameLength   bytes after this field
//   u8      protocolVersion (1)
//   u8      kind          1 request, 2 response, 3 event
//   u32 BE  headerLength
//   bytes   header        msgpack
//   bytes   payload       raw bytes (block data), frameLength - 6 - headerLength of them
// The decoder never buffers more than one frame beyond limits.maxFrameBytes: a longer declared
// length is FRAME_TOO_LARGE before its bytes arrive.

import { Packr } from 'msgpackr';
import { qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';

const PROTOCOL_VERSION = 1;
const FRAME_PREFIX_BYTES = 10;

export type FrameKind = 1 | 2 | 3;
export const FRAME_REQUEST: FrameKind = 1;
export const FRAME_RESPONSE: FrameKind = 2;
export const FRAME_EVENT: FrameKind = 3;

/** The event a server sends on a busy connection to show it is alive (limits.rpcKeepaliveMs):
 * header {event: 'keepalive', data: null}, no payload. A peer that knows no such event ignores
 * it, as it does every event it does not know. */
export const KEEPALIVE_EVENT = 'keepalive';

interface Frame {
  kind: FrameKind;
  /** The decoded msgpack header; its shape is checked by the message layer, not here. */
  header: unknown;
  /** The raw payload; a view into a buffer the decoder no longer uses, owned by the receiver. */
  payload: Buffer;
}

// Plain maps decode as plain objects; no records/structures extension so peers in other
// languages could speak the protocol with any msgpack library.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

interface FrameLimits {
  maxFrameBytes: number;
  maxHeaderBytes: number;
}

const defaultLimits: FrameLimits = { maxFrameBytes: limits.maxFrameBytes, maxHeaderBytes: limits.maxHeaderBytes };

/** Encodes a frame's prefix and header into one buffer; the payload is sent after it as is, so
 * a 1 MiB block is never copied. Throws FRAME_TOO_LARGE if the result would exceed the limits. */
export function encodeFrameHead(
  kind: FrameKind,
  header: unknown,
  payloadBytes: number,
  frameLimits: FrameLimits = defaultLimits,
): Buffer {
  const headerBytes = packr.pack(header);
  if (headerBytes.length > frameLimits.maxHeaderBytes) {
    throw qfsError('FRAME_TOO_LARGE', `frame header of ${headerBytes.length} bytes exceeds ${frameLimits.maxHeaderBytes}`);
  }
  const frameLength = 6 + headerBytes.length + payloadBytes;
  if (frameLength + 4 > frameLimits.maxFrameBytes) {
    throw qfsError('FRAME_TOO_LARGE', `frame of ${frameLength + 4} bytes exceeds ${frameLimits.maxFrameBytes}`);
  }
  const head = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + headerBytes.length);
  head.writeUInt32BE(frameLength, 0);
  head.writeUInt8(PROTOCOL_VERSION, 4);
  head.writeUInt8(kind, 5);
  head.writeUInt32BE(headerBytes.length, 6);
  headerBytes.copy(head, FRAME_PREFIX_BYTES);
  return head;
}

/** One contiguous frame (for tests and small messages). */
export function encodeFrame(kind: FrameKind, header: unknown, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  return Buffer.concat([encodeFrameHead(kind, header, payload.length), payload]);
}

/** Incremental decoder: push() chunks as they arrive, get whole frames back. After it throws
 * (BAD_FRAME or FRAME_TOO_LARGE) the stream is out of sync and the connection must be closed. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly frameLimits: FrameLimits;

  constructor(frameLimits: FrameLimits = defaultLimits) {
    this.frameLimits = frameLimits;
  }

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  private next(): Frame | undefined {
    if (this.bufferedBytes < 4) return undefined;
    const frameLength = this.peekUInt32();
    if (frameLength + 4 > this.frameLimits.maxFrameBytes) {
      throw qfsError('FRAME_TOO_LARGE', `frame of ${frameLength + 4} bytes exceeds ${this.frameLimits.maxFrameBytes}`);
    }
    if (frameLength < 6) throw qfsError('BAD_FRAME', `frame length ${frameLength} is shorter than its prefix`);
    if (this.bufferedBytes < frameLength + 4) return undefined;
    const bytes = this.take(frameLength + 4);
    return decodeFrameBody(bytes, this.frameLimits);
  }

  private peekUInt32(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    return Buffer.concat(this.chunks, 4).readUInt32BE(0);
  }

  /** Removes and returns exactly n bytes from the front of the buffered chunks. */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.chunks[0]!;
        const used = Math.min(chunk.length, n - filled);
        chunk.copy(out, filled, 0, used);
        filled += used;
        if (used === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(used);
      }
    }
    this.bufferedBytes -= n;
    return out;
  }
}

function decodeFrameBody(bytes: Buffer, frameLimits: FrameLimits): Frame {
  const version = bytes.readUInt8(4);
  if (version !== PROTOCOL_VERSION) {
    throw qfsError('BAD_FRAME', `protocol version ${version} is not supported (this peer speaks ${PROTOCOL_VERSION})`);
  }
  const kind = bytes.readUInt8(5);
  if (kind !== FRAME_REQUEST && kind !== FRAME_RESPONSE && kind !== FRAME_EVENT) {
    throw qfsError('BAD_FRAME', `unknown frame kind ${kind}`);
  }
  const headerLength = bytes.readUInt32BE(6);
  if (headerLength > frameLimits.maxHeaderBytes || FRAME_PREFIX_BYTES + headerLength > bytes.length) {
    throw qfsError('BAD_FRAME', `header length ${headerLength} does not fit the frame`);
  }
  let header: unknown;
  try {
    header = packr.unpack(bytes.subarray(FRAME_PREFIX_BYTES, FRAME_PREFIX_BYTES + headerLength));
  } catch (err) {
    throw qfsError('BAD_FRAME', 'frame header is not valid msgpack', err);
  }
  return { kind, header, payload: bytes.subarray(FRAME_PREFIX_BYTES + headerLength) };
}
