// Sets the kernel's readahead window of a FUSE mount. The kernel offers FUSE only 128 KiB at
// INIT, so sequential reads reach the file system as 128 KiB requests one or two at a time; a
// larger window (written to the mount's backing device in sysfs, which needs root) lets it ask
// for whole blocks, several in parallel. Reads /proc and /sys only, never the mount itself, so
// the process serving the mount may call it.

import { writeFile } from 'node:fs/promises';
import { mountDevice } from './mount-table.js';

/** Sets the readahead of the mount at `mountpoint`; throws with the reason when it cannot. */
export async function setReadahead(mountpoint: string, bytes: number): Promise<void> {
  const device = await mountDevice(mountpoint);
  if (!device) throw new Error(`${mountpoint} is not in /proc/self/mountinfo`);
  await writeFile(`/sys/class/bdi/${device}/read_ahead_kb`, String(Math.ceil(bytes / 1024)));
}
