// The HTTP endpoint of a process's metrics (node:http): GET or HEAD /metrics answers the
// Prometheus text format with prom-client's content type; a mediator also answers /targets, its
// Prometheus HTTP service-discovery document. Anything else is 404. Off unless --metrics-port is
// given. A scrape reads the figures the process already keeps, asynchronously and within
// limits.metricsFiguresTimeoutMs: it never holds the event loop for long nor waits without end.

import http from 'node:http';
import type { Registry } from 'prom-client';
import { formatAddress, type Address } from '../common/address.js';
import { listenHttp } from '../transport/http-listen.js';
import { messageOf } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';

export interface MetricsEndpointOptions {
  /** Where to listen; port 0 takes an ephemeral port. */
  address: Address;
  registry: Registry;
  logger: Logger;
  /** Brings the figure families up to date before a scrape (the mediator reads its status);
   * a failure or a timeout leaves them unknown for this scrape, which is still answered. */
  refresh?: () => Promise<void>;
  /** The /targets document (the mediator's service discovery); absent: /targets is 404. */
  targets?: () => unknown;
}

export class MetricsEndpoint {
  private constructor(
    private readonly server: http.Server,
    /** The bound address (the real port when 0 was asked for). */
    readonly address: Address,
  ) {}

  static async start(options: MetricsEndpointOptions): Promise<MetricsEndpoint> {
    // One scrape at a time: the figures a refresh sets are shared, so a second scrape must not
    // change them while the first is being written out.
    let previous: Promise<void> = Promise.resolve();
    const server = http.createServer({ requestTimeout: limits.metricsRequestTimeoutMs, headersTimeout: limits.metricsRequestTimeoutMs }, (req, res) => {
      const next = previous.then(() => answer(options, req, res));
      previous = next.catch(() => undefined);
    });
    server.maxConnections = limits.maxMetricsConnections;
    const address = await listenHttp(server, options.address);
    // A scraper that keeps its connection must not keep the process from exiting.
    server.unref();
    options.logger.info({ url: `http://${formatAddress(address)}/metrics` }, `metrics at http://${formatAddress(address)}/metrics`);
    return new MetricsEndpoint(server, address);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function answer(options: MetricsEndpointOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n', head);
  try {
    if (path === '/metrics') {
      if (options.refresh) await withTimeout(options.refresh(), limits.metricsFiguresTimeoutMs).catch((err: unknown) => options.logger.debug({ err: messageOf(err) }, 'metrics figures not read'));
      return send(res, 200, options.registry.contentType, await options.registry.metrics(), head);
    }
    if (path === '/targets' && options.targets) {
      return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(options.targets())}\n`, head);
    }
    return send(res, 404, 'text/plain; charset=utf-8', 'not found\n', head);
  } catch (err) {
    options.logger.warn({ err: messageOf(err) }, 'metrics scrape failed');
    return send(res, 500, 'text/plain; charset=utf-8', `${messageOf(err)}\n`, head);
  }
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

/** Resolves as `promise` does, or rejects after `timeoutMs`. */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no figures within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
