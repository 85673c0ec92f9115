// Sets the kernel's readahead window of a FUSE mount. The kernel offers FUSE only 128 KiB at
// INIT, so sequential reads reach the file system as 128 KiB requests one or two at a time; a
// larger window (written to the mount's backing device in sysfs, which needs root) lets it ask
// for whole blocks, several in parallel. Reads /proc and /sys only, never the mount itself, so
// the process serving the mount may call it.

import { readFile, writeFile } from 'node:fs/promises';

/** The "major:minor" of the file system mounted at `mountpoint`, from /proc/self/mountinfo. */
export async function mountDevice(mountpoint: string): Promise<string | undefined> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  // Fields: id parent major:minor root mountpoint ...; the last mount at a path is the visible one.
  const matches = lines.map((line) => line.split(' ')).filter((f) => f.length > 4 && unescapeMountPath(f[4]!) === mountpoint);
  return matches.at(-1)?.[2];
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Sets the readahead of the mount at `mountpoint`; throws with the reason when it cannot. */
export async function setReadahead(mountpoint: string, bytes: number): Promise<void> {
  const device = await mountDevice(mountpoint);
  if (!device) throw new Error(`${mountpoint} is not in /proc/self/mountinfo`);
  await writeFile(`/sys/class/bdi/${device}/read_ahead_kb`, String(Math.ceil(bytes / 1024)));
}
