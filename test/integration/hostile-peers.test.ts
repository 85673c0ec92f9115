// Hostile peers against a real cluster (mediator, metadata server and data server, each its own
// process): a seeded fuzz of malformed frames and malformed messages, a slow reader, a slow
// writer, an idle connection and a flood of connections from one address. Throughout, a
// well-behaved client is served correctly and each server's resident memory stays bounded.
// Replay a run with QFS_SEED=<seed>; the bounds are shrunk through QFS_TEST_* so this file runs
// in well under a minute.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { checksumOf } from '../../src/common/checksum.js';
import { isErrorCode } from '../../src/common/errors.js';
import { dataMethods } from '../../src/protocol/data-messages.js';
import { FRAME_EVENT, FRAME_REQUEST, FRAME_RESPONSE, encodeFrame, type FrameKind } from '../../src/protocol/frame-codec.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import { metaMethods } from '../../src/protocol/meta-messages.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { RawPeer, rssBytes, type ReplyFrame } from '../helpers/raw-peer.js';

const seed = Number(process.env['QFS_SEED'] ?? 42);
const MiB = 1024 * 1024;
const PARTIAL_FRAME_TIMEOUT_MS = 1_000;
const IDLE_TIMEOUT_MS = 3_000;
const MAX_CONNECTIONS_PER_PEER = 24;
// The queue bound under test; QFS_TEST_MAX_QUEUED_REPLY_BYTES=1000000000000 turns backpressure
// off in effect, to see the slow-reader test fail.
const MAX_QUEUED_REPLY_BYTES = process.env['QFS_TEST_MAX_QUEUED_REPLY_BYTES'] ?? String(2 * MiB);
/** Frames thrown at the three servers together, at least. */
const MIN_MALFORMED_FRAMES = 100_000;
/** Growth of a server's resident memory over the fuzz that counts as bounded. */
const FUZZ_RSS_GROWTH_BOUND_BYTES = 96 * MiB;
/** Growth of the data server's resident memory while a slow reader is owed 8,000 64 KiB replies
 * (500 MiB of them) that counts as bounded. With backpressure the server handles only what fills
 * the loopback's kernel buffers (about 17 MiB here) and the queue bound, and RSS measures that
 * garbage too (20 to 95 MiB seen); without, it keeps every reply. */
const SLOW_READER_REQUESTS = 8_000;
const SLOW_READER_RSS_GROWTH_BOUND_BYTES = 160 * MiB;

// ---- the fuzz's inputs ----

interface Message {
  kind: FrameKind;
  header: unknown;
  payload: Uint8Array;
}

/** A stream-breaking last input: the server answers with an error and closes ('close'), or
 * waits for bytes that never come ('truncated'), or there is none. */
interface Terminal {
  bytes: Buffer;
  expect: 'close' | 'truncated' | 'none';
}

const allOps = [...new Set([...Object.values(dataMethods), ...Object.values(metaMethods), ...Object.values(mediatorMethods)].map((m) => m.name))];
// Methods whose arguments could decode by chance from the wrong-fields records below and that
// change state: they only ever get arguments that are not objects.
const stateful = new Set(['terminate', 'corrupt', 'heal', 'scrub', 'hold', 'release', 'reserveVersions', 'delete', 'deleteOlderThan', 'put', 'write', 'setattr', 'unlink', 'rmdir', 'rename', 'link', 'create', 'mkdir', 'symlink', 'setxattr', 'removexattr', 'commitBlocks', 'truncate']);
const readOnlyOps = allOps.filter((op) => !stateful.has(op));

