// The fill of the scale benchmark: creates files [from, to) through the client API with a
// bounded number in flight (create, then one write of a few hundred bytes: one block each),
// into the directories of layout.ts. Remembers each file's inode, so the block keys every data
// server must hold are known (<ino>:0). The first error ends the fill, naming the file.

import { codeOf, messageOf } from '../../src/common/errors.js';
import { ROOT_INO } from '../../src/common/types.js';
import type { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import { BIG_DIR, fileBytes, placement, spreadDirCount, spreadDirName } from './layout.js';
import type { ScaleSizes } from './scale-options.js';

export interface FillState {
  /** directory name → inode */
  dirInos: Map<string, number>;
  /** file index → inode (0 until created) */
  fileInos: Float64Array;
  /** files created so far (a prefix of the indices) */
  created: number;
}

/** Creates /big and every /d<k> (the directories all files need). */
export async function makeDirectories(client: QuorumfsClient, sizes: ScaleSizes, signal: AbortSignal): Promise<FillState> {
  const dirInos = new Map<string, number>();
  for (const name of [BIG_DIR, ...Array.from({ length: spreadDirCount(sizes) }, (_, k) => spreadDirName(k))]) {
    signal.throwIfAborted();
    const attr = await client.mkdir(ROOT_INO, name).catch((err: unknown) => {
      throw new Error(`mkdir /${name}: ${codeOf(err)} ${messageOf(err)}`);
    });
    dirInos.set(name, attr.ino);
  }
  return { dirInos, fileInos: new Float64Array(sizes.files), created: 0 };
}

/** Creates files state.created … to-1 with `sizes.concurrency` in flight; returns the seconds
 * the files took. */
export async function fillFiles(client: QuorumfsClient, sizes: ScaleSizes, state: FillState, to: number, signal: AbortSignal): Promise<number> {
  const startMs = performance.now();
  let next = state.created;
  let failure: Error | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && !signal.aborted) {
      const i = next++;
      if (i >= to) return;
      const { dir, name } = placement(i, sizes);
      try {
        const attr = await client.create(state.dirInos.get(dir)!, name, 0o644, { exclusive: true });
        await client.write(attr.ino, 0, fileBytes(i, sizes));
        state.fileInos[i] = attr.ino;
      } catch (err) {
        failure ??= new Error(`/${dir}/${name}: ${codeOf(err)} ${messageOf(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(sizes.concurrency, to - state.created) }, worker));
  if (failure) throw failure;
  signal.throwIfAborted();
  state.created = to;
  return (performance.now() - startMs) / 1000;
}

/** Block keys of the files created so far. */
export function createdKeys(state: FillState): string[] {
  return Array.from(state.fileInos.subarray(0, state.created), (ino) => `${ino}:0`);
}
