// The web status page in a real headless browser (Debian's chromium, driven by playwright-core):
// signed in with the link `quorumfs status-page` prints, the page lists every data server live;
// after a data server is terminated it shows, live and without a reload, the crash, the
// replacement and the heal finishing, and its throughput chart has drawn the writes. The moment
// is saved as test-artifacts/status-page-heal.png.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { runCli, startCluster, type Cluster } from '../helpers/cluster.js';

const CHROMIUM = '/usr/bin/chromium';
/** This machine's network is closed: without these, Chromium keeps trying to reach its services. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** The repository's test-artifacts/ (this file runs from dist/test/web/). */
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
/** Spare ports of this test (the web tier's range is 61200-61299). */
const SPARE_PORTS = '61210-61219';

let cluster: Cluster | undefined;
let browser: BrowserContext | undefined;
let profileDir: string | undefined;
after(async () => {
  await browser?.close();
  await cluster?.stop();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
});

describe('the web status page', { timeout: 180_000 }, () => {
  it('shows a crash, the replacement and the heal live, without a reload', async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: SPARE_PORTS, extraArgs: ['--http-port', '0'] });
    const c = cluster;
    const mediator = `127.0.0.1:${c.mediatorPort}`;
    const link = await runCli(['status-page', '--mediator', mediator]);
    assert.equal(link.code, 0, link.stderr);
    const url = link.stdout.trim();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/login\?identity=admin\.owner&expires=\d+&mac=[0-9a-f]{64}$/);

    profileDir = await mkdtemp(path.join(os.tmpdir(), 'qfs-chromium-'));
    browser = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, viewport: { width: 1280, height: 1000 } });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(url);
    assert.equal(new URL(page.url()).pathname, '/', 'the sign-in redirects to the page');

    // Every data server, live; the stream is connected.
    for (const port of c.dataPorts) {
      await page.waitForSelector(`tr[data-server-id="127.0.0.1:${port}"][data-state="live"]`, { timeout: 15_000 });
    }
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 15_000 });
    const pageId = randomBytes(8).toString('hex');
    await page.evaluate((id) => ((window as unknown as { __pageId: string }).__pageId = id), pageId);

    // Writes spread over a few seconds, so the charts draw a shape rather than one spike.
    for (let i = 0; i < 24; i++) {
      await c.client.writeFile(`/f${i}`, randomBytes(64 * 1024 + i * 16 * 1024));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const victim = c.dataPorts[0]!;
    const terminate = await runCli(['terminate', String(victim)]);
    assert.equal(terminate.code, 0, terminate.stderr);

    // The crash, the replacement and the heal, as the page shows them.
    const victimRow = `tr[data-server-id="127.0.0.1:${victim}"]`;
    await page.waitForFunction((sel) => {
      const state = document.querySelector(sel)?.getAttribute('data-state');
      return state === 'down' || state === 'replaced';
    }, victimRow, { timeout: 30_000 });
    // Events naming this crash (the heals of the cluster's start are in the list already).
    const eventShown = (kind: string, address: string) =>
      page.waitForFunction(
        ([k, a]) => Array.from(document.querySelectorAll(`#events li[data-kind="${k}"]`)).some((li) => (li.textContent ?? '').split(/[^\d.:]+/).includes(a)),
        [kind, address] as const,
        { timeout: 60_000 },
      );
    await eventShown('server-down', `127.0.0.1:${victim}`);
    await eventShown('replacement-started', `127.0.0.1:${victim}`);
    const replacement = (await page.textContent(`${victimRow} td:last-child`))!.trim();
    assert.match(replacement, /^127\.0\.0\.1:612[01]\d$/, 'the victim row names its replacement, on a spare port of this test');
    await eventShown('heal-done', replacement);
    await page.waitForSelector(`tr[data-server-id="${replacement}"][data-state="live"]`, { timeout: 60_000 });

    // The throughput chart has points, and the writes show in it.
    const chart = await page.$eval('#throughput-chart', (svg) => ({
      points: Number(svg.getAttribute('data-points')),
      drawn: Array.from(svg.querySelectorAll('polyline')).map((p) => (p.getAttribute('points') ?? '').split(' ').filter(Boolean).length),
      label: svg.querySelector('text')?.textContent ?? '',
    }));
    assert.ok(chart.points > 0, `throughput chart points: ${chart.points}`);
    assert.ok(chart.drawn.every((n) => n > 0), `polylines drawn: ${chart.drawn.join(',')}`);
    assert.doesNotMatch(chart.label, /^max 0 B\/s$/, 'the writes show as throughput');
    assert.equal(await page.textContent('#redundancy'), 'fully replicated');

    // No reload happened: the mark set before the crash is still there.
    assert.equal(await page.evaluate(() => (window as unknown as { __pageId?: string }).__pageId), pageId);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-heal.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  });
});
