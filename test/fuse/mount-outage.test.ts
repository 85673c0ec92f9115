// The mount's log during a mediator outage (issue 11): one warning when calls to the mediator
// start failing and one info line with the outage's length when it answers again, however many
// calls failed in between. Two kinds of outage: the mediator process stopped (SIGSTOP: calls
// time out on an open connection) and the cluster gone (stopped and started again: no
// connection). A mount calls the metadata server itself for names and attributes, so when the
// whole cluster is gone the failed calls are those to the metadata server, which the mount
// logs the same way; the mediator's outage is logged once too.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePorts, startCluster, waitFor } from '../helpers/cluster.js';
import { startMount, type Mount } from '../helpers/mount.js';

const FAILED_CALLS = 3;

interface LogLine {
  level: number;
  msg: string;
  mediator?: string;
  metaServer?: string;
  code?: string;
  outageMs?: number;
  unansweredAttempts?: number;
}

const WARN = 40;
const INFO = 30;

type Peer = 'mediator' | 'metadata server';

function outageLines(mount: Mount, peer: Peer = 'mediator'): LogLine[] {
  return mount
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)
    .filter((line) => line.msg.startsWith(`${peer} not answering`) || line.msg === `${peer} answering again`);
}

/** Fails FAILED_CALLS reads through the mount during an outage, then ends it and reads again;
 * returns the bounds the logged outage length must lie in (by the clock all processes share). */
async function throughOutage(mount: Mount, begin: () => Promise<void>, end: () => Promise<void>): Promise<{ atLeastMs: number; atMostMs: number }> {
  const file = path.join(mount.dir, 'file');
  await writeFile(file, 'contents');
  const lastAnsweredAfter = Date.now();
  assert.equal(await readFile(file, 'utf8'), 'contents');
  assert.deepEqual(outageLines(mount), [], 'nothing logged while the mediator answers');
  await begin();
  let firstFailureAt = 0;
  let endingAt = 0;
  try {
    for (let i = 0; i < FAILED_CALLS; i++) {
      await assert.rejects(readFile(file), { code: 'EIO' });
      firstFailureAt ||= Date.now();
    }
  } finally {
    endingAt = Date.now();
    await end();
  }
  assert.equal(await readFile(file, 'utf8'), 'contents');
  const answeredAt = Date.now();
  // The outage starts with an attempt made after the mediator's last answer (during the read
  // before `begin`) and before the first failure came back; it ends with an answer after `end`
  // began and before the read after it came back.
  return { atLeastMs: endingAt - firstFailureAt, atMostMs: answeredAt - lastAnsweredAfter };
}

/** `peer`'s outage was logged as one warning and one info line; the failed calls (and so the
 * outage's length) were its when `failedCalls`. */
async function checkLog(mount: Mount, peer: Peer, address: string, bounds: { atLeastMs: number; atMostMs: number }, code: string, failedCalls: boolean): Promise<void> {
  await waitFor(() => outageLines(mount, peer).length >= 2, 10_000, `the mount to log the end of the ${peer}'s outage`);
  const lines = outageLines(mount, peer);
  assert.equal(lines.length, 2, `two lines, not one per failed call: ${JSON.stringify(lines)}`);
  const [warning, recovered] = lines as [LogLine, LogLine];
  const addressOf = (line: LogLine): string | undefined => (peer === 'mediator' ? line.mediator : line.metaServer);
  assert.equal(warning.level, WARN);
  assert.match(warning.msg, new RegExp(`^${peer} not answering`));
  assert.equal(addressOf(warning), address);
  assert.equal(warning.code, code);
  assert.equal(recovered.level, INFO);
  assert.equal(recovered.msg, `${peer} answering again`);
  assert.equal(addressOf(recovered), address);
  if (!failedCalls) return;
  assert.ok(recovered.unansweredAttempts! >= FAILED_CALLS, `${recovered.unansweredAttempts} unanswered attempts`);
  const outageMs = recovered.outageMs!;
  assert.ok(outageMs >= bounds.atLeastMs && outageMs <= bounds.atMostMs, `outage of ${outageMs} ms, not within [${bounds.atLeastMs}, ${bounds.atMostMs}]`);
}

describe('the mount logs a mediator outage once, and its end', { timeout: 120_000 }, () => {
  it('mediator stopped (SIGSTOP): calls time out; one warning, one info line with the duration', async () => {
    const [spare] = await freePorts(1);
    const cluster = await startCluster({ readQuorum: 1, writeQuorum: 1, dataServers: 1, sparePorts: `${spare}` });
    const mount = await startMount(cluster.mediatorPort, { timeoutMs: 1_000, attrTimeoutSec: 0, logLevel: 'info' }).catch(async (err: unknown) => {
      await cluster.stop();
      throw err;
    });
    try {
      const pid = cluster.process.pid!;
      const bounds = await throughOutage(
        mount,
        async () => void process.kill(pid, 'SIGSTOP'),
        async () => void process.kill(pid, 'SIGCONT'),
      );
      await checkLog(mount, 'mediator', `127.0.0.1:${cluster.mediatorPort}`, bounds, 'TIMEOUT', true);
    } finally {
      await mount.stop();
      await cluster.stop();
    }
  });

  it('cluster gone (stopped, started again): no connection; one warning, one info line for the metadata server and for the mediator', async () => {
    const [spare] = await freePorts(1);
    let cluster = await startCluster({ readQuorum: 1, writeQuorum: 1, dataServers: 1, sparePorts: `${spare}` });
    const mount = await startMount(cluster.mediatorPort, { timeoutMs: 1_000, attrTimeoutSec: 0, logLevel: 'info' }).catch(async (err: unknown) => {
      await cluster.stop();
      throw err;
    });
    try {
      const bounds = await throughOutage(
        mount,
        () => cluster.stop({ keepData: true }),
        async () => {
          cluster = await cluster.restart();
        },
      );
      await checkLog(mount, 'metadata server', `127.0.0.1:${cluster.metaPort}`, bounds, 'UNAVAILABLE', true);
      await checkLog(mount, 'mediator', `127.0.0.1:${cluster.mediatorPort}`, bounds, 'UNAVAILABLE', false);
    } finally {
      await mount.stop();
      await cluster.stop();
    }
  });
});
