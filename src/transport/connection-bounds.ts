// The bounds a server puts on each connection: caps at accept, backpressure on queued replies,
// idle and partial-frame timeouts. Production values come from limits.ts; the QFS_TEST_*
// environment variables override them for tests (which need second-scale timeouts, and child
// processes inherit the environment). Read once, when a server is made.

import { qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';

export interface ConnectionBounds {
  maxConnections: number;
  maxConnectionsPerPeer: number;
  maxQueuedReplyBytes: number;
  maxQueuedEventBytes: number;
  idleTimeoutMs: number;
  partialFrameTimeoutMs: number;
  closeGraceMs: number;
}

const ENV_OVERRIDES: ReadonlyArray<[keyof ConnectionBounds, string]> = [
  ['maxConnections', 'QFS_TEST_MAX_CONNECTIONS'],
  ['maxConnectionsPerPeer', 'QFS_TEST_MAX_CONNECTIONS_PER_PEER'],
  ['maxQueuedReplyBytes', 'QFS_TEST_MAX_QUEUED_REPLY_BYTES'],
  ['maxQueuedEventBytes', 'QFS_TEST_MAX_QUEUED_EVENT_BYTES'],
  ['idleTimeoutMs', 'QFS_TEST_IDLE_TIMEOUT_MS'],
  ['partialFrameTimeoutMs', 'QFS_TEST_PARTIAL_FRAME_TIMEOUT_MS'],
];

/** The defaults of limits.ts, with any QFS_TEST_* override from `env`, then `given` on top. */
export function connectionBounds(given: Partial<ConnectionBounds> = {}, env: NodeJS.ProcessEnv = process.env): ConnectionBounds {
  const bounds: ConnectionBounds = {
    maxConnections: limits.maxConnections,
    maxConnectionsPerPeer: limits.maxConnectionsPerPeer,
    maxQueuedReplyBytes: limits.maxQueuedReplyBytesPerConnection,
    maxQueuedEventBytes: limits.maxQueuedEventBytesPerConnection,
    idleTimeoutMs: limits.idleConnectionTimeoutMs,
    partialFrameTimeoutMs: limits.partialFrameTimeoutMs,
    closeGraceMs: limits.connectionCloseGraceMs,
  };
  for (const [key, name] of ENV_OVERRIDES) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    const value = Number(text);
    // A typo must not silently leave a server unbounded or with a zero timeout.
    if (!Number.isSafeInteger(value) || value <= 0) throw qfsError('INVALID', `${name}='${text}' is not a positive integer`);
    bounds[key] = value;
  }
  for (const key of Object.keys(given) as Array<keyof ConnectionBounds>) {
    const value = given[key];
    if (value !== undefined) bounds[key] = value;
  }
  return bounds;
}
