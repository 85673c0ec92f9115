// `quorumfs credentials issue --role client|admin` prints a credential of a new identity for use
// on another host (`--credentials FILE`); `quorumfs credentials revoke <id>` makes the servers
// refuse it from their next handshake on. Both need to read the cluster's data directory, so only
// its owner (or root) can run them.

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLUSTER_SECRET_FILE, readClusterSecret, revokeId } from '../common/cluster-secret.js';
import { findClusterByDataDir } from '../common/credential-store.js';
import { encodeCredentialFile } from '../common/credentials.js';
import { parseIdentity } from '../core/access-policy.js';
import { credentialFor } from '../services/server-security.js';
import { usage } from './usage-error.js';

interface IssueFlags {
  role: string;
  dataDir: string;
  id?: string;
  out?: string;
}

export async function issueCommand(flags: IssueFlags): Promise<void> {
  if (flags.role !== 'client' && flags.role !== 'admin') usage(`--role must be client or admin, not '${flags.role}'`);
  const id = flags.id ?? randomBytes(8).toString('hex');
  const identity = `${flags.role}.${id}`;
  if (!parseIdentity(identity)) usage(`--id '${id}' must be 1-64 letters, digits, '-' or '_'`);
  const dataDir = path.resolve(flags.dataDir);
  const secret = await readClusterSecret(path.join(dataDir, CLUSTER_SECRET_FILE));
  const cluster = await findClusterByDataDir(dataDir);
  const text = encodeCredentialFile({ ...credentialFor(secret, identity), addresses: [...(cluster?.addresses ?? []), ...(cluster?.spareAddresses ?? [])] });
  if (!cluster) process.stderr.write(`quorumfs: no running cluster uses ${dataDir}; the credential lists no addresses\n`);
  if (flags.out) await writeFile(flags.out, text, { mode: 0o600, flag: 'wx' });
  else process.stdout.write(text);
}

export async function revokeCommand(id: string, flags: { dataDir: string }): Promise<void> {
  const bare = id.includes('.') ? parseIdentity(id)?.id : id;
  if (bare === undefined || !parseIdentity(`client.${bare}`)) usage(`'${id}' is not an id or an identity <role>.<id>`);
  if (bare === 'mediator' || bare === 'owner') usage(`'${id}' is the cluster's own; it cannot be revoked`);
  await revokeId(path.resolve(flags.dataDir), bare);
  process.stdout.write(`revoked ${bare}: servers refuse it from their next handshake on\n`);
}
