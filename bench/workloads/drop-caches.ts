// Drops the kernel's page, dentry and inode caches (needs root) so that a read that follows
// goes to the file system rather than to memory. Reports whether it could, never throws.

import { writeFile } from 'node:fs/promises';

let warned = false;

export async function dropCaches(): Promise<boolean> {
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch (err) {
    if (!warned) console.error(`bench: cannot drop caches (${(err as Error).message}); reads may come from memory`);
    warned = true;
    return false;
  }
}
