// Starting the plain-HTTP listeners (the metrics endpoint, the status page): listen on an
// address, port 0 meaning an ephemeral one, and resolve with the address really bound, or
// reject with the listen error (EADDRINUSE, EACCES) rather than emitting it later.

import type http from 'node:http';
import type { Address } from '../common/address.js';

export function listenHttp(server: http.Server, address: Address): Promise<Address> {
  return new Promise<Address>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
      server.off('error', reject);
      const bound = server.address();
      if (bound === null || typeof bound === 'string') return reject(new Error('an HTTP listener without a TCP address'));
      resolve({ host: bound.address, port: bound.port });
    });
  });
}
