// The standard place of a user's cluster credentials: `$XDG_CONFIG_HOME/quorumfs/clusters/` (or
// `~/.config/quorumfs/clusters/`), directory 0700, one file 0600 per running cluster, named after
// its mediator's address and listing every address it applies to. The mediator writes its file
// at start (temp + rename, so a reader never sees half a file and many clusters on one host never
// race) and removes it at stop; a client given no credentials picks the newest file of a live
// mediator whose addresses include the peer it dials.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatAddress, type Address } from './address.js';
import { decodeCredentialFile, encodeCredentialFile, sameAddress, type CredentialFile } from './credentials.js';
import { messageOf, qfsError } from './errors.js';
import { parseAddress } from './address.js';
import { limits } from './limits.js';

function clusterCredentialsDir(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? os.homedir(), '.config');
  return path.join(config, 'quorumfs', 'clusters');
}

function fileNameOf(mediator: Address): string {
  return `${mediator.host.replace(/[^A-Za-z0-9.-]/g, '_')}-${mediator.port}.json`;
}

/** Writes (or rewrites) the cluster's file; returns its path. */
export async function writeClusterCredentials(mediator: Address, credential: CredentialFile): Promise<string> {
  const dir = clusterCredentialsDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, fileNameOf(mediator));
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, encodeCredentialFile(credential), { mode: 0o600 });
  await rename(tmp, file);
  return file;
}

/** Removes the cluster's file, unless a newer mediator on the same address has replaced it. */
export async function removeClusterCredentials(mediator: Address, pid: number): Promise<void> {
  const file = path.join(clusterCredentialsDir(), fileNameOf(mediator));
  try {
    const current = decodeCredentialFile(await readFile(file, 'utf8'), file);
    if (current.pid === pid) await unlink(file);
  } catch {
    // Already gone or unreadable: nothing of ours to remove.
  }
}

/** The credential for a peer from the standard place; UNAUTHENTICATED, in one line, if none. */
export async function findClusterCredentials(peer: Address): Promise<CredentialFile> {
  const dir = clusterCredentialsDir();
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).slice(0, limits.maxClusterCredentialFiles);
  } catch (err) {
    throw noCredentials(peer, `cannot read ${dir} (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})`);
  }
  let best: { credential: CredentialFile; rank: number; mtimeMs: number } | undefined;
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const st = await stat(file);
      if (st.size > limits.maxCredentialFileBytes) continue;
      const credential = decodeCredentialFile(await readFile(file, 'utf8'), file);
      const lists = (addresses: string[] | undefined): boolean => (addresses ?? []).some((a) => sameAddress(parseAddress(a), peer));
      const rank = lists(credential.addresses) ? 2 : lists(credential.spareAddresses) ? 1 : 0;
      if (rank === 0) continue;
      if (credential.pid !== undefined && !processAlive(credential.pid)) {
        // A killed mediator's leftover: removed, so leftovers cannot pile up past the files read.
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (!best || rank > best.rank || (rank === best.rank && st.mtimeMs > best.mtimeMs)) best = { credential, rank, mtimeMs: st.mtimeMs };
    } catch {
      // Removed while we looked, or not ours to read: try the others.
    }
  }
  if (!best) throw noCredentials(peer, `no cluster in ${dir} lists it`);
  return best.credential;
}

function noCredentials(peer: Address, why: string): Error {
  return qfsError('UNAUTHENTICATED', `no credentials for ${formatAddress(peer)}: ${why}; pass --credentials FILE (see quorumfs credentials issue)`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The credentials a live mediator using this data directory left in the standard place. */
export async function findClusterByDataDir(dataDir: string): Promise<CredentialFile | undefined> {
  const dir = clusterCredentialsDir();
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).slice(0, limits.maxClusterCredentialFiles);
  } catch {
    return undefined;
  }
  for (const name of names) {
    try {
      const file = path.join(dir, name);
      const credential = decodeCredentialFile(await readFile(file, 'utf8'), file);
      if (credential.dataDir === dataDir && (credential.pid === undefined || processAlive(credential.pid))) return credential;
    } catch {
      // skip unreadable or vanished files
    }
  }
  return undefined;
}
