// The cluster secret: 32 random bytes made at the mediator's first start in its data directory
// (`cluster.secret`, mode 0600, created atomically so two starts cannot make two secrets), and the
// revoked-ids file beside it, which servers consult on every handshake (re-read when its mtime
// changes). Servers find both through the secret's path.

import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { messageOf, qfsError } from './errors.js';
import { limits } from './limits.js';

export const CLUSTER_SECRET_FILE = 'cluster.secret';
export const REVOKED_IDS_FILE = 'revoked-ids';
const SECRET_BYTES = 32;

/** Returns the data directory's secret, making it first if there is none. */
export async function ensureClusterSecret(dataDir: string): Promise<Buffer> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, CLUSTER_SECRET_FILE);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, randomBytes(SECRET_BYTES), { mode: 0o600, flag: 'wx' });
  try {
    // link() fails if the secret exists: a concurrent or earlier start's secret wins.
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp);
  }
  return readClusterSecret(file);
}

export async function readClusterSecret(file: string): Promise<Buffer> {
  let secret: Buffer;
  try {
    secret = await readFile(file);
  } catch (err) {
    throw qfsError('UNAUTHENTICATED', `cannot read the cluster secret ${file}: ${messageOf(err)}`);
  }
  if (secret.length !== SECRET_BYTES) throw qfsError('INVALID', `${file}: a cluster secret is ${SECRET_BYTES} bytes, not ${secret.length}`);
  return secret;
}

/** The revoked ids (whole identities or bare ids), re-read only when the file's mtime changes. */
export class RevokedIds {
  private version = '';
  private ids: ReadonlySet<string> = new Set();

  constructor(private readonly file: string) {}

  /** Synchronous because TLS's pskCallback is: one stat per handshake, a read only on change. */
  isRevoked(identity: string): boolean {
    // A revoke renames a new file in place, so the inode changes even within one mtime tick.
    let version = 'none';
    try {
      const st = statSync(this.file);
      version = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      // no file: nothing revoked
    }
    if (version !== this.version) {
      this.ids = version === 'none' ? new Set() : parseRevoked(readFileSync(this.file, 'utf8'));
      this.version = version;
    }
    const id = identity.slice(identity.indexOf('.') + 1);
    return this.ids.has(identity) || this.ids.has(id);
  }
}

function parseRevoked(text: string): ReadonlySet<string> {
  return new Set(text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
}

/** Adds an id to the data directory's revoked-ids file (rewritten whole, then renamed). */
export async function revokeId(dataDir: string, id: string): Promise<void> {
  const file = path.join(dataDir, REVOKED_IDS_FILE);
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text.length > limits.maxCredentialFileBytes) throw qfsError('NO_SPACE', `${file} is over ${limits.maxCredentialFileBytes} bytes`);
  if (parseRevoked(text).has(id)) return;
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${id}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
