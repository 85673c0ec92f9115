// What a server process needs to authenticate its peers: the cluster secret, read once at start
// (it never changes), the revoked-ids file beside it, and the server's access policy. Also the
// mediator's own credentials, derived from the same secret.

import path from 'node:path';
import { CLUSTER_SECRET_FILE, REVOKED_IDS_FILE, RevokedIds, readClusterSecret } from '../common/cluster-secret.js';
import { deriveKey, type Credential } from '../common/credentials.js';
import type { AccessPolicy } from '../core/access-policy.js';
import type { ServerSecurity } from '../transport/secure-socket.js';

/** The identity the mediator uses towards its metadata and data servers. */
export const MEDIATOR_IDENTITY = 'server.mediator';
/** The identity of the credentials the mediator leaves for its owner in the standard place. */
export const OWNER_IDENTITY = 'admin.owner';

export function securityFrom(clusterSecret: Buffer, secretFile: string, access: AccessPolicy): ServerSecurity {
  return { clusterSecret, revoked: new RevokedIds(path.join(path.dirname(secretFile), REVOKED_IDS_FILE)), access };
}

export async function loadServerSecurity(secretFile: string, access: AccessPolicy): Promise<ServerSecurity> {
  return securityFrom(await readClusterSecret(secretFile), secretFile, access);
}

export function credentialFor(clusterSecret: Buffer, identity: string): Credential {
  return { identity, key: deriveKey(clusterSecret, identity) };
}

/** A server's default secret: `cluster.secret` in the parent of its own directory, which is
 * where a mediator's data directory puts it (`<data-dir>/data-<port>`, `<data-dir>/meta`). */
export function defaultSecretFile(serverDir: string): string {
  return path.join(path.dirname(path.resolve(serverDir)), CLUSTER_SECRET_FILE);
}
