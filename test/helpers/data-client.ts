// Direct calls to one data server, for tests that look behind the mediator.

import { dataMethods } from '../../src/protocol/data-messages.js';
import { RpcClient } from '../../src/transport/rpc-client.js';

export const DataClient = {
  async list(port: number): Promise<Array<{ key: string; version: number; sizeBytes: number; checksum: string }>> {
    const client = new RpcClient({ host: '127.0.0.1', port }, { defaultTimeoutMs: 5_000 });
    try {
      return (await client.call(dataMethods.list, {})).entries;
    } finally {
      client.close();
    }
  },
};
