// Child process for the block store's crash test: opens the store in argv[2] and puts blocks in a
// loop, a few in flight, versions counting up from argv[3] (default 0), until it is killed. After
// each put resolves it prints "<key> <version> <checksum>\n": a printed line is a durable block.
// Block contents are a pure function of the version (crashBlockData), so the test can check them.

import { checksumOf } from '../../src/common/checksum.js';
import { BlockStore } from '../../src/stores/block-store.js';

const KEYS = 16;
const IN_FLIGHT = 4;
const MAX_SIZE_BYTES = 256 * 1024;

/** Deterministic bytes for `version`: size and contents from an xorshift seeded by it. */
export function crashBlockData(version: number): Buffer {
  let x = (version * 2654435761 + 1) >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const sizeBytes = version % 10 === 0 ? 0 : next() % MAX_SIZE_BYTES;
  const words = Buffer.allocUnsafe(Math.ceil(sizeBytes / 4) * 4);
  for (let i = 0; i < words.length; i += 4) words.writeUInt32LE(next(), i);
  return words.subarray(0, sizeBytes);
}

function crashBlockKey(version: number): string {
  return `crash:${version % KEYS}`;
}

async function writeForever(dir: string, firstVersion: number): Promise<void> {
  const store = await BlockStore.open(dir);
  let nextVersion = firstVersion;
  const worker = async (): Promise<void> => {
    for (;;) {
      const version = nextVersion++;
      const key = crashBlockKey(version);
      const data = crashBlockData(version);
      const checksum = checksumOf(data);
      await store.put(key, version, checksum, data);
      process.stdout.write(`${key} ${version} ${checksum}\n`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

const dir = process.argv[2];
if (dir !== undefined && process.argv[1]?.endsWith('block-crash-writer.js')) {
  writeForever(dir, Number(process.argv[3] ?? 0)).catch((err: unknown) => {
    process.stderr.write(`block-crash-writer: ${String(err)}\n`);
    process.exit(1);
  });
}
