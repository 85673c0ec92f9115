// Two or more consecutive free loopback ports for the mediator's --spare-ports range (the
// scale benchmark terminates two data servers, so it needs two spares), never the default
// 60000–60010 that other clusters on the machine may use.

import net from 'node:net';
import { freePorts } from '../../test/helpers/cluster.js';

const ATTEMPTS = 50;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first port of `count` consecutive ports that were free a moment ago. */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const [first] = await freePorts(1);
    if (first! + count - 1 > 65_535 || (first! <= 60_010 && first! + count - 1 >= 60_000)) continue;
    let ok = true;
    for (let p = first! + 1; ok && p < first! + count; p++) ok = await bindable(p);
    if (ok) return first!;
  }
  throw new Error(`no ${count} consecutive free ports found in ${ATTEMPTS} attempts`);
}
