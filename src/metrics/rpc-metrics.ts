// The RPC server's metrics, shared by the mediator, the metadata server and the data servers:
// requests per method and outcome ('ok' or the error code) and a duration histogram per method.
// Labels are bounded: methods are those bound (anything else is 'unknown'), codes are ErrorCode.

import { Counter, Histogram, type Registry } from 'prom-client';
import type { RequestObserver } from '../transport/rpc-server.js';

/** From a cached metadata read (about 100 µs) to a long heal page or event poll (30 s). */
const RPC_DURATION_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function rpcMetrics(registry: Registry): RequestObserver {
  const requests = new Counter({
    name: 'quorumfs_rpc_requests_total',
    help: 'RPC requests answered by this server, per method and outcome (ok or the error code)',
    labelNames: ['method', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'quorumfs_rpc_request_duration_seconds',
    help: 'Time from a request arriving to its reply being queued, per method',
    labelNames: ['method'],
    buckets: RPC_DURATION_BUCKETS_SECONDS,
    registers: [registry],
  });
  return (method, outcome, durationSeconds) => {
    requests.inc({ method, outcome });
    duration.observe({ method }, durationSeconds);
  };
}
