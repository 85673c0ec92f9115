// A file's three timestamps in nanoseconds, and which of them changed between two snapshots:
// the vocabulary of the timestamp tests ("a read changes a", "chmod changes c").

import { lstat } from 'node:fs/promises';

export interface Times {
  a: bigint;
  m: bigint;
  c: bigint;
}

export async function times(path: string): Promise<Times> {
  const st = await lstat(path, { bigint: true });
  return { a: st.atimeNs, m: st.mtimeNs, c: st.ctimeNs };
}

/** What changed between two snapshots, as a string like "m,c". */
export function changed(before: Times, after: Times): string {
  const out: string[] = [];
  if (after.a !== before.a) out.push('a');
  if (after.m !== before.m) out.push('m');
  if (after.c !== before.c) out.push('c');
  return out.join(',');
}
