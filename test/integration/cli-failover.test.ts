// Every command taking --mediator takes a comma-separated list: a dead address ahead of a live
// mediator is passed over; every address dead is one line naming them (exit 1); a bad entry is
// one clear line and exit 2.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePorts, runCli, startCluster, type Cluster } from '../helpers/cluster.js';

function assertUsage(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, pattern);
}

describe('--mediator with several addresses: bad lists', () => {
  it('rejects an empty entry, a bad one, one given twice and too many, in one line with exit 2', async () => {
    const [a, b] = await freePorts(2);
    for (const command of [['status'], ['heal'], ['scrub'], ['explain', '/x'], ['mount', '/tmp']]) {
      assertUsage(await runCli([...command, '--mediator', `127.0.0.1:${a},,127.0.0.1:${b}`]), /--mediator: address 2 of '127\.0\.0\.1:\d+,,127\.0\.0\.1:\d+' is empty/);
    }
    assertUsage(await runCli(['status', '--mediator', `127.0.0.1:${a},127.0.0.1:x`]), /--mediator '127\.0\.0\.1:x': port 'x' is not a number/);
    assertUsage(await runCli(['status', '--mediator', `127.0.0.1:${a},127.0.0.1:70000`]), /--mediator '127\.0\.0\.1:70000': port 70000 is out of range/);
    assertUsage(await runCli(['status', '--mediator', `127.0.0.1:${a},${a}`]), /--mediator: address 127\.0\.0\.1:\d+ is given more than once/);
    const many = Array.from({ length: 17 }, (_, i) => `127.0.0.1:${1000 + i}`).join(',');
    assertUsage(await runCli(['status', '--mediator', many]), /--mediator: 17 addresses given, at most 16 are taken/);
  });

  it('names every address tried when none answers (exit 1, one line)', async () => {
    const [a, b] = await freePorts(2);
    const started = Date.now();
    const r = await runCli(['status', '--mediator', `127.0.0.1:${a},127.0.0.1:${b}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(Date.now() - started < 12_000);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    // Each address once, in the order of their last failures (which depends on timing).
    const m = /^quorumfs: status to mediator: no address served it within \d+ ms; tried (.*); last: .*\[UNAVAILABLE\]\n$/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.deepEqual(m[1]!.split(', ').sort(), [`127.0.0.1:${a} (UNAVAILABLE)`, `127.0.0.1:${b} (UNAVAILABLE)`].sort());
  });
});

describe('--mediator with several addresses: a live cluster', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 1, dataServers: 2 });
  });
  after(() => cluster.stop());

  it('status passes over a dead mediator to the live one', async () => {
    const [dead] = await freePorts(1);
    const r = await runCli(['status', '--json', '--mediator', `127.0.0.1:${dead},127.0.0.1:${cluster.mediatorPort}`]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { mediator: { address: string }; servers: Array<{ role: string; state: string }> };
    assert.match(report.mediator.address, new RegExp(`:${cluster.mediatorPort}$`));
    assert.equal(report.servers.filter((s) => s.role === 'data' && s.state === 'live').length, 2);
  });

  it('explain and scrub pass over it too', async () => {
    const [dead] = await freePorts(1);
    const list = `127.0.0.1:${dead},127.0.0.1:${cluster.mediatorPort}`;
    await cluster.client.writeFile('/f', Buffer.alloc(3000, 7));
    const e = await runCli(['explain', '/f', '--json', '--mediator', list]);
    assert.equal(e.code, 0, e.stderr);
    assert.equal((JSON.parse(e.stdout) as { attr: { size: number } }).attr.size, 3000);
    const s = await runCli(['scrub', '--wait', '--mediator', list], 30_000);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /scrub done/);
  });
});
