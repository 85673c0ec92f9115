// Credentials and roles without a network: identities parse strictly, keys derive from the
// cluster secret, credential files round-trip, revocations are seen on the next check, and the
// standard place picks the cluster that lists the peer (a server in use over a spare).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RevokedIds, ensureClusterSecret, revokeId } from '../../src/common/cluster-secret.js';
import { findClusterCredentials, writeClusterCredentials } from '../../src/common/credential-store.js';
import { decodeCredentialFile, deriveKey, encodeCredentialFile } from '../../src/common/credentials.js';
import { mayCall, parseIdentity } from '../../src/core/access-policy.js';
import { dataAccess } from '../../src/protocol/data-messages.js';
import { mediatorAccess } from '../../src/protocol/mediator-messages.js';
import { metaAccess } from '../../src/protocol/meta-messages.js';

describe('credentials and roles', () => {
  let dir: string;
  const savedXdg = process.env.XDG_CONFIG_HOME;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-cred-'));
    process.env.XDG_CONFIG_HOME = path.join(dir, 'config');
  });
  after(async () => {
    if (savedXdg === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = savedXdg;
    await rm(dir, { recursive: true, force: true });
  });

  it('parses identities strictly', () => {
    assert.deepEqual(parseIdentity('client.laptop-1'), { role: 'client', id: 'laptop-1' });
    for (const bad of ['client', 'root.x', 'client.', 'admin.a.b', 'admin.a b', `client.${'x'.repeat(65)}`]) {
      assert.equal(parseIdentity(bad), undefined, bad);
    }
  });

  it('declares who may call what', () => {
    assert.ok(mayCall(dataAccess, 'put', 'server') && mayCall(dataAccess, 'list', 'admin'));
    assert.ok(mayCall(dataAccess, 'put', 'client') && mayCall(dataAccess, 'patch', 'client'), 'a mount writes replicas itself');
    assert.ok(!mayCall(dataAccess, 'delete', 'client') && !mayCall(dataAccess, 'list', 'client') && !mayCall(dataAccess, 'deleteOlderThan', 'client'));
    assert.ok(mayCall(dataAccess, 'get', 'client') && mayCall(dataAccess, 'verify', 'client'), 'a mount reads replicas itself');
    assert.ok(mayCall(dataAccess, 'terminate', 'admin') && !mayCall(dataAccess, 'terminate', 'server'));
    assert.ok(mayCall(metaAccess, 'commitBlocks', 'client') && mayCall(metaAccess, 'commitBlocks', 'admin'), 'a mount (the owner is admin) commits what it wrote');
    assert.ok(mayCall(metaAccess, 'reserveVersions', 'client') && !mayCall(metaAccess, 'listBlocks', 'client') && !mayCall(metaAccess, 'watchOrphans', 'client'));
    assert.ok(!mayCall(metaAccess, 'setattr', 'client') && !mayCall(metaAccess, 'setHolds', 'client') && !mayCall(metaAccess, 'setHolds', 'admin'));
    assert.ok(mayCall(metaAccess, 'getattr', 'client') && mayCall(metaAccess, 'getBlocks', 'client') && mayCall(metaAccess, 'markAccess', 'client'), 'a mount calls the namespace directly');
    assert.ok(mayCall(mediatorAccess, 'write', 'client') && !mayCall(mediatorAccess, 'heal', 'client'));
  });

  it('derives keys from the secret, and files round-trip', () => {
    const secret = randomBytes(32);
    assert.deepEqual(deriveKey(secret, 'client.a'), deriveKey(secret, 'client.a'));
    assert.notDeepEqual(deriveKey(secret, 'client.a'), deriveKey(secret, 'client.b'));
    const file = { identity: 'admin.x', key: deriveKey(secret, 'admin.x'), addresses: ['127.0.0.1:1'] };
    const back = decodeCredentialFile(encodeCredentialFile(file), 'f');
    assert.equal(back.identity, 'admin.x');
    assert.deepEqual(back.key, file.key);
    assert.throws(() => decodeCredentialFile('{"version":1,"identity":"root.x","key":"00","addresses":[]}', 'f'), { code: 'INVALID' });
  });

  it('makes one secret per data directory, 0600, and keeps it', async () => {
    const dataDir = path.join(dir, 'data');
    const [a, b] = await Promise.all([ensureClusterSecret(dataDir), ensureClusterSecret(dataDir)]);
    assert.deepEqual(a, b);
    assert.deepEqual(await ensureClusterSecret(dataDir), a);
    const { stat } = await import('node:fs/promises');
    assert.equal((await stat(path.join(dataDir, 'cluster.secret'))).mode & 0o777, 0o600);
  });

  it('sees a revocation on the next check', async () => {
    const dataDir = path.join(dir, 'revoke');
    await ensureClusterSecret(dataDir);
    const revoked = new RevokedIds(path.join(dataDir, 'revoked-ids'));
    assert.equal(revoked.isRevoked('client.a'), false);
    await revokeId(dataDir, 'a');
    assert.equal(revoked.isRevoked('client.a'), true);
    assert.equal(revoked.isRevoked('admin.a'), true, 'a bare id is revoked in every role');
    assert.equal(revoked.isRevoked('client.b'), false);
    await revokeId(dataDir, 'b');
    assert.equal(revoked.isRevoked('client.b'), true);
  });

  it('finds the cluster that lists the peer, preferring one that uses it over one that keeps it spare', async () => {
    const key = (n: number): Buffer => Buffer.alloc(32, n);
    await writeClusterCredentials({ host: '127.0.0.1', port: 1000 }, { identity: 'admin.owner', key: key(1), addresses: ['127.0.0.1:1000', '127.0.0.1:1001'], spareAddresses: ['127.0.0.1:5000'], pid: process.pid });
    await writeClusterCredentials({ host: '127.0.0.1', port: 2000 }, { identity: 'admin.owner', key: key(2), addresses: ['127.0.0.1:2000', '127.0.0.1:5000'], pid: process.pid });
    assert.deepEqual((await findClusterCredentials({ host: 'localhost', port: 1001 })).key, key(1));
    assert.deepEqual((await findClusterCredentials({ host: '127.0.0.1', port: 5000 })).key, key(2));
    await assert.rejects(findClusterCredentials({ host: '127.0.0.1', port: 3000 }), { code: 'UNAUTHENTICATED' });
    // A leftover of a mediator that is gone does not count.
    const dead = path.join(process.env.XDG_CONFIG_HOME!, 'quorumfs', 'clusters', 'dead.json');
    await writeFile(`${dead}.tmp`, encodeCredentialFile({ identity: 'admin.owner', key: key(3), addresses: ['127.0.0.1:3000'], pid: 2 ** 22 + 1 }));
    await rename(`${dead}.tmp`, dead);
    await assert.rejects(findClusterCredentials({ host: '127.0.0.1', port: 3000 }), { code: 'UNAUTHENTICATED' });
    // ... and is removed, so leftovers cannot pile up past the files a lookup reads.
    await assert.rejects(stat(dead), { code: 'ENOENT' });
  });
});