const id = fc.nat({ max: 2 ** 31 });
const notAnObject = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 16 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 4 }),
);
const wrongFields = fc.record(
  {
    ino: fc.oneof(fc.string({ maxLength: 8 }), fc.double({ noInteger: true }), fc.integer({ min: -9, max: -1 })),
    parent: fc.oneof(fc.integer({ min: -9, max: -1 }), fc.string({ maxLength: 4 })),
    key: fc.oneof(fc.integer(), fc.string({ minLength: 200, maxLength: 300 })),
    version: fc.oneof(fc.string({ maxLength: 4 }), fc.constant(-1), fc.double({ noInteger: true })),
    name: fc.oneof(fc.integer(), fc.string({ minLength: 256, maxLength: 300 })),
    blocks: fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 4 }),
  },
  { requiredKeys: ['ino'] },
);
const smallPayload = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.integer({ min: 64 * 1024, max: 512 * 1024 }).map((n) => new Uint8Array(n)) },
);
const request = (header: fc.Arbitrary<unknown>): fc.Arbitrary<Message> =>
  fc.record({ kind: fc.constant(FRAME_REQUEST), header, payload: smallPayload });

const message: fc.Arbitrary<Message> = fc.oneof(
  // a header that is not an object at all
  request(fc.oneof(notAnObject, fc.anything({ maxDepth: 2 }))),
  // header fields of the wrong types
  request(fc.record({
    id: fc.oneof(fc.string({ maxLength: 4 }), fc.integer({ min: -99, max: -1 }), fc.double({ noInteger: true })),
    op: fc.oneof(fc.integer(), fc.constantFrom(...allOps)),
    args: fc.anything({ maxDepth: 1 }),
  })),
  // a deadline of the wrong type
  request(fc.record({ id, op: fc.constantFrom(...allOps), timeoutMs: fc.oneof(fc.constant(-1), fc.string({ maxLength: 3 }), fc.double({ noInteger: true })), args: fc.constant({}) })),
  // an unknown operation
  request(fc.record({ id, op: fc.string({ maxLength: 24 }).filter((op) => !allOps.includes(op)), args: fc.anything({ maxDepth: 1 }) })),
  // a real operation with arguments that are not an object
  request(fc.record({ id, op: fc.constantFrom(...allOps), args: notAnObject })),
  // a real operation that only reads, with fields of the wrong types
  request(fc.record({ id, op: fc.constantFrom(...readOnlyOps), args: wrongFields })),
  // a response or an event sent to a server
  fc.record({
    kind: fc.constantFrom(FRAME_RESPONSE, FRAME_EVENT),
    header: fc.oneof(fc.record({ id, ok: fc.boolean() }), fc.anything({ maxDepth: 1 })),
    payload: fc.uint8Array({ maxLength: 16 }),
  }),
);

const MAX_FRAME_BYTES = 4 * MiB + 256 * 1024 + 16;

function goodFrame(): Buffer {
  return encodeFrame(FRAME_REQUEST, { id: 1, op: 'ping', args: {} });
}

