// The pure pieces of the metrics: the strict text-format parser the integration test relies on,
// figure families (an unknown figure is no sample), the mediator's figures from a status report,
// the /targets document, the READY line, the endpoint's answers, the RPC server's and the mount's
// instrumentation. In process, on ephemeral loopback ports.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createProcessRegistry, FigureCounter, FigureGauge } from '../../src/metrics/process-registry.js';
import { MediatorMetrics } from '../../src/metrics/mediator-metrics.js';
import { MetricsEndpoint } from '../../src/metrics/metrics-endpoint.js';
import { rpcMetrics } from '../../src/metrics/rpc-metrics.js';
import { instrumentOperations } from '../../src/metrics/mount-metrics.js';
import { DataMetrics } from '../../src/metrics/data-metrics.js';
import { scrapeTargets, type MetricsProcess } from '../../src/metrics/scrape-targets.js';
import { readyLine } from '../../src/services/supervisor.js';
import { RpcServer } from '../../src/transport/rpc-server.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { mediatorMethods, type StatusReport } from '../../src/protocol/mediator-messages.js';
import { fuseError } from '../../src/fuse/fuse-error.js';
import type { FuseOperations, ReadArgs, WriteArgs } from '../../src/fuse/fuse-operations.js';
import { createLogger } from '../../src/common/logger.js';
import { limits } from '../../src/common/limits.js';
import { parsePromText, samplesOf, sumOf } from '../helpers/prom-text.js';

const silent = createLogger('test');
silent.level = 'silent';

const HELP_TYPE = '# HELP quorumfs_x_total x\n# TYPE quorumfs_x_total counter\n';

