// MooseFS as a benchmark peer: a master and three chunkservers, each with its own config, port,
// data directory and lock file under one temp dir, all listening on 127.0.0.1 and at nice 0
// (its default is -19, which would favour it over quorumfs); mounted with mfsmount, goal 3,
// trash time 0. MooseFS refuses 127.0.0.0/8 between master and chunkservers, hence MASTER_HOST
// 0.0.0.0 and the master's REMAP of 127.0.0.1 to 0.0.0.0 (Linux routes 0.0.0.0 to loopback).

import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PeerLifecycle, type PeerLog } from './peer.js';
import { assertPortsFree, cleanUp, ensureDebianPackages, isAlive, isMountPoint, PeerStepError, readPidFile, runCommand, stopPid, unmount, waitUntil } from './system.js';

const PACKAGES = ['moosefs-master', 'moosefs-chunkserver', 'moosefs-client'];
const EMPTY_METADATA = '/var/lib/mfs/metadata.mfs.empty';
const MASTER_PORTS = [9419, 9420, 9421];
const CHUNKSERVER_PORTS = [9412, 9422, 9432];
const GOAL = 3;

const DAEMON_START_TIMEOUT_MS = 60_000;
const DAEMON_STOP_TIMEOUT_MS = 60_000;
const TOOL_TIMEOUT_MS = 30_000;
const MOUNT_READY_TIMEOUT_MS = 30_000;
/** Chunkservers register within seconds; the probe write then has GOAL copies. */
const REGISTER_TIMEOUT_MS = 60_000;

function configFile(settings: Record<string, string | number>): string {
  return Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n';
}

interface Daemon {
  /** e.g. 'mfsmaster' */
  program: string;
  config: string;
  /** The daemon writes its pid into this lock file. */
  lockFile: string;
  label: string;
}

export class MooseFsPeer extends PeerLifecycle {
  readonly name = 'MooseFS';
  private root: string | undefined;
  private daemons: Daemon[] = [];
  private mountPid: number | undefined;

  constructor(log: PeerLog) {
    super(log);
  }

  get dir(): string {
    if (!this.root) throw new Error('MooseFS is not started');
    return path.join(this.root, 'mnt');
  }

  protected async setUp(): Promise<void> {
    this.checkpoint('install');
    await ensureDebianPackages(PACKAGES, this.log);
    this.checkpoint('ports');
    await assertPortsFree('port check', [...MASTER_PORTS, ...CHUNKSERVER_PORTS]);
    const root = await mkdtemp(path.join(os.tmpdir(), 'qfs-bench-moosefs-'));
    this.root = root;
    await mkdir(path.join(root, 'mnt'));

    const common = { WORKING_USER: 'root', WORKING_GROUP: 'root', NICE_LEVEL: 0 };
    const masterData = path.join(root, 'master');
    await mkdir(masterData);
    await copyFile(EMPTY_METADATA, path.join(masterData, 'metadata.mfs'));
    await writeFile(path.join(root, 'mfsexports.cfg'), '127.0.0.1 / rw,alldirs,admin,maproot=0:0\n');
    await writeFile(path.join(root, 'mfstopology.cfg'), '');
    const masterConfig = path.join(root, 'mfsmaster.cfg');
    await writeFile(masterConfig, configFile({
      ...common,
      SYSLOG_IDENT: 'qfs-bench-mfsmaster',
      DATA_PATH: masterData,
      EXPORTS_FILENAME: path.join(root, 'mfsexports.cfg'),
      TOPOLOGY_FILENAME: path.join(root, 'mfstopology.cfg'),
      MATOML_LISTEN_HOST: '127.0.0.1',
      MATOML_LISTEN_PORT: MASTER_PORTS[0]!,
      MATOCS_LISTEN_HOST: '127.0.0.1',
      MATOCS_LISTEN_PORT: MASTER_PORTS[1]!,
      MATOCL_LISTEN_HOST: '127.0.0.1',
      MATOCL_LISTEN_PORT: MASTER_PORTS[2]!,
      REMAP_BITS: 32,
      REMAP_SOURCE_IP_CLASS: '127.0.0.1',
      REMAP_DESTINATION_IP_CLASS: '0.0.0.0',
    }));
    const master: Daemon = { program: 'mfsmaster', config: masterConfig, lockFile: path.join(masterData, '.mfsmaster.lock'), label: 'master' };

    const chunkservers: Daemon[] = [];
    for (const [i, port] of CHUNKSERVER_PORTS.entries()) {
      const dataPath = path.join(root, `cs${i + 1}`);
      const hddPath = path.join(root, `hdd${i + 1}`);
      await mkdir(dataPath);
      await mkdir(hddPath);
      await writeFile(path.join(root, `mfshdd${i + 1}.cfg`), `${hddPath}\n`);
      const config = path.join(root, `mfschunkserver${i + 1}.cfg`);
      await writeFile(config, configFile({
        ...common,
        SYSLOG_IDENT: `qfs-bench-mfscs${i + 1}`,
        DATA_PATH: dataPath,
        HDD_CONF_FILENAME: path.join(root, `mfshdd${i + 1}.cfg`),
        MASTER_HOST: '0.0.0.0',
        MASTER_PORT: MASTER_PORTS[1]!,
        CSSERV_LISTEN_HOST: '127.0.0.1',
        CSSERV_LISTEN_PORT: port,
      }));
      chunkservers.push({ program: 'mfschunkserver', config, lockFile: path.join(dataPath, '.mfschunkserver.lock'), label: `chunkserver ${i + 1}` });
    }

    for (const daemon of [master, ...chunkservers]) {
      this.checkpoint(`${daemon.label} start`);
      this.daemons.push(daemon);
      await runCommand(`${daemon.label} start`, daemon.program, ['-c', daemon.config, 'start'], { timeoutMs: DAEMON_START_TIMEOUT_MS });
    }

    this.checkpoint('mount');
    await this.mount(root);
    await runCommand('mfssetgoal', 'mfssetgoal', ['-r', String(GOAL), this.dir], { timeoutMs: TOOL_TIMEOUT_MS });
    await runCommand('mfssettrashtime', 'mfssettrashtime', ['-r', '0', this.dir], { timeoutMs: TOOL_TIMEOUT_MS });

    this.checkpoint('chunkserver registration');
    // A new chunk gets a copy on every registered chunkserver (up to the goal), so a fresh probe
    // file with GOAL copies shows that all chunkservers are in.
    const probe = path.join(this.dir, '.qfs-bench-probe');
    await waitUntil('chunkserver registration', async () => {
      await rm(probe, { force: true });
      await writeFile(probe, 'probe', { flush: true });
      const r = await runCommand('mfscheckfile', 'mfscheckfile', [probe], { timeoutMs: TOOL_TIMEOUT_MS });
      return new RegExp(`chunks with ${GOAL} copies:\\s+1\\b`).test(r.stdout);
    }, REGISTER_TIMEOUT_MS, 1000);
    await rm(probe);
  }

