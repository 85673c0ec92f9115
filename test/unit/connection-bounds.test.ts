// The per-connection bounds: defaults from limits.ts, test overrides from QFS_TEST_*, and a typo
// in an override refused rather than turned into an unbounded server or a zero timeout.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QfsError } from '../../src/common/errors.js';
import { limits } from '../../src/common/limits.js';
import { connectionBounds } from '../../src/transport/connection-bounds.js';

describe('connection bounds', () => {
  it('defaults to limits.ts', () => {
    const b = connectionBounds({}, {});
    assert.equal(b.maxConnections, limits.maxConnections);
    assert.equal(b.maxConnectionsPerPeer, limits.maxConnectionsPerPeer);
    assert.equal(b.maxQueuedReplyBytes, limits.maxQueuedReplyBytesPerConnection);
    assert.equal(b.idleTimeoutMs, limits.idleConnectionTimeoutMs);
    assert.equal(b.partialFrameTimeoutMs, limits.partialFrameTimeoutMs);
  });

  it('takes QFS_TEST_* overrides, and explicit options over them', () => {
    const env = { QFS_TEST_IDLE_TIMEOUT_MS: '1500', QFS_TEST_MAX_CONNECTIONS_PER_PEER: '4' };
    assert.equal(connectionBounds({}, env).idleTimeoutMs, 1500);
    assert.equal(connectionBounds({}, env).maxConnectionsPerPeer, 4);
    assert.equal(connectionBounds({ maxConnectionsPerPeer: 9 }, env).maxConnectionsPerPeer, 9);
  });

  it('refuses an override that is not a positive integer', () => {
    for (const text of ['0', '-5', '1.5', 'ten', '1e400']) {
      assert.throws(() => connectionBounds({}, { QFS_TEST_PARTIAL_FRAME_TIMEOUT_MS: text }), (err: unknown) => err instanceof QfsError && err.code === 'INVALID');
    }
  });
});
