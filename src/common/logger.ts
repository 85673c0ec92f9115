// Structured logging: one JSON line per event on stderr, via pino. Quiet by default: lifecycle
// events (started, server down, replaced) at info, everything chatty at debug. The level comes
// from QFS_LOG_LEVEL (trace, debug, info, warn, error, silent).

import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    { name, level: process.env['QFS_LOG_LEVEL'] ?? 'info', base: { pid: process.pid, ...bindings } },
    pino.destination({ dest: 2, sync: true }),
  );
}