const terminal: fc.Arbitrary<Terminal> = fc.oneof(
  // a declared length over the limit (FRAME_TOO_LARGE before its bytes arrive)
  fc.tuple(fc.integer({ min: MAX_FRAME_BYTES - 3, max: 0xffffffff }), fc.uint8Array({ maxLength: 32 })).map(([length, tail]) => {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(length, 0);
    return { bytes: Buffer.concat([prefix, tail]), expect: 'close' as const };
  }),
  // a declared length shorter than the frame's own prefix
  fc.integer({ min: 0, max: 5 }).map((length) => {
    const bytes = Buffer.alloc(10, 0xab);
    bytes.writeUInt32BE(length, 0);
    return { bytes, expect: 'close' as const };
  }),
  // a wrong protocol version, an unknown kind
  fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1).map((version) => {
    const bytes = goodFrame();
    bytes.writeUInt8(version, 4);
    return { bytes, expect: 'close' as const };
  }),
  fc.integer({ min: 0, max: 255 }).filter((k) => k < 1 || k > 3).map((kind) => {
    const bytes = goodFrame();
    bytes.writeUInt8(kind, 5);
    return { bytes, expect: 'close' as const };
  }),
  // a header length that does not fit the frame
  fc.integer({ min: 64, max: 0xffffffff }).map((headerLength) => {
    const bytes = goodFrame();
    bytes.writeUInt32BE(headerLength, 6);
    return { bytes, expect: 'close' as const };
  }),
  // a header that is not msgpack (0xc1 is never used)
  fc.constant(0).map(() => {
    const bytes = goodFrame();
    bytes.fill(0xc1, 10);
    return { bytes, expect: 'close' as const };
  }),
  // garbage whose first byte declares a frame over the limit
  fc.uint8Array({ minLength: 4, maxLength: 200 }).map((garbage) => {
    const bytes = Buffer.from(garbage);
    bytes[0] = Math.max(bytes[0]!, 1);
    return { bytes, expect: 'close' as const };
  }),
  // a truncated frame: its payload (or header) never arrives in full
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 4096 }), fc.nat()).map(([payload, cut]) => {
    const whole = encodeFrame(FRAME_REQUEST, { id: 9, op: 'put', args: { key: 'k', version: 1, checksum: 'x' } }, payload);
    return { bytes: whole.subarray(0, 1 + (cut % (whole.length - 1))), expect: 'truncated' as const };
  }),
  // a declared length just under the limit, and then only a few bytes
  fc.constant(0).map(() => {
    const bytes = Buffer.alloc(16, 0);
    bytes.writeUInt32BE(MAX_FRAME_BYTES - 4, 0);
    bytes.writeUInt8(1, 4);
    bytes.writeUInt8(1, 5);
    return { bytes, expect: 'truncated' as const };
  }),
  fc.constant({ bytes: Buffer.alloc(0), expect: 'none' as const }),
);

const batch = fc.record({ messages: fc.array(message, { minLength: 20, maxLength: 44, size: 'max' }), terminal });

function codeOfReply(frame: ReplyFrame | undefined): unknown {
  return (frame?.header as { code?: unknown } | undefined)?.code;
}

/** Every reply is a response with a boolean `ok` and, when not ok, a known error code. */
function checkReply(frame: ReplyFrame): void {
  assert.equal(frame.kind, FRAME_RESPONSE);
  const header = frame.header as { id?: unknown; ok?: unknown; code?: unknown };
  assert.equal(typeof header.ok, 'boolean');
  assert.equal(typeof header.id, 'number');
  if (header.ok === false) assert.ok(isErrorCode(header.code), `unknown code ${String(header.code)}`);
}

/** Throws one batch at a server; returns the number of frames sent. */
async function throwBatch(port: number, b: { messages: Message[]; terminal: Terminal }): Promise<number> {
  const peer = await RawPeer.connect(port);
  try {
    peer.write(Buffer.concat(b.messages.map((m) => encodeFrame(m.kind, m.header, m.payload))));
    const n = b.messages.length;
    await peer.until(() => peer.frames.length >= n || peer.closed, 10_000, `${n} replies`);
    assert.equal(peer.closed, false, 'a well-framed message must not close the connection');
    assert.equal(peer.frames.length, n);
    peer.frames.forEach(checkReply);
    if (b.terminal.expect === 'none') return n;
    peer.write(b.terminal.bytes);
    if (b.terminal.expect === 'close') {
      await peer.until(() => peer.closed, 10_000, 'the server to close after a stream-breaking frame');
      assert.equal(peer.frames.length, n + 1);
      assert.match(String(codeOfReply(peer.frames[n])), /^(BAD_FRAME|FRAME_TOO_LARGE)$/);
    }
    assert.equal(peer.garbageFromServer, undefined);
    return n + 1;
  } finally {
    peer.destroy();
  }
}

// ---- the well-behaved client ----

