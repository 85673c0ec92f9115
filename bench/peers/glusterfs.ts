// GlusterFS as a benchmark peer: a private glusterd (own working and run directories, bound to
// 127.0.0.1, brick ports 49152–49251, below quorumfs's spare ports 60000–60010), a replica-3
// volume of three bricks in a temp dir, mounted with `mount -t glusterfs`. Gluster refuses
// loopback names for bricks, so a host alias for 127.0.0.1 goes into /etc/hosts while it runs.

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PeerLifecycle, type PeerLog } from './peer.js';
import { assertPortsFree, cleanUp, ensureDebianPackages, isAlive, isMountPoint, PeerStepError, readPidFile, runCommand, stopPid, unmount, waitUntil } from './system.js';

const PACKAGES = ['glusterfs-server', 'glusterfs-client'];
const HOST_ALIAS = 'qfs-bench-gluster';
const HOSTS_FILE = '/etc/hosts';
const HOSTS_LINE = `127.0.0.1 ${HOST_ALIAS}`;
const VOLUME = 'qfsbench';
const GLUSTERD_PORT = 24007;
const BASE_PORT = 49152;
const MAX_PORT = 49251;
const BRICKS = 3;
const BRICK_LOG_DIR = '/var/log/glusterfs/bricks';

const GLUSTERD_START_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 60_000;
const MOUNT_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 30_000;

function glusterdVolfile(workDir: string, runDir: string): string {
  return [
    'volume management',
    '    type mgmt/glusterd',
    `    option working-directory ${workDir}`,
    `    option run-directory ${runDir}`,
    `    option glusterd-sockfile ${path.join(runDir, 'glusterd.socket')}`,
    '    option transport-type socket',
    '    option transport.socket.bind-address 127.0.0.1',
    `    option transport.socket.listen-port ${GLUSTERD_PORT}`,
    '    option transport.socket.keepalive-time 10',
    '    option transport.socket.keepalive-interval 2',
    '    option transport.socket.read-fail-log off',
    '    option ping-timeout 0',
    '    option event-threads 1',
    `    option base-port ${BASE_PORT}`,
    `    option max-port ${MAX_PORT}`,
    'end-volume',
    '',
  ].join('\n');
}

/** Pid files of everything glusterd started (bricks, self-heal daemon), found under its run directory. */
async function pidFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && e.name.endsWith('.pid')).map((e) => path.join(e.parentPath, e.name));
}

/** The argument after `flag` in a process's command line; undefined when it has gone. */
async function processArgument(pid: number, flag: string): Promise<string | undefined> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The pid of the FUSE client serving `mountDir`: a glusterfs process whose last argument it is. */
async function clientPid(mountDir: string): Promise<number | undefined> {
  for (const name of await readdir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter((a) => a.length > 0);
    if (argv[0]?.endsWith('/glusterfs') && argv[argv.length - 1] === mountDir) return pid;
  }
  return undefined;
}

export class GlusterFsPeer extends PeerLifecycle {
  readonly name = 'GlusterFS';
  private root: string | undefined;
  private addedHostsLine = false;
  private volumeCreated = false;
  private mountClientPid: number | undefined;
  /** Unix sockets the bricks and the self-heal daemon create in /var/run/gluster and leave behind. */
  private brickSockets = new Set<string>();

  constructor(log: PeerLog) {
    super(log);
  }

  get dir(): string {
    if (!this.root) throw new Error('GlusterFS is not started');
    return path.join(this.root, 'mnt');
  }

  private get runDir(): string {
    return path.join(this.root!, 'run');
  }

  private cli(step: string, args: string[], allowFailure = false): ReturnType<typeof runCommand> {
    const global = ['--mode=script', `--glusterd-sock=${path.join(this.runDir, 'glusterd.socket')}`, `--log-file=${path.join(this.root!, 'log', 'cli.log')}`];
    return runCommand(step, 'gluster', [...global, ...args], { timeoutMs: CLI_TIMEOUT_MS, allowFailure });
  }

