// The mediator's Prometheus HTTP service-discovery document (`/targets`, for http_sd_configs):
// one target group per process serving metrics, labelled with its role and its server id (the
// host:port status shows, so per-server figures of the mediator and a server's own metrics
// join). Pure: the mediator hands in what it runs now; a process that has exited is not listed.

import { formatAddress, isUnspecifiedHost, LOOPBACK } from '../common/address.js';

export interface MetricsProcess {
  role: 'mediator' | 'meta' | 'data';
  /** The process's id as status shows it: host:port of its RPC service. */
  server: string;
  /** Where it serves metrics. An unspecified address (0.0.0.0, ::) is replaced by `reachHost`. */
  metricsHost: string;
  metricsPort: number;
}

export interface TargetGroup {
  targets: string[];
  labels: { role: string; server: string };
}

/** One group per process, the mediator first, then in the order given; at most `maxTargets`
 * (the rest are left out rather than the document growing without bound). `reachHost` is how a
 * scraper reaches this host (the mediator's --host, or loopback when that is unspecified too). */
export function scrapeTargets(processes: readonly MetricsProcess[], reachHost: string, maxTargets: number): TargetGroup[] {
  const reachable = isUnspecifiedHost(reachHost) ? LOOPBACK : reachHost;
  const ordered = [...processes.filter((p) => p.role === 'mediator'), ...processes.filter((p) => p.role !== 'mediator')];
  return ordered.slice(0, maxTargets).map((p) => ({
    targets: [formatAddress({ host: isUnspecifiedHost(p.metricsHost) ? reachable : p.metricsHost, port: p.metricsPort })],
    labels: { role: p.role, server: p.server },
  }));
}
