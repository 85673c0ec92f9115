// Whether a TCP port can be listened on now: a short exclusive bind, closed at once. Only a hint,
// since another process may take the port the next moment; it lets a command refuse a taken port
// with one clear line before it starts anything, and the mediator skip a taken spare port before
// it wipes a directory and spawns a process for it.

import net from 'node:net';

/** Undefined if host:port could be bound just now; otherwise the errno of the failed bind
 * (EADDRINUSE when something holds the port, EACCES, EADDRNOTAVAIL…). */
export function portProblem(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
