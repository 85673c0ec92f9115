// The systemd units in deploy/systemd/ run what the code accepts: every Exec line that runs
// quorumfs parses with the real commander program (built by buildProgram(), actions replaced
// by a recorder, so nothing runs), every variable a unit names is defined in its example
// EnvironmentFile, every setting there is used, and the stop signal is one the command handles.

import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import {
  REPO_ROOT,
  UNITS_DIR,
  expandSpecifiers,
  parseExecLine,
  parseUnit,
  readUnits,
  unitEnvironment,
  unitValues,
  type Specifiers,
  type UnitFile,
} from '../helpers/systemd-unit.js';

const INSTALLED_CLI = '/opt/quorumfs/bin/quorumfs';
const EXEC_KEYS = ['ExecStartPre', 'ExecStart', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost'];
/** Settings that give a service its own mount namespace: a FUSE mount made there is invisible
 * to the host, so the mount unit must not have them. */
const NAMESPACE_SETTINGS = ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ReadWritePaths', 'ReadOnlyPaths', 'InaccessiblePaths', 'TemporaryFileSystem', 'BindPaths', 'PrivateMounts', 'ProtectKernelTunables'];
/** The signals each command stops on cleanly (their files: mediator-command.ts,
 * server-commands.ts, and the FUSE session's handleSignals for mount). */
const STOP_SIGNALS: Record<string, string[]> = { mediator: ['SIGINT', 'SIGTERM'], 'data-server': ['SIGINT', 'SIGTERM'], 'meta-server': ['SIGINT', 'SIGTERM'], mount: ['SIGINT', 'SIGTERM'] };

interface Accepted {
  command: string;
  options: Record<string, unknown>;
}

/** Parses argv (without the program name) with the real program; throws what commander throws
 * for an unknown option, a missing value or argument, or an excess argument. */
async function acceptedBy(argv: string[]): Promise<Accepted> {
  const program = buildProgram();
  let accepted: Accepted | undefined;
  const record = (command: Command): void => {
    command.action((...args: unknown[]) => {
      const self = args.at(-1) as Command;
      const names: string[] = [];
      for (let c: Command | null = self; c?.parent; c = c.parent) names.unshift(c.name());
      accepted = { command: names.join(' '), options: self.opts() };
    });
    command.commands.forEach(record);
  };
  program.commands.forEach(record);
  await program.parseAsync(argv, { from: 'user' });
  if (!accepted) throw new Error(`'${argv.join(' ')}' runs no command`);
  return accepted;
}

function specifiersFor(unit: UnitFile): Specifiers {
  if (!unit.name.includes('@.')) return { stateRoot: '/var/lib' };
  // A template's instance: a mount point (escaped path) where %f is used, else a port.
  const usesPath = EXEC_KEYS.some((k) => unitValues(unit, 'Service', k).some((v) => v.includes('%f')));
  return { stateRoot: '/var/lib', instance: usesPath ? 'mnt-q' : '51236' };
}

/** Everything wrong with a unit's command lines, one line each (none: it is right). */
async function execProblems(unit: UnitFile): Promise<{ problems: string[]; commands: Accepted[]; used: Set<string> }> {
  const problems: string[] = [];
  const commands: Accepted[] = [];
  const used = new Set<string>();
  const specifiers = specifiersFor(unit);
  const { env } = await unitEnvironment(unit, specifiers);
  const starts = unitValues(unit, 'Service', 'ExecStart');
  if (starts.length !== 1) problems.push(`${unit.name}: ${starts.length} ExecStart lines, not 1`);
  for (const key of EXEC_KEYS) {
    for (const text of unitValues(unit, 'Service', key)) {
      const line = parseExecLine(expandSpecifiers(text, specifiers), env);
      for (const name of line.variables) {
        used.add(name);
        if (!env.has(name)) problems.push(`${unit.name}: ${key} uses \$${name}, which its EnvironmentFile does not define`);
      }
      const [program, ...argv] = line.argv;
      if (program !== INSTALLED_CLI) {
        if (key === 'ExecStart') problems.push(`${unit.name}: ExecStart runs ${program}, not ${INSTALLED_CLI}`);
        continue;
      }
      try {
        commands.push(await acceptedBy(argv));
      } catch (err) {
        problems.push(`${unit.name}: ${key} '${argv.join(' ')}' is refused: ${(err as Error).message}`);
      }
    }
  }
  return { problems, commands, used };
}

/** Variables the code itself reads from the environment (process.env['NAME'], env.NAME). */
async function variablesReadByCode(): Promise<Set<string>> {
  const names = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.endsWith('.ts')) {
        for (const m of (await readFile(full, 'utf8')).matchAll(/\benv(?:\['([A-Z0-9_]+)'\]|\.([A-Z0-9_]+))/g)) names.add(m[1] ?? m[2]!);
      }
    }
  };
  await walk(path.join(REPO_ROOT, 'src'));
  return names;
}

