// The kernel's tables of mounts (/proc/mounts, /proc/self/mountinfo), read asynchronously: safe
// to call from a process that serves a mount.

import { readFile } from 'node:fs/promises';

/** The tables escape space, tab, newline and backslash in paths as octal (\040). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** The mounts in /proc/mounts: mount point (unescaped) and file system type. */
export async function mountTable(): Promise<Array<{ dir: string; type: string }>> {
  const lines = (await readFile('/proc/mounts', 'utf8')).split('\n');
  return lines
    .map((line) => line.split(' '))
    .filter((f) => f.length > 2)
    .map((f) => ({ dir: unescapeMountField(f[1]!), type: f[2]! }));
}

/** Mount points in /proc/mounts, unescaped. */
export async function mountPoints(): Promise<string[]> {
  return (await mountTable()).map((m) => m.dir);
}

/** The "major:minor" of the file system mounted at `mountpoint`, from /proc/self/mountinfo. */
export async function mountDevice(mountpoint: string): Promise<string | undefined> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  // Fields: id parent major:minor root mountpoint ...; the last mount at a path is the visible one.
  const matches = lines.map((line) => line.split(' ')).filter((f) => f.length > 4 && unescapeMountField(f[4]!) === mountpoint);
  return matches.at(-1)?.[2];
}