  protected async setUp(): Promise<void> {
    this.checkpoint('install');
    await ensureDebianPackages(PACKAGES, this.log);
    this.checkpoint('ports');
    await assertPortsFree('glusterd port check', [GLUSTERD_PORT]);
    const root = await mkdtemp(path.join(os.tmpdir(), 'qfs-bench-gluster-'));
    this.root = root;
    for (const sub of ['work', 'run', 'log', 'bricks', 'mnt']) await mkdir(path.join(root, sub));
    await writeFile(path.join(root, 'glusterd.vol'), glusterdVolfile(path.join(root, 'work'), this.runDir));

    this.checkpoint('hosts alias');
    const hosts = await readFile(HOSTS_FILE, 'utf8');
    if (!hosts.split('\n').some((line) => line.trim().split(/\s+/).slice(1).includes(HOST_ALIAS))) {
      await writeFile(HOSTS_FILE, `${hosts}${hosts.endsWith('\n') || hosts === '' ? '' : '\n'}${HOSTS_LINE}\n`);
      this.addedHostsLine = true;
    }

    this.checkpoint('glusterd start');
    await runCommand('glusterd start', 'glusterd', ['-f', path.join(root, 'glusterd.vol'), '-p', path.join(this.runDir, 'glusterd.pid'), '-l', path.join(root, 'log', 'glusterd.log')], { timeoutMs: GLUSTERD_START_TIMEOUT_MS });
    await waitUntil('glusterd start', async () => (await this.cli('glusterd start', ['pool', 'list'], true)).code === 0, READY_TIMEOUT_MS);

    this.checkpoint('volume create');
    const bricks = Array.from({ length: BRICKS }, (_, i) => `${HOST_ALIAS}:${path.join(root, 'bricks', `b${i + 1}`)}`);
    await this.cli('volume create', ['volume', 'create', VOLUME, 'replica', String(BRICKS), ...bricks, 'force']);
    this.volumeCreated = true;
    this.checkpoint('volume start');
    await this.cli('volume start', ['volume', 'start', VOLUME]);
    for (const file of await pidFilesUnder(this.runDir)) await this.noteSocket(await readPidFile(file));

    this.checkpoint('mount');
    await runCommand('mount', 'mount', ['-t', 'glusterfs', '-o', `log-file=${path.join(root, 'log', 'mount.log')}`, `${HOST_ALIAS}:/${VOLUME}`, this.dir], { timeoutMs: MOUNT_TIMEOUT_MS });
    this.mountClientPid = await clientPid(this.dir);
    await waitUntil('mount', () => isMountPoint(this.dir), READY_TIMEOUT_MS);
    // The first write proves the volume has its bricks (a mount succeeds even when they are down).
    const probe = path.join(this.dir, '.qfs-bench-probe');
    await waitUntil('mount probe write', async () => {
      await writeFile(probe, 'probe');
      await rm(probe);
      return true;
    }, READY_TIMEOUT_MS);
  }

  protected async tearDown(): Promise<void> {
    const root = this.root;
    if (!root) return this.removeHostsLine();
    const mountDir = path.join(root, 'mnt');
    const glusterdPidFile = path.join(this.runDir, 'glusterd.pid');
    await cleanUp(this.name, [
      ['unmount', () => unmount('unmount', mountDir)],
      ['mount client', async () => {
        if (this.mountClientPid !== undefined) await stopPid('mount client stop', this.mountClientPid);
      }],
      ['volume stop', async () => {
        const glusterd = await readPidFile(glusterdPidFile);
        if (!this.volumeCreated || glusterd === undefined || !(await isAlive(glusterd))) return;
        // Best effort: a failure here still leaves the brick processes to be stopped by pid below.
        const stopped = await this.cli('volume stop', ['volume', 'stop', VOLUME, 'force'], true);
        if (stopped.code === 0) await this.cli('volume delete', ['volume', 'delete', VOLUME], true);
      }],
      ['brick processes', async () => {
        for (const file of await pidFilesUnder(this.runDir)) {
          if (file === glusterdPidFile) continue;
          const pid = await readPidFile(file);
          if (pid === undefined) continue;
          await this.noteSocket(pid);
          await stopPid(`brick stop (${path.basename(file)})`, pid);
        }
      }],
      ['glusterd stop', async () => {
        const pid = await readPidFile(glusterdPidFile);
        if (pid !== undefined) await stopPid('glusterd stop', pid);
      }],
      ['brick sockets and logs', async () => {
        for (const socket of this.brickSockets) await rm(socket, { force: true });
        for (let i = 1; i <= BRICKS; i++) {
          const brickPath = path.join(root, 'bricks', `b${i}`);
          await rm(path.join(BRICK_LOG_DIR, `${brickPath.slice(1).replace(/\//g, '-')}.log`), { force: true });
        }
      }],
      ['hosts alias', () => this.removeHostsLine()],
      ['temp dir', async () => {
        if (await isMountPoint(mountDir)) throw new PeerStepError('temp dir', `${mountDir} is still mounted; leaving ${root}`);
        await rm(root, { recursive: true, force: true, maxRetries: 3 });
      }],
    ]);
  }

  /** Remembers the socket a process glusterd started was given (`-S`), to remove it at stop. */
  private async noteSocket(pid: number | undefined): Promise<void> {
    if (pid === undefined || pid === (await readPidFile(path.join(this.runDir, 'glusterd.pid')))) return;
    const socket = await processArgument(pid, '-S');
    if (socket?.startsWith('/var/run/gluster/') || socket?.startsWith('/run/gluster/')) this.brickSockets.add(socket);
  }

  private async removeHostsLine(): Promise<void> {
    if (!this.addedHostsLine) return;
    const lines = (await readFile(HOSTS_FILE, 'utf8')).split('\n');
    const i = lines.indexOf(HOSTS_LINE);
    if (i >= 0) lines.splice(i, 1);
    await writeFile(HOSTS_FILE, lines.join('\n'));
    this.addedHostsLine = false;
  }
}
