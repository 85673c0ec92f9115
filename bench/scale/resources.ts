// Resource figures of the scale benchmark: the peak resident memory of a process (VmHWM in
// /proc/<pid>/status, which the kernel keeps for the whole life of the process) and the bytes
// of the metadata server's SQLite files (database and write-ahead log) under the data dir.

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/** Peak resident set of `pid` in bytes; undefined when the process or the field is gone. */
export async function peakResidentBytes(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const m = status && /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

interface MetadataFiles {
  dbBytes: number;
  walBytes: number;
  /** the files counted, relative to the data dir */
  files: string[];
}

/** Sizes of *.sqlite and *.sqlite-wal files at most two levels under `dataDir` (the metadata
 * server keeps them in <dataDir>/meta/); undefined when there are none. */
export async function metadataFiles(dataDir: string): Promise<MetadataFiles | undefined> {
  const found: MetadataFiles = { dbBytes: 0, walBytes: 0, files: [] };
  const visit = async (dir: string, depth: number): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && depth < 2 && !entry.name.startsWith('data-')) await visit(full, depth + 1);
      if (!entry.isFile()) continue;
      const isDb = /\.(sqlite|db)$/.test(entry.name);
      const isWal = /\.(sqlite|db)-wal$/.test(entry.name);
      if (!isDb && !isWal) continue;
      const size = (await stat(full)).size;
      if (isDb) found.dbBytes += size;
      else found.walBytes += size;
      found.files.push(path.relative(dataDir, full));
    }
  };
  await visit(dataDir, 0);
  return found.files.length ? found : undefined;
}
