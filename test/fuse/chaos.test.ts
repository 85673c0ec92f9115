// Chaos with a fixed seed: random file operations through a real mount while data servers are
// terminated and replicas corrupted at random, never more than N - 1 bad replicas of a block at
// once (corruption always hits one server, crashes only the others, one at a time, each healed
// before the next). Every read is compared with a local model as it happens; at the end, after
// heal and scrub, every file matches the model and every replica of every block is good.
// QFS_SEED=n replays another schedule; a failure names the seed and the step.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { limits } from '../../src/common/limits.js';
import { blockKey } from '../../src/common/types.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import { freePorts, runCli, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { startMount, type Mount } from '../helpers/mount.js';
import { seededRandom as prng } from '../../src/common/random.js';

const SEED = Number(process.env['QFS_SEED'] ?? 20261125);
const STEPS = 160;
const NAMES = Array.from({ length: 10 }, (_, i) => `f${i}`);


describe(`chaos (seed ${SEED})`, { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let mount: Mount;
  before(async () => {
    const [spare] = await freePorts(1);
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, faultInjection: true, sparePorts: `${spare}-${spare! + 30}` });
    mount = await startMount(cluster.mediatorPort);
  });
  after(async () => {
    await mount?.stop();
    await cluster?.stop();
  });

  it('never returns wrong bytes and ends fully replicated', async () => {
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const size = (): number => Math.floor(random() ** 3 * 2.5 * limits.blockSizeBytes);
    const bytes = (n: number): Buffer => {
      const fill = prng(Math.floor(random() * 2 ** 32));
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(fill() * 256);
      return b;
    };
    const model = new Map<string, Buffer>();
    const p = (name: string): string => path.join(mount.dir, name);
    const corruptServer = cluster.dataPorts[0]!;
    let crashable = cluster.dataPorts.slice(1);
    const faults = { corrupt: 0, terminate: 0 };

    for (let step = 0; step < STEPS; step++) {
      const name = pick(NAMES);
      const where = `seed ${SEED} step ${step} on ${name}`;
      const current = model.get(name);
      const op = random();
      if (op < 0.25 || !current) {
        const data = bytes(size());
        await writeFile(p(name), data);
        model.set(name, data);
      } else if (op < 0.4) {
        const offset = Math.floor(random() * (current.length + 1000));
        const patch = bytes(1 + Math.floor(random() * 200_000));
        const handle = await open(p(name), 'r+');
        await handle.write(patch, 0, patch.length, offset);
        await handle.close();
        const grown = Buffer.alloc(Math.max(current.length, offset + patch.length));
        current.copy(grown);
        patch.copy(grown, offset);
        model.set(name, grown);
      } else if (op < 0.5) {
        const length = Math.floor(random() * current.length * 1.5);
        await truncate(p(name), length);
        const cut = Buffer.alloc(length);
        current.copy(cut, 0, 0, Math.min(length, current.length));
        model.set(name, cut);
      } else if (op < 0.55) {
        await rm(p(name));
        model.delete(name);
      } else {
        const got = await readFile(p(name));
        assert.equal(sha(got), sha(current), `wrong bytes read: ${where}`);
      }

      if (step % 8 === 7) {
        // Corrupt one replica of a random block of a random file, always on the same server.
        const victim = pick([...model.keys()]);
        const data = victim === undefined ? undefined : model.get(victim);
        if (victim !== undefined && data && data.length > 0) {
          const ino = (await stat(p(victim))).ino;
          const index = Math.floor(random() * Math.ceil(data.length / limits.blockSizeBytes));
          const r = await runCli(['corrupt', String(corruptServer), blockKey(ino, index)]);
          if (r.code === 0) faults.corrupt++;
        }
      }
      if (step % 40 === 39) {
        // Crash another server; wait until its replacement is healed before the next crash.
        const port = pick(crashable);
        assert.equal((await runCli(['terminate', String(port)])).code, 0, where);
        faults.terminate++;
        const c = cluster;
        let replacement = 0;
        await waitFor(async () => {
          const s = (await c.status()).servers.find((x) => x.replaces === `127.0.0.1:${port}`);
          replacement = s?.port ?? 0;
          return s?.state === 'live';
        }, 60_000, `the replacement of ${port} (${where})`);
        crashable = crashable.filter((x) => x !== port).concat(replacement);
      }
    }

    const addr = `127.0.0.1:${cluster.mediatorPort}`;
    assert.equal((await runCli(['heal', '--wait', '--mediator', addr], 120_000)).code, 0);
    assert.equal((await runCli(['scrub', '--wait', '--mediator', addr], 120_000)).code, 0);
    for (const [name, data] of model) {
      assert.equal(sha(await readFile(p(name))), sha(data), `final contents of ${name} (seed ${SEED})`);
      const explained = await cluster.client.rpc.call(mediatorMethods.explain, { ino: (await stat(p(name))).ino });
      for (const block of explained.blocks) {
        assert.deepEqual(block.bad, [], `${name} block ${block.index} (seed ${SEED})`);
        assert.equal(block.good.length, 3, `${name} block ${block.index} (seed ${SEED})`);
      }
    }
    assert.ok(faults.corrupt >= 10 && faults.terminate >= 3, JSON.stringify(faults));
    assert.equal((await cluster.status()).counters.underReplicated, 0);
  });
});

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
