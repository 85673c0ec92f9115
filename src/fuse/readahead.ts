// Sets the kernel's readahead window of a FUSE mount. The kernel offers FUSE only 128 KiB at
// INIT, so sequential reads reach the file system as 128 KiB requests one or two at a time; a
// larger window (written to the mount's backing device in sysfs, which needs root) lets it ask
// for whole blocks, several in parallel. The kernel sets its own window when it processes the
// reply to INIT, which may come after mount(2) returns, so the window is written once INIT has
// arrived and again until it reads back as written. Reads /proc and /sys only, never the mount
// itself, so the process serving the mount may call it.

import { readFile, writeFile } from 'node:fs/promises';
import { delay } from '../common/async.js';
import { limits } from '../common/limits.js';
import { mountDevice } from './mount-table.js';

/** Sets the readahead of the mount at `mountpoint` once `initialized` (the session's INIT) has
 * resolved. Throws with the reason when it cannot within limits.readaheadSettleTimeoutMs. */
export async function setReadahead(mountpoint: string, bytes: number, initialized: Promise<unknown>): Promise<void> {
  const device = await mountDevice(mountpoint);
  if (!device) throw new Error(`${mountpoint} is not in /proc/self/mountinfo`);
  const file = `/sys/class/bdi/${device}/read_ahead_kb`;
  const wanted = String(Math.ceil(bytes / 1024));
  const deadlineMs = Date.now() + limits.readaheadSettleTimeoutMs;
  let waiting: NodeJS.Timeout | undefined;
  await Promise.race([initialized, new Promise((resolve) => (waiting = setTimeout(resolve, limits.readaheadSettleTimeoutMs)))]);
  clearTimeout(waiting);
  for (;;) {
    await writeFile(file, wanted);
    await delay(limits.readaheadCheckIntervalMs);
    const now = (await readFile(file, 'utf8')).trim();
    if (now === wanted) return;
    if (Date.now() >= deadlineMs) throw new Error(`the kernel keeps the readahead at ${now} KiB`);
  }
}