test('deploy/systemd holds the three units, each with its example EnvironmentFile', async () => {
  const units = await readUnits();
  assert.deepEqual(units.map((u) => u.name), ['quorumfs-data-server@.service', 'quorumfs-mediator.service', 'quorumfs-mount@.service']);
  for (const unit of units) {
    const { files } = await unitEnvironment(unit, specifiersFor(unit));
    assert.ok(files.length >= 1, `${unit.name} has no required EnvironmentFile`);
    for (const file of unitValues(unit, 'Service', 'EnvironmentFile')) {
      assert.match(file, /^-?\/etc\/quorumfs\/[\w%.-]+\.env$/, `${unit.name}: EnvironmentFile ${file} is not under /etc/quorumfs/`);
    }
  }
});

test('every quorumfs command line in the units is accepted by the real program', async () => {
  const seen: string[] = [];
  for (const unit of await readUnits()) {
    const { problems, commands } = await execProblems(unit);
    assert.deepEqual(problems, []);
    assert.ok(commands.length >= 1, `${unit.name} runs no quorumfs command`);
    seen.push(...commands.map((c) => c.command));
  }
  // Each role has its unit; the mount's unit also unmounts after a stop.
  assert.deepEqual([...new Set(seen)].sort(), ['data-server', 'mediator', 'mount', 'unmount']);
});

test('the example settings are what the units and the code use, and nothing else', async () => {
  const readByCode = await variablesReadByCode();
  assert.ok(readByCode.has('QFS_LOG_LEVEL'), 'the scan of src/ found no environment read at all');
  for (const unit of await readUnits()) {
    const { used } = await execProblems(unit);
    const { env } = await unitEnvironment(unit, specifiersFor(unit));
    for (const name of env.keys()) {
      assert.ok(used.has(name) || readByCode.has(name), `${unit.name}: ${name} is set but neither the unit nor the code reads it`);
    }
  }
});

test('each unit stops its command with a signal the command handles, restarts on failure and is hardened', async () => {
  for (const unit of await readUnits()) {
    const { commands } = await execProblems(unit);
    const role = commands[0]!.command;
    const [signal] = unitValues(unit, 'Service', 'KillSignal');
    assert.ok(signal && STOP_SIGNALS[role]?.includes(signal), `${unit.name}: KillSignal=${signal} is not one '${role}' stops on`);
    assert.deepEqual(unitValues(unit, 'Service', 'Restart'), ['on-failure'], unit.name);
    assert.deepEqual(unitValues(unit, 'Service', 'NoNewPrivileges'), ['yes'], unit.name);
    assert.equal(unitValues(unit, 'Service', 'TimeoutStopSec').length, 1, `${unit.name}: no TimeoutStopSec`);
    if (role === 'mount') {
      for (const setting of NAMESPACE_SETTINGS) assert.deepEqual(unitValues(unit, 'Service', setting), [], `${unit.name}: ${setting} would hide the mount from the host`);
    } else {
      assert.deepEqual(unitValues(unit, 'Service', 'User'), ['quorumfs'], `${unit.name}: a server runs as its own user`);
      assert.deepEqual(unitValues(unit, 'Service', 'ProtectSystem'), ['strict'], unit.name);
      // %S/quorumfs is the only place written: the StateDirectory, writable under ProtectSystem.
      assert.deepEqual(unitValues(unit, 'Service', 'StateDirectory'), ['quorumfs'], unit.name);
    }
  }
});

test('the checks find a flag the program does not have, a missing value and an undefined variable', async () => {
  const unit = (exec: string): UnitFile =>
    parseUnit('bad.service', `[Service]\nEnvironmentFile=/etc/quorumfs/mediator.env\nExecStart=${exec}\n`);
  const problemsOf = async (exec: string): Promise<string> => (await execProblems(unit(exec))).problems.join('\n');
  assert.equal(await problemsOf(`${INSTALLED_CLI} status --json`), '');
  assert.match(await problemsOf(`${INSTALLED_CLI} status --no-such-flag`), /refused: .*unknown option '--no-such-flag'/);
  assert.match(await problemsOf(`${INSTALLED_CLI} status --mediator`), /refused: .*argument missing/);
  assert.match(await problemsOf(`${INSTALLED_CLI} no-such-command`), /refused/);
  assert.match(await problemsOf(`${INSTALLED_CLI} mount`), /refused: .*missing required argument 'mountpoint'/);
  assert.match(await problemsOf(`${INSTALLED_CLI} status --mediator \${QFS_NOT_DEFINED}`), /uses \$QFS_NOT_DEFINED, which its EnvironmentFile does not define/);
  assert.match(await problemsOf(`/usr/bin/node ${INSTALLED_CLI} status`), /ExecStart runs \/usr\/bin\/node/);
});

test('the unit reader splits Exec lines as systemd does', () => {
  const env = new Map([['ONE', 'a b'], ['EMPTY', ''], ['PORTS', ' 1 2  3 ']]);
  assert.deepEqual(parseExecLine('-/bin/x ${ONE} $PORTS $EMPTY "q r" x${ONE}y', env), { prefixes: '-', argv: ['/bin/x', 'a b', '1', '2', '3', 'q r', 'xa by'], variables: ['ONE', 'PORTS', 'EMPTY', 'ONE'] });
  assert.equal(expandSpecifiers('%f %i %S %%', { instance: 'mnt-q', stateRoot: '/var/lib' }), '/mnt/q mnt-q /var/lib %');
  assert.ok(UNITS_DIR.endsWith(`deploy${path.sep}systemd${path.sep}`));
});
