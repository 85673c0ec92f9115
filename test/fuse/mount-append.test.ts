// Close-to-open for the size (issue 11): two mounts of one cluster take turns appending to one
// file at the default attribute timeout, each turn open(O_APPEND), write, close from a helper
// process per mount; no append may be lost, and a mount that opens the file after the other's
// close reads all of it. The kernel places an O_APPEND write at its cached size, which can
// predate the other mount's append: unless the mount puts the write at the file's true end, it
// overwrites the other mount's last line.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePorts, startCluster, type Cluster } from '../helpers/cluster.js';
import { FileTurnProcess, type TurnAnswer } from '../helpers/file-turn-process.js';
import { startMount, type Mount } from '../helpers/mount.js';

const TURNS = 1_000;
const READ_ROUNDS = 200;

/** A distinct 5-byte line: turn number in base 36 (3 characters), the mount's letter, newline. */
function lineOf(turn: number, letter: string): string {
  return `${turn.toString(36).padStart(3, '0')}${letter}\n`;
}

function ok(answer: TurnAnswer, what: string): string {
  if (!answer.ok) assert.fail(`${what}: ${answer.code} ${answer.message}`);
  return answer.text ?? '';
}

/** Lines written but not in `text`, and lines in `text` out of place, for a readable failure. */
function compare(written: string[], text: string): { lost: number; mismatched: number } {
  const read = text.split(/(?<=\n)/);
  const present = new Set(read);
  const lost = written.filter((line) => !present.has(line)).length;
  const mismatched = written.filter((line, i) => read[i] !== line).length + Math.max(0, read.length - written.length);
  return { lost, mismatched };
}

describe('two mounts of one cluster take turns appending to one file', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  const mounts: Mount[] = [];
  const helpers: FileTurnProcess[] = [];
  before(async () => {
    const [spare] = await freePorts(1);
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, sparePorts: `${spare}` });
    // The default attribute timeout (1 s): the kernel keeps a size it cached for that long.
    for (let i = 0; i < 2; i++) mounts.push(await startMount(cluster.mediatorPort));
    for (let i = 0; i < 2; i++) helpers.push(new FileTurnProcess());
  });
  after(async () => {
    for (const helper of helpers) await helper.stop();
    for (const mount of mounts) await mount.stop();
    await cluster?.stop();
  });

  it(`loses no append in ${TURNS} turns (open O_APPEND, write 5 bytes, close)`, async () => {
    const name = 'turns.log';
    const written: string[] = [];
    for (let turn = 0; turn < TURNS; turn++) {
      const who = turn % 2;
      const line = lineOf(turn, 'AB'[who]!);
      ok(await helpers[who]!.do({ op: 'append', path: path.join(mounts[who]!.dir, name), text: line }), `append of turn ${turn}`);
      written.push(line);
    }
    for (const [who, mount] of mounts.entries()) {
      const text = ok(await helpers[who]!.do({ op: 'read', path: path.join(mount.dir, name) }), `read through mount ${who}`);
      const { lost, mismatched } = compare(written, text);
      assert.equal(lost, 0, `mount ${who} reads ${text.length} of ${written.length * 5} bytes: ${lost} of ${TURNS} appends lost, ${mismatched} lines out of place`);
      assert.deepEqual(text.split(/(?<=\n)/), written, `mount ${who}: the lines in the order written`);
    }
  });

  it(`a mount that opens the file after the other mount's close reads all of it (${READ_ROUNDS} rounds)`, async () => {
    const name = 'read-after-close.log';
    let expected = '';
    for (let round = 0; round < READ_ROUNDS; round++) {
      // The writer alternates, so each mount appends into a file it has cached pages of.
      const writer = round % 2;
      const reader = 1 - writer;
      const line = lineOf(round, 'AB'[writer]!);
      ok(await helpers[writer]!.do({ op: 'append', path: path.join(mounts[writer]!.dir, name), text: line }), `append of round ${round}`);
      expected += line;
      const text = ok(await helpers[reader]!.do({ op: 'read', path: path.join(mounts[reader]!.dir, name) }), `read of round ${round}`);
      assert.equal(text, expected, `round ${round}: mount ${reader} reads ${text.length} of ${expected.length} bytes`);
      // The writer's own cache must hold its line where it landed, not where its kernel put it.
      const own = ok(await helpers[writer]!.do({ op: 'read', path: path.join(mounts[writer]!.dir, name) }), `own read of round ${round}`);
      assert.equal(own, expected, `round ${round}: the writer, mount ${writer}, reads ${own.length} of ${expected.length} bytes`);
    }
  });
});