  /** mfsmount in the foreground, in its own process group (a Ctrl-C for the bench must not unmount it). */
  private async mount(root: string): Promise<void> {
    const logFile = await open(path.join(root, 'mfsmount.log'), 'a');
    let exited = false;
    try {
      const child = spawn('mfsmount', [this.dir, '-H', '127.0.0.1', '-P', String(MASTER_PORTS[2]!), '-f'], { detached: true, stdio: ['ignore', logFile.fd, logFile.fd] });
      child.once('exit', () => (exited = true));
      child.once('error', () => (exited = true));
      child.unref();
      this.mountPid = child.pid;
    } finally {
      await logFile.close();
    }
    await waitUntil('mount', async () => {
      if (exited) throw new PeerStepError('mount', `mfsmount exited; see ${path.join(root, 'mfsmount.log')}`);
      return isMountPoint(this.dir);
    }, MOUNT_READY_TIMEOUT_MS);
  }

  protected async tearDown(): Promise<void> {
    const root = this.root;
    if (!root) return;
    const mountDir = path.join(root, 'mnt');
    const stopDaemon = async (daemon: Daemon): Promise<void> => {
      const pid = await readPidFile(daemon.lockFile);
      if (pid === undefined || !(await isAlive(pid))) return;
      // The daemon's own stop waits for a clean shutdown; SIGTERM/SIGKILL by pid if it fails.
      await runCommand(`${daemon.label} stop`, daemon.program, ['-c', daemon.config, 'stop'], { timeoutMs: DAEMON_STOP_TIMEOUT_MS, allowFailure: true }).catch(() => undefined);
      await stopPid(`${daemon.label} stop`, pid);
    };
    const chunkservers = this.daemons.filter((d) => d.program === 'mfschunkserver');
    const master = this.daemons.find((d) => d.program === 'mfsmaster');
    await cleanUp(this.name, [
      ['unmount', () => unmount('unmount', mountDir)],
      ['mfsmount stop', async () => {
        if (this.mountPid !== undefined) await stopPid('mfsmount stop', this.mountPid);
      }],
      ['chunkservers stop', async () => {
        await Promise.all(chunkservers.map(stopDaemon));
      }],
      ['master stop', async () => {
        if (master) await stopDaemon(master);
      }],
      ['temp dir', async () => {
        if (await isMountPoint(mountDir)) throw new PeerStepError('temp dir', `${mountDir} is still mounted; leaving ${root}`);
        await rm(root, { recursive: true, force: true, maxRetries: 3 });
      }],
    ]);
  }
}