describe('the strict text-format parser', () => {
  it("reads prom-client's output of every kind of family", async () => {
    const registry = createProcessRegistry('data');
    const observe = rpcMetrics(registry);
    observe('get', 'ok', 0.002);
    observe('put', 'NO_SPACE', 0.5);
    const scrape = parsePromText(await registry.metrics());
    assert.equal(scrape.families.get('quorumfs_rpc_requests_total')?.type, 'counter');
    assert.equal(scrape.families.get('quorumfs_rpc_request_duration_seconds')?.type, 'histogram');
    assert.equal(sumOf(scrape, 'quorumfs_rpc_requests_total', { method: 'put', outcome: 'NO_SPACE', role: 'data' }), 1);
    assert.equal(sumOf(scrape, 'quorumfs_rpc_request_duration_seconds_count', { method: 'get' }), 1);
    assert.ok(samplesOf(scrape, 'process_cpu_user_seconds_total').length === 1, 'default process metrics');
  });

  it('refuses what Prometheus would not take, naming the line', () => {
    const bad: Array<[string, RegExp]> = [
      ['quorumfs_x_total 1\n', /lacks # HELP or # TYPE/],
      [`${HELP_TYPE}quorumfs_x_total{a="1"} 1\nquorumfs_x_total{a="1"} 2\n`, /twice/],
      ['# HELP quorumfs_x x\n# TYPE quorumfs_x counter\nquorumfs_x 1\n', /_total/],
      ['# HELP other_x x\n# TYPE other_x gauge\nother_x 1\n', /outside/],
      [`${HELP_TYPE}quorumfs_x_total one\n`, /bad value/],
      [`${HELP_TYPE}quorumfs_x_total{a=1} 1\n`, /bad labels/],
      [`${HELP_TYPE}quorumfs_x_total 1`, /newline/],
      ['# HELP quorumfs_h h\n# TYPE quorumfs_h histogram\nquorumfs_h_bucket 1\n', /without le/],
      ['# a comment\n', /neither/],
    ];
    for (const [text, why] of bad) assert.throws(() => parsePromText(text), why, text);
    const good = parsePromText(`${HELP_TYPE}quorumfs_x_total{a="q\\"uote",b="x"} 3.5e2\n`);
    assert.deepEqual(good.samples, [{ name: 'quorumfs_x_total', labels: { a: 'q"uote', b: 'x' }, value: 350 }]);
  });
});

describe('figure families', () => {
  it('show no sample while the figure is unknown, and its value once known', async () => {
    const registry = new Registry();
    let figure: number | undefined;
    new FigureGauge({ name: 'quorumfs_g', help: 'g', registry, read: () => (figure === undefined ? [] : [{ value: figure }]) });
    assert.equal(samplesOf(parsePromText(await registry.metrics()), 'quorumfs_g').length, 0);
    figure = 0;
    assert.deepEqual(samplesOf(parsePromText(await registry.metrics()), 'quorumfs_g').map((s) => s.value), [0]);
    assert.throws(() => new FigureCounter({ name: 'quorumfs_c', help: 'c', registry, read: () => [] }), /_total/);
  });
});

function statusReport(over: Partial<StatusReport['counters']> = {}): StatusReport {
  const data = (port: number, state: string, extra: object = {}): StatusReport['servers'][number] => ({ id: `127.0.0.1:${port}`, host: '127.0.0.1', port, role: 'data', state, local: true, ...extra });
  return {
    mediator: { address: '127.0.0.1:1', pid: 1, readQuorum: 2, writeQuorum: 2, uptimeMs: 1 },
    servers: [
      { id: '127.0.0.1:2', host: '127.0.0.1', port: 2, role: 'meta', state: 'live', local: true },
      data(3, 'live', { lackingBlocks: 0, capacityBytes: 1000, freeBytes: 400, blocks: 7 }),
      data(4, 'replaced', { replacedBy: '127.0.0.1:6' }),
      data(5, 'live', { lackingBlocks: 0 }),
      data(6, 'healing', { lackingBlocks: null }),
    ],
    sparePortsLeft: [7, 8],
    counters: { inodes: 3, blocks: 10, bytes: 100, reads: 0, writes: 0, corruptFound: 2, corruptRepaired: 1, underReplicated: 4, healedBlocks: 5, scrubPasses: 0, writeMisses: 0, replacements: 1, metaRestarts: 0, ...over },
    fullyReplicated: false,
  };
}

describe("the mediator's figures", () => {
  it('are read from the status report, per server and per state', async () => {
    const registry = new Registry();
    const metrics = new MediatorMetrics(registry);
    metrics.update(statusReport(), true);
    metrics.quorumOutcome('read', 'widened');
    const s = parsePromText(await registry.metrics());
    assert.equal(sumOf(s, 'quorumfs_servers', { state: 'live' }), 2);
    assert.equal(sumOf(s, 'quorumfs_servers', { state: 'healing' }), 1);
    assert.equal(sumOf(s, 'quorumfs_servers', { state: 'replaced' }), 1);
    assert.equal(sumOf(s, 'quorumfs_servers', { state: 'down' }), 0);
    assert.equal(sumOf(s, 'quorumfs_under_replicated_blocks'), 4);
    assert.equal(sumOf(s, 'quorumfs_replacements_total'), 1);
    assert.equal(sumOf(s, 'quorumfs_corrupt_replicas_found_total'), 2);
    assert.equal(sumOf(s, 'quorumfs_server_disk_free_bytes', { server: '127.0.0.1:3' }), 400);
    assert.equal(samplesOf(s, 'quorumfs_server_disk_free_bytes').length, 1, 'servers without figures have no sample');
    // A heal that has not finished comparing does not know what its server lacks.
    assert.deepEqual(samplesOf(s, 'quorumfs_heal_remaining_blocks').map((x) => x.labels['server']), ['127.0.0.1:3', '127.0.0.1:5']);
    assert.equal(sumOf(s, 'quorumfs_quorum_operations_total', { op: 'read', outcome: 'widened' }), 1);
    assert.equal(samplesOf(s, 'quorumfs_quorum_operations_total').length, 6, 'every op and outcome, 0 included');
    assert.equal(sumOf(s, 'quorumfs_mediator_leading'), 1);
  });

  it('show nothing made up when status does not know, or there is no status', async () => {
    const registry = new Registry();
    const metrics = new MediatorMetrics(registry);
    let s = parsePromText(await registry.metrics());
    assert.equal(samplesOf(s, 'quorumfs_mediator_leading').length, 0, 'not known before a scrape has asked');
    metrics.update(statusReport({ underReplicated: null, inodes: null }), true);
    s = parsePromText(await registry.metrics());
    assert.equal(samplesOf(s, 'quorumfs_under_replicated_blocks').length, 0);
    assert.equal(samplesOf(s, 'quorumfs_inodes').length, 0);
    assert.equal(sumOf(s, 'quorumfs_committed_blocks'), 10);
    // A mediator that follows: it says so, and shows none of the leader's figures.
    metrics.update(undefined, false);
    s = parsePromText(await registry.metrics());
    assert.equal(sumOf(s, 'quorumfs_mediator_leading'), 0);
    assert.equal(s.samples.filter((x) => x.name !== 'quorumfs_quorum_operations_total' && x.name !== 'quorumfs_mediator_leading').length, 0);
  });
});

describe('the /targets document', () => {
  it('lists the mediator first, each process with its role and server id, within the bound', () => {
    const doc = scrapeTargets(
      [
        { role: 'data', server: '127.0.0.1:3', metricsHost: '127.0.0.1', metricsPort: 9003 },
        { role: 'mediator', server: '127.0.0.1:1', metricsHost: '0.0.0.0', metricsPort: 9001 },
        { role: 'meta', server: '127.0.0.1:2', metricsHost: '::1', metricsPort: 9002 },
      ],
      '10.0.0.5',
      10,
    );
    assert.deepEqual(doc, [
      { targets: ['10.0.0.5:9001'], labels: { role: 'mediator', server: '127.0.0.1:1' } },
      { targets: ['127.0.0.1:9003'], labels: { role: 'data', server: '127.0.0.1:3' } },
      { targets: ['[::1]:9002'], labels: { role: 'meta', server: '127.0.0.1:2' } },
    ]);
    assert.equal(scrapeTargets([{ role: 'data', server: 'a:1', metricsHost: '::', metricsPort: 1 }], '0.0.0.0', 5)[0]!.targets[0], '127.0.0.1:1');
    const many = Array.from({ length: 20 }, (_, i) => ({ role: 'data' as const, server: `h:${i}`, metricsHost: 'h', metricsPort: 1000 + i }));
    assert.equal(scrapeTargets(many, 'h', 7).length, 7);
  });

  it(`holds at most limits.maxScrapeTargets (${limits.maxScrapeTargets}) of 30,000 processes, the mediator first, each once`, () => {
    const processes: MetricsProcess[] = Array.from({ length: 30_000 }, (_, i) => ({ role: 'data', server: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:7100`, metricsHost: '0.0.0.0', metricsPort: 9100 }));
    processes.push({ role: 'mediator', server: '10.9.9.9:51234', metricsHost: '10.9.9.9', metricsPort: 9464 });
    const doc = scrapeTargets(processes, '10.9.9.9', limits.maxScrapeTargets);
    assert.equal(doc.length, limits.maxScrapeTargets);
    assert.deepEqual(doc[0], { targets: ['10.9.9.9:9464'], labels: { role: 'mediator', server: '10.9.9.9:51234' } });
    assert.equal(new Set(doc.map((g) => g.labels.server)).size, doc.length);
    assert.ok(Buffer.byteLength(JSON.stringify(doc)) < 128 * 1024, 'the document stays small');
  });
});

describe('the READY line', () => {
  it('says where a child serves metrics once the line is whole', () => {
    assert.equal(readyLine('starting\nREADY {"host":"127.0.0.1","port":5,"metr'), undefined);
    assert.deepEqual(readyLine('READY {"host":"127.0.0.1","port":5,"metricsPort":4321}\n'), { metricsPort: 4321 });
    assert.deepEqual(readyLine('READY {"host":"127.0.0.1","port":5}\n'), {});
    assert.deepEqual(readyLine('READY {"metricsPort":70000}\n'), {});
    assert.deepEqual(readyLine('READY not json\n'), {});
  });
});

async function get(url: string, method = 'GET'): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, { method });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('the endpoint', () => {
  it('answers GET and HEAD /metrics, /targets when it has them, 404 for anything else', async () => {
    const registry = createProcessRegistry('mediator');
    let refreshes = 0;
    const endpoint = await MetricsEndpoint.start({
      address: { host: '127.0.0.1', port: 0 },
      registry,
      logger: silent,
      refresh: async () => {
        refreshes++;
        throw new Error('status failed'); // the scrape is still answered, without those figures
      },
      targets: () => [{ targets: ['127.0.0.1:1'], labels: { role: 'mediator', server: 'x' } }],
    });
    try {
      const base = `http://127.0.0.1:${endpoint.address.port}`;
      assert.notEqual(endpoint.address.port, 0);
      const metrics = await get(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.equal(metrics.type, registry.contentType);
      assert.ok(sumOf(parsePromText(metrics.body), 'process_start_time_seconds', { role: 'mediator' }) > 0);
      assert.equal(refreshes, 1);
      const head = await get(`${base}/metrics`, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.deepEqual(JSON.parse((await get(`${base}/targets`)).body), [{ targets: ['127.0.0.1:1'], labels: { role: 'mediator', server: 'x' } }]);
      for (const [path, method] of [['/', 'GET'], ['/metricsx', 'GET'], ['/metrics', 'POST'], ['/metrics', 'DELETE']] as const) {
        assert.equal((await get(`${base}${path}`, method)).status, 404, `${method} ${path}`);
      }
    } finally {
      await endpoint.close();
    }
    const plain = await MetricsEndpoint.start({ address: { host: '127.0.0.1', port: 0 }, registry: new Registry(), logger: silent });
    try {
      assert.equal((await get(`http://127.0.0.1:${plain.address.port}/targets`)).status, 404);
    } finally {
      await plain.close();
    }
  });
});

describe('the RPC server', () => {
  it('counts requests per bound method and outcome; an op no method is bound to is "unknown"', async () => {
    const registry = new Registry();
    const server = new RpcServer({ name: 'test server', observer: rpcMetrics(registry) });
    server.register(mediatorMethods.ping, () => ({ pid: 1 }));
    server.register(mediatorMethods.heal, () => {
      throw Object.assign(new Error('no'), { code: 'UNAVAILABLE' });
    });
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    const client = new RpcClient(address, { plaintext: true });
    try {
      await client.call(mediatorMethods.ping, {});
      await client.call(mediatorMethods.ping, {});
      await assert.rejects(client.call(mediatorMethods.heal, { wait: false }, { retry: false }));
      await assert.rejects(client.call(mediatorMethods.status, {}, { retry: false }), /does not serve/);
      const s = parsePromText(await registry.metrics());
      assert.equal(sumOf(s, 'quorumfs_rpc_requests_total', { method: 'ping', outcome: 'ok' }), 2);
      assert.equal(samplesOf(s, 'quorumfs_rpc_requests_total', { method: 'heal' }).length, 1);
      assert.notEqual(samplesOf(s, 'quorumfs_rpc_requests_total', { method: 'heal' })[0]!.labels['outcome'], 'ok');
      assert.equal(sumOf(s, 'quorumfs_rpc_requests_total', { method: 'unknown', outcome: 'UNKNOWN_OPERATION' }), 1);
      assert.equal(samplesOf(s, 'quorumfs_rpc_requests_total', { method: 'status' }).length, 0);
      assert.equal(sumOf(s, 'quorumfs_rpc_request_duration_seconds_count', { method: 'ping' }), 2);
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('the data server figures', () => {
  it('count bytes moved and show the disk only once statfs answered', async () => {
    const registry = new Registry();
    let statfsFails = true;
    const store = {
      held: () => ({ blocks: 3, bytes: 300 }),
      usage: async () => {
        if (statfsFails) throw new Error('EIO');
        return { blocks: 3, bytes: 300, freeBytes: 50, totalBytes: 500 };
      },
    };
    const metrics = new DataMetrics(registry, store, () => ({ readBytes: 10, writtenBytes: 4096 }));
    await assert.rejects(metrics.refresh());
    let s = parsePromText(await registry.metrics());
    assert.equal(sumOf(s, 'quorumfs_data_written_bytes_total'), 4096);
    assert.equal(sumOf(s, 'quorumfs_data_blocks'), 3);
    assert.equal(samplesOf(s, 'quorumfs_data_disk_free_bytes').length, 0);
    statfsFails = false;
    await metrics.refresh();
    s = parsePromText(await registry.metrics());
    assert.equal(sumOf(s, 'quorumfs_data_disk_free_bytes'), 50);
    assert.equal(sumOf(s, 'quorumfs_data_disk_capacity_bytes'), 500);
  });
});

describe("the mount's operations", () => {
  it('are counted per op and outcome with their bytes; the file system still answers', async () => {
    const registry = new Registry();
    const ctx = { uid: 0, gid: 0, pid: 0, umask: 0 };
    const fs: FuseOperations = {
      read: async (_c, a: ReadArgs) => new Uint8Array(a.sizeBytes),
      write: async (_c, a: WriteArgs) => a.data.length,
      getattr: () => {
        throw fuseError('ENOENT');
      },
    };
    const ops = instrumentOperations(fs, registry);
    assert.equal(ops.lookup, undefined, 'an operation the file system lacks stays absent');
    assert.equal((await ops.read!(ctx, { ino: 2, fh: 1, offset: 0, sizeBytes: 100, flags: 0 })).length, 100);
    assert.equal(await ops.write!(ctx, { ino: 2, fh: 1, offset: 0, data: Buffer.alloc(30), writepage: false, flags: 0 }), 30);
    assert.throws(() => ops.getattr!(ctx, { ino: 9, fh: undefined }), /ENOENT|no such/i);
    const s = parsePromText(await registry.metrics());
    assert.equal(sumOf(s, 'quorumfs_mount_read_bytes_total'), 100);
    assert.equal(sumOf(s, 'quorumfs_mount_written_bytes_total'), 30);
    assert.equal(sumOf(s, 'quorumfs_fuse_operations_total', { op: 'getattr', outcome: 'ENOENT' }), 1);
    assert.equal(sumOf(s, 'quorumfs_fuse_operations_total', { op: 'read', outcome: 'ok' }), 1);
    assert.equal(sumOf(s, 'quorumfs_fuse_operation_duration_seconds_count', { op: 'write' }), 1);
  });
});
