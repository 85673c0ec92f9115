// Issue 12: every connection is authenticated (TLS 1.2 PSK) and every method checks the caller's
// role. A local user who is not the cluster's owner (nobody) can read neither the owner's
// credentials nor the cluster secret, so the command line fails for them in one line; a peer that
// does not speak TLS-PSK is dropped before any request is served; a client credential cannot
// write to a data server or call the metadata server; revoked and forged credentials are refused.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QuorumfsClient } from '../../src/client/quorumfs-client.js';
import { checksumOf } from '../../src/common/checksum.js';
import { readCredentialFile, type Credential } from '../../src/common/credentials.js';
import { ROOT_INO } from '../../src/common/types.js';
import { dataMethods } from '../../src/protocol/data-messages.js';
import { FRAME_REQUEST, encodeFrameHead } from '../../src/protocol/frame-codec.js';
import { mediatorMethods } from '../../src/protocol/mediator-messages.js';
import { metaMethods } from '../../src/protocol/meta-messages.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { CLI, runCli, startCluster, type CliResult, type Cluster } from '../helpers/cluster.js';

const execFileAsync = promisify(execFile);
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
/** The CLI as the other user runs it. As root: through bind mounts of what it needs from the
 * checkout in a directory anyone may enter, since the checkout may sit where only its owner can
 * (a 0700 temporary directory, /root): what is tested is the credentials, not the checkout's
 * path. Each part is mounted on its own (a bind mount of the checkout itself keeps its 0700). */
const CHECKOUT_PARTS = ['package.json', 'dist', 'node_modules', 'native'];
let cliForOther = CLI;

/** Runs the CLI as another local user: nobody when we are root; otherwise this user with an
 * empty home (what a user without the owner's files sees). */
