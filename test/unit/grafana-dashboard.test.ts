// The Grafana dashboard (docs/grafana/quorumfs-dashboard.json) cannot drift from the code: every
// metric a panel's query names is one some quorumfs process registers (histograms with their
// _bucket, _sum and _count series), each panel reads the ${DS} Prometheus data source, and the
// panels the operations guide promises are there.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Registry } from 'prom-client';
import { createProcessRegistry } from '../../src/metrics/process-registry.js';
import { rpcMetrics } from '../../src/metrics/rpc-metrics.js';
import { MediatorMetrics } from '../../src/metrics/mediator-metrics.js';
import { DataMetrics } from '../../src/metrics/data-metrics.js';
import { instrumentOperations, mountQuorumMetrics } from '../../src/metrics/mount-metrics.js';

const DASHBOARD = new URL('../../../docs/grafana/quorumfs-dashboard.json', import.meta.url);

interface Panel {
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; datasource?: { uid?: string } }>;
}

/** Every series name the processes can expose, as registered by the same code they run. */
async function registeredSeries(): Promise<Set<string>> {
  const registries: Registry[] = [];
  const mediator = createProcessRegistry('mediator');
  rpcMetrics(mediator);
  new MediatorMetrics(mediator);
  const data = createProcessRegistry('data');
  rpcMetrics(data);
  new DataMetrics(data, { held: () => ({ blocks: 0, bytes: 0 }), usage: async () => ({ blocks: 0, bytes: 0, freeBytes: 0, totalBytes: 0 }) }, () => ({ readBytes: 0, writtenBytes: 0 }));
  const mount = createProcessRegistry('mount');
  instrumentOperations({}, mount);
  mountQuorumMetrics(mount);
  registries.push(mediator, data, mount);
  const names = new Set<string>();
  for (const registry of registries) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
      if (String(metric.type) === 'summary') for (const suffix of ['_sum', '_count']) names.add(metric.name + suffix);
    }
  }
  return names;
}

/** The metric names in a PromQL expression: identifiers with our prefixes (functions, labels and
 * keywords have none). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(?:quorumfs|process|nodejs)_[a-zA-Z0-9_:]*/g)].map((m) => m[0]);
}

describe('the Grafana dashboard', () => {
  it('names only metrics the code registers, from the ${DS} Prometheus', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { schemaVersion: number; __inputs: Array<{ name: string; pluginId: string }>; panels: Panel[] };
    assert.ok(dashboard.schemaVersion >= 36);
    assert.ok(dashboard.__inputs.some((i) => i.name === 'DS' && i.pluginId === 'prometheus'));
    const known = await registeredSeries();
    assert.ok(known.has('quorumfs_rpc_request_duration_seconds_bucket') && known.has('process_resident_memory_bytes'), 'the registries are complete');
    assert.ok(dashboard.panels.length > 0);
    for (const panel of dashboard.panels) {
      assert.equal(panel.datasource?.uid, '${DS}', panel.title);
      const exprs = (panel.targets ?? []).map((t) => t.expr ?? '');
      assert.ok(exprs.length > 0 && exprs.every((e) => e.trim() !== ''), `${panel.title}: a query in every target`);
      for (const target of panel.targets ?? []) assert.equal(target.datasource?.uid, '${DS}', panel.title);
      for (const expr of exprs) {
        const names = metricNames(expr);
        assert.ok(names.length > 0, `${panel.title}: '${expr}' names no metric`);
        for (const name of names) assert.ok(known.has(name), `${panel.title}: '${name}' is not registered by any quorumfs process`);
      }
    }
  });

  it('has the panels docs/metrics.md promises', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const all = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')).join('\n');
    for (const needed of [
      /rate\(quorumfs_data_written_bytes_total/,
      /rate\(quorumfs_data_read_bytes_total/,
      /rate\(quorumfs_rpc_requests_total/,
      /histogram_quantile\(0\.5, .*quorumfs_rpc_request_duration_seconds_bucket/,
      /histogram_quantile\(0\.99, .*quorumfs_rpc_request_duration_seconds_bucket/,
      /quorumfs_quorum_operations_total/,
      /quorumfs_servers\b/,
      /quorumfs_under_replicated_blocks/,
      /quorumfs_heal_remaining_blocks/,
      /quorumfs_corrupt_replicas_found_total/,
      /quorumfs_corrupt_replicas_repaired_total/,
      /quorumfs_server_disk_free_bytes/,
    ]) {
      assert.match(all, needed);
    }
  });
});