/** Real calls to all three servers, each result checked; runs until stopped. */
class WellBehaved {
  served = 0;
  failure: unknown;
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly data: RpcClient,
    private readonly meta: RpcClient,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    if (this.failure !== undefined) throw this.failure;
  }

  async once(i: number): Promise<void> {
    const content = Buffer.from(`well-behaved ${i} `.repeat(1 + (i % 50)));
    await this.cluster.client.writeFile(`/wb-${i % 8}`, content);
    assert.deepEqual(await this.cluster.client.readFile(`/wb-${i % 8}`), content);
    const block = Buffer.alloc(4096 + i, i & 0xff);
    await this.data.call(dataMethods.put, { key: `wb:${i}`, version: 1, checksum: checksumOf(block) }, { payload: block });
    const got = await this.data.callWithPayload(dataMethods.get, { key: `wb:${i}`, version: 1 });
    assert.deepEqual(got.payload, block);
    assert.equal((await this.meta.call(metaMethods.getattr, { ino: 1 })).ino, 1);
    this.served++;
  }

  private async loop(): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      try {
        await this.once(i);
      } catch (err) {
        this.failure ??= err;
        return;
      }
      await sleep(10);
    }
  }
}

describe('hostile peers', () => {
  let cluster: Cluster;
  let data: RpcClient;
  let meta: RpcClient;
  let pids: Record<'mediator' | 'metadata server' | 'data server', number>;
  const ports = (): Record<keyof typeof pids, number> => ({
    mediator: cluster.mediatorPort,
    'metadata server': cluster.metaPort,
    'data server': cluster.dataPorts[0]!,
  });

  before(async () => {
    // Plain TCP (--insecure-loopback): these peers attack what lies behind the transport —
    // framing, decoding, queues and timers, the same on a TLS connection once it is established.
    // The TLS handshake's own bounds are tested in security.test.ts.
    cluster = await startCluster({
      readQuorum: 1,
      writeQuorum: 1,
      dataServers: 1,
      extraArgs: ['--insecure-loopback'],
      env: {
        QFS_TEST_PARTIAL_FRAME_TIMEOUT_MS: String(PARTIAL_FRAME_TIMEOUT_MS),
        QFS_TEST_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
        QFS_TEST_MAX_CONNECTIONS_PER_PEER: String(MAX_CONNECTIONS_PER_PEER),
        QFS_TEST_MAX_QUEUED_REPLY_BYTES: MAX_QUEUED_REPLY_BYTES,
      },
    });
    data = new RpcClient({ host: '127.0.0.1', port: cluster.dataPorts[0]! }, { retryIdempotent: true });
    meta = new RpcClient({ host: '127.0.0.1', port: cluster.metaPort }, { retryIdempotent: true });
    pids = {
      mediator: cluster.process.pid!,
      'metadata server': (await meta.call(metaMethods.ping, {})).pid,
      'data server': (await data.call(dataMethods.heartbeat, {})).pid,
    };
  });
  after(async () => {
    data?.close();
    meta?.close();
    await cluster?.stop();
  });

  it(`fuzz: at least ${MIN_MALFORMED_FRAMES} malformed frames and messages, no crash, bounded memory, a client served throughout`, async () => {
    const wellBehaved = new WellBehaved(cluster, data, meta);
    const rssBefore = Object.fromEntries(await Promise.all(Object.entries(pids).map(async ([name, pid]) => [name, await rssBytes(pid)] as const)));
    let frames = 0;
    wellBehaved.start();
    try {
      for (const [index, [name, port]] of Object.entries(ports()).entries()) {
        const details = await fc.check(
          fc.asyncProperty(batch, async (b) => {
            frames += await throwBatch(port, b);
          }),
          { seed: seed + index, numRuns: 1_100, endOnFailure: true },
        );
        // The counterexample itself can run to megabytes of payload: say what failed and how
        // to replay it instead.
        if (details.failed) {
          const err = details.errorInstance instanceof Error ? details.errorInstance.stack : String(details.errorInstance);
          throw new Error(`${name}: batch ${details.numRuns} failed: ${err}\nreplay with QFS_SEED=${seed}`);
        }
      }
    } finally {
      await wellBehaved.stop();
    }
    assert.ok(frames >= MIN_MALFORMED_FRAMES, `only ${frames} frames thrown`);
    assert.ok(wellBehaved.served >= 10, `the well-behaved client was served ${wellBehaved.served} times`);
    for (const [name, pid] of Object.entries(pids)) {
      assert.doesNotThrow(() => process.kill(pid, 0), `${name} is gone`);
      const growth = (await rssBytes(pid)) - rssBefore[name]!;
      console.log(`# ${name}: RSS grew ${(growth / MiB).toFixed(1)} MiB over ${frames} malformed frames (bound ${FUZZ_RSS_GROWTH_BOUND_BYTES / MiB} MiB); well-behaved rounds: ${wellBehaved.served}`);
      assert.ok(growth < FUZZ_RSS_GROWTH_BOUND_BYTES, `${name}: RSS grew ${growth} bytes`);
    }
    await wellBehaved.once(1_000_000);
  });

  it('a slow reader (many requests, replies never read) does not grow the server and others are served', async () => {
    const block = Buffer.alloc(64 * 1024, 7);
    await data.call(dataMethods.put, { key: 'slow:0', version: 1, checksum: checksumOf(block) }, { payload: block });
    const pid = pids['data server'];
    const rssBefore = await rssBytes(pid);
    const slow = await RawPeer.connect(cluster.dataPorts[0]!, { read: false });
    let peakGrowth = 0;
    try {
      // Requests for the 64 KiB block, 16 at a time so they do not meet the in-flight cap, never
      // reading a reply.
      for (let sent = 0; sent < SLOW_READER_REQUESTS; sent += 16) {
        slow.write(Buffer.concat(Array.from({ length: 16 }, (_, i) => encodeFrame(FRAME_REQUEST, { id: sent + i + 1, op: 'get', args: { key: 'slow:0', version: 1 } }))));
        await sleep(2);
        if (sent % 1_600 === 0) peakGrowth = Math.max(peakGrowth, (await rssBytes(pid)) - rssBefore);
      }
      // Others are served while the slow reader holds its connection.
      const wellBehaved = new WellBehaved(cluster, data, meta);
      for (let i = 0; i < 5; i++) await wellBehaved.once(2_000_000 + i);
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        peakGrowth = Math.max(peakGrowth, (await rssBytes(pid)) - rssBefore);
      }
      assert.equal(slow.closed, false, 'a slow reader is held back, not disconnected');
    } finally {
      slow.destroy();
    }
    console.log(`# data server: RSS grew at most ${(peakGrowth / MiB).toFixed(1)} MiB under a slow reader owed ${(SLOW_READER_REQUESTS * block.length) / MiB} MiB of replies (bound ${SLOW_READER_RSS_GROWTH_BOUND_BYTES / MiB} MiB)`);
    assert.ok(peakGrowth < SLOW_READER_RSS_GROWTH_BOUND_BYTES, `data server RSS grew ${(peakGrowth / MiB).toFixed(1)} MiB`);
  });

  it('a slow writer (a frame a byte at a time, or a header and then nothing) is closed after the partial-frame timeout; others are served', async () => {
    for (const port of [cluster.mediatorPort, cluster.metaPort]) {
      const frame = encodeFrame(FRAME_REQUEST, { id: 5, op: 'ping', args: {} }, Buffer.alloc(64));
      const dribbler = await RawPeer.connect(port);
      const stalled = await RawPeer.connect(port);
      stalled.write(frame.subarray(0, 10)); // the prefix and nothing more
      let sentBytes = 0;
      const startedMs = Date.now();
      while (!dribbler.closed && sentBytes < frame.length) {
        dribbler.write(frame.subarray(sentBytes, sentBytes + 1));
        sentBytes++;
        await cluster.client.rpc.call(mediatorMethods.ping, {}); // others are served meanwhile
        await sleep(100);
        assert.ok(Date.now() - startedMs < 10_000, 'the dribbling peer was never closed');
      }
      await dribbler.until(() => dribbler.closed, 5_000, 'the dribbling peer to be closed');
      await stalled.until(() => stalled.closed, 5_000, 'the stalled peer to be closed');
      assert.ok(sentBytes < frame.length, 'the whole frame went out before the timeout');
      assert.equal(codeOfReply(dribbler.frames[0]), 'TIMEOUT');
      assert.equal(codeOfReply(stalled.frames[0]), 'TIMEOUT');
    }
    // A frame sent in pieces that completes within the bound is served.
    const pieces = await RawPeer.connect(cluster.metaPort);
    const frame = encodeFrame(FRAME_REQUEST, { id: 6, op: 'ping', args: {} });
    for (const [from, to] of [[0, 3], [3, 12], [12, frame.length]] as const) {
      pieces.write(frame.subarray(from, to));
      await sleep(PARTIAL_FRAME_TIMEOUT_MS / 5);
    }
    await pieces.until(() => pieces.frames.length === 1, 5_000, 'the reply');
    assert.equal((pieces.frames[0]!.header as { ok?: unknown }).ok, true);
    pieces.destroy();
  });

  it('an idle connection is closed after the idle timeout, and a client reconnects transparently', async () => {
    const idle = await RawPeer.connect(cluster.metaPort);
    await idle.until(() => idle.closed, IDLE_TIMEOUT_MS * 3, 'the idle connection to be closed');
    assert.equal(idle.frames.length, 0);
    const client = new RpcClient({ host: '127.0.0.1', port: cluster.metaPort });
    try {
      await client.call(metaMethods.ping, {});
      await waitFor(() => !client.isConnected, IDLE_TIMEOUT_MS * 3, 'the server to close the idle client');
      // Not idempotent and not retried: it must go out on a new connection, not the ended one.
      await client.call(metaMethods.ping, {}, { retry: false });
    } finally {
      client.close();
    }
    // The mediator's own connections (to the metadata server, idle between calls) recover too.
    await cluster.client.writeFile('/after-idle', Buffer.from('still here'));
    assert.deepEqual(await cluster.client.readFile('/after-idle'), Buffer.from('still here'));
  });

  it(`more than ${MAX_CONNECTIONS_PER_PEER} connections from one address are refused at accept; other servers are unaffected`, async () => {
    const hogs: RawPeer[] = [];
    try {
      for (let i = 0; i < MAX_CONNECTIONS_PER_PEER + 8; i++) hogs.push(await RawPeer.connect(cluster.mediatorPort));
      await waitFor(() => hogs.filter((h) => h.closed).length >= 8, 5_000, 'over-cap connections to be closed');
      const open = hogs.filter((h) => !h.closed);
      assert.ok(open.length <= MAX_CONNECTIONS_PER_PEER, `${open.length} connections open from one address`);
      assert.ok(hogs.filter((h) => h.closed).every((h) => h.frames.length === 0), 'a refused connection is closed before anything is read or sent');
      // The cap is per server: the metadata server still takes connections from this address.
      assert.equal(typeof (await meta.call(metaMethods.ping, {})).pid, 'number');
      // Those accepted are served.
      open[0]!.write(encodeFrame(FRAME_REQUEST, { id: 3, op: 'ping', args: {} }));
      await open[0]!.until(() => open[0]!.frames.length === 1, 5_000, 'a reply on an accepted connection');
    } finally {
      for (const h of hogs) h.destroy();
    }
    await waitFor(async () => (await cluster.client.rpc.call(mediatorMethods.ping, {}).then(() => true, () => false)), 5_000, 'the mediator to take connections again');
  });
});