function runCliAsOther(args: string[], home: string): Promise<CliResult> {
  const [command, argv] = isRoot
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, cliForOther, ...args]]
    : [process.execPath, [CLI, ...args]];
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: isRoot ? process.env.HOME : home };
    delete env.XDG_CONFIG_HOME;
    const child = spawn(command, argv as string[], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/', env });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function assertRefused(r: CliResult, what: string): void {
  assert.equal(r.code, 1, `${what}: ${r.stderr}`);
  assert.equal(r.stdout, '', `${what} printed nothing`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
  assert.match(r.stderr, /^quorumfs: .*\[UNAUTHENTICATED\]\n$/, what);
}

/** Sends a well-formed request frame in plain TCP; returns what came back before the close. */
function rawRequest(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`port ${port} kept a plain-TCP connection open`));
    }, 8_000);
    socket.on('connect', () => socket.write(encodeFrameHead(FRAME_REQUEST, { id: 1, op: 'ping', args: {} }, 0)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

describe('security: authentication and roles', () => {
  let cluster: Cluster;
  let home: string;
  let clientCred: Credential;
  let publicView: string | undefined;
  before(async () => {
    if (isRoot) {
      const checkout = path.resolve(path.dirname(CLI), '../../..'); // dist/src/cli/main.js
      publicView = await mkdtemp(path.join(os.tmpdir(), 'qfs-checkout-'));
      await chmod(publicView, 0o755);
      for (const part of CHECKOUT_PARTS) {
        const at = path.join(publicView, part);
        if (part.endsWith('.json')) await writeFile(at, '');
        else await mkdir(at);
        await execFileAsync('mount', ['--bind', path.join(checkout, part), at]);
      }
      cliForOther = path.join(publicView, path.relative(checkout, CLI));
    }
    cluster = await startCluster({ readQuorum: 1, writeQuorum: 2, dataServers: 2, faultInjection: true });
    home = await mkdtemp(path.join(os.tmpdir(), 'qfs-home-'));
    await cluster.client.writeFile('/f', Buffer.from('hello'));
    const issued = await runCli(['credentials', 'issue', '--role', 'client', '--id', 'laptop', '--data-dir', cluster.dataDir]);
    assert.equal(issued.code, 0, issued.stderr);
    const file = path.join(home, 'client.json');
    await writeFile(file, issued.stdout);
    clientCred = await readCredentialFile(file);
    assert.equal(clientCred.identity, 'client.laptop');
  });
  after(async () => {
    await cluster?.stop();
    if (home) await rm(home, { recursive: true, force: true });
    if (publicView) {
      // Never a recursive removal here: through a mount still in place it would reach the checkout.
      for (const part of CHECKOUT_PARTS) {
        const at = path.join(publicView, part);
        await execFileAsync('umount', [at]).catch(() => execFileAsync('umount', ['-l', at]));
        await (part.endsWith('.json') ? unlink(at) : rmdir(at));
      }
      await rmdir(publicView);
    }
  });

  it('the owner needs no flag: status, list-contents and the client API just work', async () => {
    const status = await runCli(['status', '--mediator', `127.0.0.1:${cluster.mediatorPort}`]);
    assert.equal(status.code, 0, status.stderr);
    const list = await runCli(['list-contents', String(cluster.dataPorts[0]), '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as unknown[]).length, 1);
  });

  it('another local user can read neither the credentials nor the secret: every command is refused in one line', async () => {
    assertRefused(await runCliAsOther(['status', '--mediator', `127.0.0.1:${cluster.mediatorPort}`], home), 'status');
    assertRefused(await runCliAsOther(['list-contents', String(cluster.dataPorts[0])], home), 'list-contents');
    assertRefused(await runCliAsOther(['terminate', String(cluster.dataPorts[0])], home), 'terminate');
    const issue = await runCliAsOther(['credentials', 'issue', '--role', 'admin', '--data-dir', cluster.dataDir], home);
    assert.equal(issue.code, 1, issue.stderr);
    assert.equal(issue.stdout, '');
    const status = await cluster.status();
    assert.ok(status.servers.filter((s) => s.role === 'data').every((s) => s.state === 'live'), 'the terminate did not happen');
  });

  it('with a credential file it can read, another user gets in (as that credential role allows)', async () => {
    const issued = await runCli(['credentials', 'issue', '--role', 'admin', '--data-dir', cluster.dataDir, '--out', path.join(home, 'admin.json')]);
    assert.equal(issued.code, 0, issued.stderr);
    if (isRoot) {
      await chown(home, NOBODY, NOBODY);
      await chown(path.join(home, 'admin.json'), NOBODY, NOBODY);
    }
    const creds = path.join(home, 'admin.json');
    const r = await runCliAsOther(['list-contents', String(cluster.dataPorts[1]), '--json', '--credentials', creds], home);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 1);
  });

  it('a peer that does not speak TLS-PSK is dropped before any request is served', async () => {
    for (const port of [cluster.mediatorPort, cluster.metaPort, ...cluster.dataPorts]) {
      const reply = await rawRequest(port);
      // Nothing, or a TLS alert record (content type 21): never a quorumfs response frame.
      assert.ok(reply.length === 0 || reply[0] === 21, `port ${port} answered ${reply.length} bytes starting ${reply[0]}`);
    }
  });

  it("a client credential may use the mediator, the namespace, read replicas and write new versions and block maps, but not replace a stored replica, delete one, change holds, nor heal", async () => {
    const mediator = new QuorumfsClient({ host: '127.0.0.1', port: cluster.mediatorPort }, { credentials: clientCred });
    const data = new RpcClient({ host: '127.0.0.1', port: cluster.dataPorts[0]! }, { credentials: clientCred });
    const meta = new RpcClient({ host: '127.0.0.1', port: cluster.metaPort }, { credentials: clientCred });
    try {
      assert.deepEqual(await mediator.readFile('/f'), Buffer.from('hello'));
      await assert.rejects(mediator.rpc.call(mediatorMethods.heal, { wait: false }), { code: 'PERMISSION' });
      const payload = Buffer.from('evil');
      await assert.rejects(data.call(dataMethods.delete, { key: 'k', version: 1 }), { code: 'PERMISSION' });
      // A mount reads replicas itself, checked against the block map it may read.
      const f = await mediator.resolve('/f');
      const { blocks } = await meta.call(metaMethods.getBlocks, { ino: f.ino, fromIndex: 0, toIndex: 1 });
      const key = `${f.ino}:0`;
      const got = await data.callWithPayload(dataMethods.get, { key, version: blocks[0]!.version });
      assert.equal(got.payload.toString(), 'hello');
      // It writes new versions itself, but never replaces a stored one with other bytes.
      await assert.rejects(data.call(dataMethods.put, { key, version: blocks[0]!.version, checksum: checksumOf(payload) }, { payload }), { code: 'EXISTS' });
      await data.call(dataMethods.put, { key, version: blocks[0]!.version, checksum: blocks[0]!.checksum }, { payload: Buffer.from('hello') });
      const { first } = await meta.call(metaMethods.reserveVersions, { count: 1 });
      await data.call(dataMethods.put, { key: `${f.ino}:1`, version: first, checksum: checksumOf(payload) }, { payload }); // an orphan, for the scrubber
      await assert.rejects(data.call(dataMethods.list, {}), { code: 'PERMISSION' });
      await assert.rejects(data.call(dataMethods.terminate, {}), { code: 'PERMISSION' });
      // Mounts call the namespace methods there directly; what only the mediator may do stays its own.
      assert.equal((await meta.call(metaMethods.getattr, { ino: ROOT_INO })).ino, ROOT_INO);
      await assert.rejects(meta.call(metaMethods.setHolds, { session: 'someone-else', inos: [] }), { code: 'PERMISSION' });
      await assert.rejects(meta.call(metaMethods.setattr, { ino: f.ino, attr: { size: 0 }, now: f.mtime }), { code: 'PERMISSION' });
      await assert.rejects(meta.call(metaMethods.watchOrphans, {}), { code: 'PERMISSION' });
      assert.deepEqual(await mediator.readFile('/f'), Buffer.from('hello'), 'nothing changed');
    } finally {
      mediator.close();
      data.close();
      meta.close();
    }
  });

  it('a forged key and a revoked id are refused at the handshake', async () => {
    const forged = new RpcClient({ host: '127.0.0.1', port: cluster.mediatorPort }, { credentials: { identity: 'admin.owner', key: Buffer.alloc(32, 1) } });
    await assert.rejects(forged.call(mediatorMethods.ping, {}), { code: 'UNAUTHENTICATED' });
    forged.close();
    const serverRole = new RpcClient({ host: '127.0.0.1', port: cluster.metaPort }, { credentials: { identity: 'server.mediator', key: clientCred.key } });
    await assert.rejects(serverRole.call(metaMethods.ping, {}), { code: 'UNAUTHENTICATED' });
    serverRole.close();

    const before = new RpcClient({ host: '127.0.0.1', port: cluster.mediatorPort }, { credentials: clientCred });
    await before.call(mediatorMethods.ping, {});
    before.close();
    const revoked = await runCli(['credentials', 'revoke', 'client.laptop', '--data-dir', cluster.dataDir]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(await readFile(path.join(cluster.dataDir, 'revoked-ids'), 'utf8'), /^laptop$/m);
    for (const port of [cluster.mediatorPort, cluster.dataPorts[0]!]) {
      const after = new RpcClient({ host: '127.0.0.1', port }, { credentials: clientCred });
      await assert.rejects(after.call(mediatorMethods.ping, {}), { code: 'UNAUTHENTICATED' });
      after.close();
    }
  });
});
