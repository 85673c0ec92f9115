// Who may open the web status page, over plain HTTP: nothing without a session; a sign-in link
// works once, only with a MAC made by a key of this cluster, before its expiry (and not too far
// ahead), for an identity not revoked whose role may read the status. After sign-in the page, its
// JSON and its stream answer, every response with the CSP and nosniff. Bad flags: one line, exit 2.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLUSTER_SECRET_FILE } from '../../src/common/cluster-secret.js';
import { deriveKey } from '../../src/common/credentials.js';
import { signInUrl } from '../../src/common/status-page-link.js';
import { runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { limits } from '../../src/common/limits.js';

/** Spare ports of this file (the web tests' range is 61200-61299). */
const SPARE_PORTS = '61220-61229';

let cluster: Cluster | undefined;
let pageUrl = '';
let secret: Buffer = Buffer.alloc(0);

async function get(url: string, cookie?: string): Promise<Response> {
  return fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
}

function assertHardened(res: Response): void {
  assert.equal(res.headers.get('content-security-policy')?.startsWith("default-src 'self'"), true, `CSP on ${res.url}`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
}

/** A link made here with the key of `identity`, as `quorumfs status-page` makes it. */
function linkFor(identity: string, expiresMs: number, key = deriveKey(secret, identity)): string {
  return signInUrl(pageUrl, key, identity, expiresMs);
}

async function signIn(url: string): Promise<{ res: Response; cookie: string | undefined }> {
  const res = await get(url);
  await res.arrayBuffer();
  assertHardened(res);
  const setCookie = res.headers.get('set-cookie');
  return { res, cookie: setCookie?.split(';')[0] };
}

async function assertRefused(url: string, reason: RegExp): Promise<void> {
  const res = await get(url);
  const body = await res.text();
  assertHardened(res);
  assert.equal(res.status, 403, body);
  assert.equal(res.headers.get('set-cookie'), null);
  assert.match(body, reason);
}

describe('status page sign-in', { timeout: 120_000 }, () => {
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 2, sparePorts: SPARE_PORTS, extraArgs: ['--http-port', '0'] });
    secret = await readFile(path.join(cluster.dataDir, CLUSTER_SECRET_FILE));
    const status = await cluster.status();
    assert.match(status.statusPage ?? '', /^http:\/\/127\.0\.0\.1:\d+\/$/);
    pageUrl = status.statusPage!;
    assert.ok(cluster.stderr().includes(`status page at ${pageUrl}`), 'the mediator logs where the page is');
  });
  after(async () => {
    await cluster?.stop();
  });

  it('answers nothing but a sign-in hint without a session', async () => {
    for (const p of ['', 'api/status', 'api/stream', 'status-page.js', 'nowhere']) {
      const res = await get(`${pageUrl}${p}`);
      const body = await res.text();
      assert.equal(res.status, 401, p);
      assertHardened(res);
      assert.match(body, /quorumfs status-page/);
      assert.equal(body.trim().split('\n').length, 1, 'one line');
    }
    const forged = await get(`${pageUrl}api/status`, 'qfs_session=' + 'ab'.repeat(32));
    assert.equal(forged.status, 401);
    await forged.arrayBuffer();
  });

  it('signs in once with the link of quorumfs status-page, then serves the page, the status and the stream', async () => {
    const printed = await runCli(['status-page', '--mediator', `127.0.0.1:${cluster!.mediatorPort}`]);
    assert.equal(printed.code, 0, printed.stderr);
    const link = printed.stdout.trim();
    assert.ok(link.startsWith(`${pageUrl}login?identity=admin.owner&expires=`), link);
    assert.ok(!link.includes(deriveKey(secret, 'admin.owner').toString('hex')), 'the key is never in the link');
    const { res, cookie } = await signIn(link);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/');
    assert.match(res.headers.get('set-cookie') ?? '', /^qfs_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\/$/);

    const status = await get(`${pageUrl}api/status`, cookie);
    assertHardened(status);
    assert.equal(status.status, 200);
    const report = (await status.json()) as { servers: Array<{ role: string; state: string }> };
    assert.equal(report.servers.filter((s) => s.role === 'data' && s.state === 'live').length, 2);
    const html = await get(pageUrl, cookie);
    assert.equal(html.status, 200);
    assert.match(await html.text(), /<script type="module" src="\/status-page.js"><\/script>/);

    // The stream opens with a snapshot.
    const controller = new AbortController();
    const stream = await fetch(`${pageUrl}api/stream`, { headers: { cookie: cookie! }, signal: controller.signal });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = stream.body!.getReader();
    let text = '';
    while (!text.includes('event: snapshot\ndata: ')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();

    await assertRefused(link, /used already/);
  });

  it('refuses a link not made with a key of this cluster, expired, too far ahead, of an unknown role or of a revoked identity', async () => {
    const soonMs = Date.now() + 60_000;
    const good = linkFor('admin.tester', soonMs);
    await assertRefused(good.replace(/mac=[0-9a-f]/, (m) => (m.endsWith('0') ? 'mac=1' : 'mac=0')), /not made with a credential of this cluster/);
    await assertRefused(linkFor('admin.tester', soonMs, deriveKey(Buffer.alloc(32, 7), 'admin.tester')), /not made with a credential of this cluster/);
    await assertRefused(linkFor('admin.tester', Date.now() - 1_000), /expired/);
    await assertRefused(linkFor('admin.tester', Date.now() + 24 * 3600_000), /too far ahead/);
    await assertRefused(linkFor('guest.tester', soonMs), /names no identity of this cluster/);
    await assertRefused(`${pageUrl}login?identity=admin.tester`, /lacks/);
    const revoke = await runCli(['credentials', 'revoke', 'admin.gone', '--data-dir', cluster!.dataDir]);
    assert.equal(revoke.code, 0, revoke.stderr);
    await assertRefused(linkFor('admin.gone', soonMs), /revoked/);
    // A client credential may read the status, so it may sign in.
    const { res } = await signIn(linkFor('client.viewer', soonMs));
    assert.equal(res.status, 303);
  });

  it(`holds at most limits.statusPageMaxStreams (${limits.statusPageMaxStreams}) streams open; one more is refused, and a closed one frees its place`, async () => {
    const { cookie } = await signIn(linkFor('admin.streams', Date.now() + 60_000));
    const open = async (): Promise<{ status: number; controller: AbortController; reader?: ReadableStreamDefaultReader<Uint8Array> }> => {
      const controller = new AbortController();
      const res = await fetch(`${pageUrl}api/stream`, { headers: { cookie: cookie! }, signal: controller.signal });
      if (res.status !== 200) {
        await res.text();
        return { status: res.status, controller };
      }
      const reader = res.body!.getReader();
      await reader.read(); // the snapshot has begun: the stream is counted
      return { status: res.status, controller, reader };
    };
    const streams = [];
    try {
      for (let i = 0; i < limits.statusPageMaxStreams; i++) streams.push(await open());
      assert.deepEqual(new Set(streams.map((x) => x.status)), new Set([200]));
      const refused = await open();
      assert.equal(refused.status, 503, 'one stream past the bound');
      streams[0]!.controller.abort();
      await waitFor(async () => {
        const again = await open();
        if (again.status === 200) streams.push(again);
        return again.status === 200;
      }, 10_000, 'a closed stream to free its place');
    } finally {
      for (const x of streams) x.controller.abort();
    }
  });

  it('refuses bad --http-port and --http-host values in one line, exit 2', async () => {
    for (const [args, message] of [
      [['--http-port', 'abc'], /--http-port 'abc' is not a port number/],
      [['--http-port', '70000'], /--http-port 70000 is out of range/],
      [['--http-host', '127.0.0.1'], /--http-host goes with --http-port/],
      [['--http-port', '0', '--http-host', 'a b'], /--http-host 'a b' is not a host name or IP address/],
      [['--http-port', '0', '--http-host', '0.0.0.0', '--insecure-loopback'], /--insecure-loopback serves the status page to anyone: it needs a loopback --http-host/],
    ] as const) {
      const r = await runCli(['mediator', '1', '1', '61230', '61231', '--port', '61232', '--spare-ports', 'none', '--data-dir', cluster!.dataDir, ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});

describe('status page of a cluster run with --insecure-loopback', { timeout: 60_000 }, () => {
  let plain: Cluster | undefined;
  after(async () => {
    await plain?.stop();
  });

  it('needs no sign-in: status-page prints the page itself, which answers without a session', async () => {
    plain = await startCluster({ readQuorum: 1, writeQuorum: 1, dataServers: 1, sparePorts: 'none', extraArgs: ['--insecure-loopback', '--http-port', '0'] });
    const printed = await runCli(['status-page', '--mediator', `127.0.0.1:${plain.mediatorPort}`]);
    assert.equal(printed.code, 0, printed.stderr);
    const page = printed.stdout.trim();
    assert.match(page, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'the page, not a sign-in link');
    const status = await get(`${page}api/status`);
    assertHardened(status);
    assert.equal(status.status, 200);
    const report = (await status.json()) as { servers: Array<{ role: string; state: string }> };
    assert.equal(report.servers.filter((x) => x.role === 'data' && x.state === 'live').length, 1);
  });
});
