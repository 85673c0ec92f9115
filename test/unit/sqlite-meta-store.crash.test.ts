// Crash test: a child process changes an on-disk SqliteMetaStore and prints each acknowledged
// change; the test kills it with SIGKILL mid-stream, reopens the store and checks that every
// acknowledged change is there and that no version is handed out twice. Three rounds on one
// database, each killed at a different point.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { ROOT_INO } from '../../src/common/types.js';
import { SqliteMetaStore } from '../../src/stores/sqlite-meta-store.js';

const writer = fileURLToPath(new URL('../helpers/meta-crash-writer.js', import.meta.url));
const deadlineMs = 20_000;

const dir = mkdtempSync(join(tmpdir(), 'qfs-meta-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer until it has printed `killAfterLines` lines, kills it with SIGKILL and returns
 * every complete line it printed (a line cut by the kill was never acknowledged). */
async function runAndKill(dbPath: string, prefix: string, killAfterLines: number): Promise<string[]> {
  const child = spawn(process.execPath, [writer, dbPath, prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const enough = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.split('\n').length > killAfterLines) resolve();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('exit', (code) => reject(new Error(`writer exited by itself (code ${code}): ${err}`)));
    setTimeout(() => reject(new Error(`writer printed too little within ${deadlineMs} ms`)), deadlineMs).unref();
  });
  try {
    await enough;
  } finally {
    child.kill('SIGKILL');
    await closed;
  }
  assert.equal(child.signalCode, 'SIGKILL');
  return out.split('\n').slice(0, -1);
}

interface Acked {
  names: Map<string, number>;
  blocks: Map<number, number>;
  versionsEnd: number;
}

function record(acked: Acked, lines: string[]): void {
  for (const line of lines) {
    const [kind, a, b] = line.split(' ');
    if (kind === 'ino' && a !== undefined) acked.names.set(a, Number(b));
    else if (kind === 'blk') acked.blocks.set(Number(a), Number(b));
    else if (kind === 'ver') acked.versionsEnd = Math.max(acked.versionsEnd, Number(a) + Number(b));
    else assert.equal(kind, 'ready', `unexpected line ${JSON.stringify(line)}`);
  }
}

function verify(dbPath: string, acked: Acked): void {
  const store = SqliteMetaStore.open(dbPath);
  try {
    for (const [name, ino] of acked.names) assert.equal(store.lookup(ROOT_INO, name).ino, ino, `acknowledged ${name}`);
    for (const [ino, version] of acked.blocks) assert.equal(store.getBlocks(ino, 0, 1)[0]?.version, version, `block of ${ino}`);
    assert.ok(store.reserveVersions(1) >= acked.versionsEnd, 'versions are never handed out twice');
    assert.equal(store.getattr(ROOT_INO).nlink, 2);
  } finally {
    store.close();
  }
}

it('every acknowledged change survives kill -9', async () => {
  const dbPath = join(dir, 'meta.db');
  const acked: Acked = { names: new Map(), blocks: new Map(), versionsEnd: 0 };
  for (const [round, killAfterLines] of [40, 400, 150].entries()) {
    const lines = await runAndKill(dbPath, `r${round}`, killAfterLines);
    assert.ok(lines.length >= killAfterLines);
    record(acked, lines);
    verify(dbPath, acked);
  }
  assert.ok(acked.names.size >= 250);
});
