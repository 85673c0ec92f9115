// An in-process RpcServer's bounds that the cluster tests do not reach: events pushed to a peer
// that reads nothing close its connection past the event bound, and the server stays usable.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dataMethods } from '../../src/protocol/data-messages.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { RpcServer } from '../../src/transport/rpc-server.js';
import { waitFor } from '../helpers/cluster.js';
import { RawPeer } from '../helpers/raw-peer.js';

describe('RPC server bounds (in process)', () => {
  it('closes a connection that lets events pile up unread, and keeps serving others', async () => {
    const server = new RpcServer({ name: 'test server', bounds: { maxQueuedEventBytes: 1024 * 1024 } });
    server.register(dataMethods.heartbeat, () => ({ role: 'data', port: 0, pid: process.pid, blocks: 0, bytes: 0, freeBytes: 0, totalBytes: 0, uptimeMs: 0, faultInjection: false }));
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    const deaf = await RawPeer.connect(address.port, { read: false });
    const client = new RpcClient(address, { plaintext: true }); // an in-process server without TLS
    try {
      await waitFor(() => server.openConnections.size === 1, 5_000, 'the connection to be accepted');
      const [connection] = [...server.openConnections];
      const blob = 'x'.repeat(64 * 1024);
      // Far more than the kernel's buffers and the bound together; stops once the server gives up.
      for (let i = 0; i < 4_000 && server.openConnections.size > 0; i++) {
        connection!.sendEvent('invalidate', { blob });
        if (i % 64 === 0) await new Promise((r) => setImmediate(r));
      }
      // The peer does not read, so it would not see the end: look from the server's side.
      await waitFor(() => server.openConnections.size === 0, 5_000, 'the deaf peer to be disconnected');
      assert.equal((await client.call(dataMethods.heartbeat, {})).pid, process.pid);
    } finally {
      deaf.destroy();
      client.close();
      await server.close();
    }
  });
});
