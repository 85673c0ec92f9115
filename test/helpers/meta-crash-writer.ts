// Child process of the metadata crash test: opens SqliteMetaStore at argv[2] and changes it in a
// loop until killed, printing a line only after each call has returned (been acknowledged):
//   ino <name> <ino>          a file created in the root
//   blk <ino> <version>       block 0 of that file committed at that version
//   ver <first> <count>       versions reserved
// Every printed line must survive kill -9. Stops by itself after maxRounds as a safety net.

import { writeSync } from 'node:fs';
import { checksumOf } from '../../src/common/checksum.js';
import { ROOT_INO, S_IFREG } from '../../src/common/types.js';
import { SqliteMetaStore } from '../../src/stores/sqlite-meta-store.js';

const maxRounds = 50_000;
const versionsPerReserve = 100;

function say(line: string): void {
  writeSync(1, `${line}\n`);
}

function main(path: string, prefix: string): void {
  const store = SqliteMetaStore.open(path);
  say('ready');
  let next = store.reserveVersions(versionsPerReserve);
  say(`ver ${next} ${versionsPerReserve}`);
  let left = versionsPerReserve;
  for (let i = 0; i < maxRounds; i++) {
    const name = `${prefix}-${i}`;
    const caller = { uid: 0, gid: 0 };
    const attr = store.create({ parent: ROOT_INO, name, mode: S_IFREG | 0o644, caller, exclusive: true });
    say(`ino ${name} ${attr.ino}`);
    if (left === 0) {
      next = store.reserveVersions(versionsPerReserve);
      left = versionsPerReserve;
      say(`ver ${next} ${versionsPerReserve}`);
    }
    const version = next++;
    left--;
    const data = new TextEncoder().encode(name);
    const block = { index: 0, version, checksum: checksumOf(data), lengthBytes: data.length };
    store.commitBlocks({ ino: attr.ino, blocks: [block], sizeBytes: data.length, time: { sec: i, nsec: 0 } });
    say(`blk ${attr.ino} ${version}`);
  }
  store.close();
}

const [path, prefix] = process.argv.slice(2);
if (path === undefined || prefix === undefined) {
  process.stderr.write('usage: meta-crash-writer <db path> <name prefix>\n');
  process.exit(2);
}
main(path, prefix);
