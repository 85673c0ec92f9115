// Detects and clears a stale FUSE mount: what a killed file-system process leaves behind, where
// every access fails with ENOTCONN ("Transport endpoint is not connected"). Everything here is
// asynchronous, so it is safe to call from a process that serves other mounts.

import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { limits } from '../common/limits.js';

const FUSERMOUNT = 'fusermount3';

/** True when the path is a FUSE mount whose server is gone. */
export async function isStaleMount(mountpoint: string): Promise<boolean> {
  try {
    await stat(mountpoint);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), limits.staleUnmountTimeoutMs);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(-1);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
  });
}

/**
 * Lazily unmounts a stale mount at `mountpoint` (fusermount3 -u -z, then umount -l as a
 * fallback for root). Returns true if one was found and cleared, false if none was there;
 * throws if one is there and cannot be cleared.
 */
export async function clearStaleMount(mountpoint: string): Promise<boolean> {
  if (!(await isStaleMount(mountpoint))) return false;
  if ((await run(FUSERMOUNT, ['-u', '-z', mountpoint])) !== 0 && process.getuid?.() === 0) {
    await run('umount', ['-l', mountpoint]);
  }
  if (await isStaleMount(mountpoint)) {
    throw new Error(`stale FUSE mount at ${mountpoint} could not be cleared`);
  }
  return true;
}
