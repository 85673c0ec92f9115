// Garbage on the wire: malformed frames, oversized frames, unknown operations and bad arguments
// get an error reply or a closed connection, and the server keeps serving everyone else. The
// garbage is sent inside an authenticated TLS connection (the owner's credentials), where the
// frame layer sees it; without TLS a peer is dropped at the handshake (security.test.ts).

import assert from 'node:assert/strict';
import { findClusterCredentials } from '../../src/common/credential-store.js';
import { dial } from '../../src/transport/secure-socket.js';
import { after, before, describe, it } from 'node:test';
import { FRAME_REQUEST, FRAME_RESPONSE, FrameDecoder, encodeFrame } from '../../src/protocol/frame-codec.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';

interface Exchange {
  frames: Array<{ kind: number; header: unknown }>;
  closed: boolean;
}

/** Sends raw bytes and collects reply frames until the server closes or `waitMs` passes. */
async function exchange(port: number, bytes: Buffer, waitMs = 500): Promise<Exchange> {
  const credential = await findClusterCredentials({ host: '127.0.0.1', port });
  return new Promise((resolve) => {
    const { socket, readyEvent } = dial({ host: '127.0.0.1', port }, { kind: 'psk', credential });
    const decoder = new FrameDecoder();
    const result: Exchange = { frames: [], closed: false };
    socket.on('data', (chunk) => {
      for (const f of decoder.push(chunk)) result.frames.push({ kind: f.kind, header: f.header });
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      result.closed = true;
      clearTimeout(timer);
      resolve(result);
    });
    let timer: NodeJS.Timeout | undefined;
    // The wait starts once the handshake is done: only the frame layer's answer is timed.
    socket.once(readyEvent, () => {
      timer = setTimeout(() => {
        socket.destroy();
        resolve(result);
      }, waitMs);
      socket.write(bytes);
    });
  });
}

function errorCode(frame: { header: unknown } | undefined): unknown {
  return (frame?.header as { code?: unknown } | undefined)?.code;
}

describe('garbage in', () => {
  let cluster: Cluster;
  const targets: Array<[string, () => number]> = [
    ['mediator', () => cluster.mediatorPort],
    ['data server', () => cluster.dataPorts[0]!],
    ['metadata server', () => cluster.metaPort],
  ];
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 1, dataServers: 1 });
  });
  after(() => cluster.stop());

  for (const [name, port] of targets) {
    it(`${name}: a malformed frame gets BAD_FRAME and a closed connection`, async () => {
      const r = await exchange(port(), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      assert.equal(r.frames[0]?.kind, FRAME_RESPONSE);
      assert.match(String(errorCode(r.frames[0])), /BAD_FRAME|FRAME_TOO_LARGE/);
      assert.ok(r.closed);
    });

    it(`${name}: an oversized frame is refused before its bytes are buffered`, async () => {
      const prefix = Buffer.alloc(10);
      prefix.writeUInt32BE(0xfffffff0, 0);
      const r = await exchange(port(), prefix);
      assert.equal(errorCode(r.frames[0]), 'FRAME_TOO_LARGE');
      assert.ok(r.closed);
    });

    it(`${name}: an unknown operation and bad arguments get typed errors on a live connection`, async () => {
      const bytes = Buffer.concat([
        encodeFrame(FRAME_REQUEST, { id: 1, op: 'launchMissiles', args: {} }),
        encodeFrame(FRAME_REQUEST, { id: 2, op: 'getattr', args: { ino: 'one' } }),
        encodeFrame(FRAME_REQUEST, { id: 3, op: 'get', args: { key: 5 } }),
        encodeFrame(FRAME_REQUEST, { nope: true }),
      ]);
      const r = await exchange(port(), bytes);
      assert.equal(r.frames.length, 4);
      assert.equal(errorCode(r.frames[0]), 'UNKNOWN_OPERATION');
      assert.match(String(errorCode(r.frames[1])), /INVALID|UNKNOWN_OPERATION/);
      assert.match(String(errorCode(r.frames[2])), /INVALID|UNKNOWN_OPERATION/);
      assert.equal(errorCode(r.frames[3]), 'INVALID');
      assert.equal(r.closed, false);
    });
  }

  it('keeps serving after all of that', async () => {
    await cluster.client.writeFile('/ok', Buffer.from('fine'));
    assert.deepEqual(await cluster.client.readFile('/ok'), Buffer.from('fine'));
  });
});
