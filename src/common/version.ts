// The quorumfs version, read once from package.json (the one source of it), for `--version` and
// the mediator's status report.

import { readFileSync } from 'node:fs';

function readVersion(): string {
  // Compiled, this file is dist/src/common/version.js; the source is src/common/version.ts.
  for (const relative of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'quorumfs' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next place
    }
  }
  return 'unknown';
}

export const QUORUMFS_VERSION = readVersion();
