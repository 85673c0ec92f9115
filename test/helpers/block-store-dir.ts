// A BlockStore on a fresh temporary directory for one test: closed and removed afterwards.

import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlockStore } from '../../src/stores/block-store.js';

export async function withStore(body: (store: BlockStore, dir: string) => Promise<void>, prefix = 'qfs-block-store-'): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const store = await BlockStore.open(dir);
  try {
    await body(store, dir);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
