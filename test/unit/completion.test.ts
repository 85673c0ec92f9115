// `quorumfs completion bash`: the generated script, sourced in a real bash, completes commands,
// options (whatever the program has at runtime, checked against its tree, not a list kept here)
// and paths where an option or argument takes a file or directory. The zsh script is the same
// functions under bashcompinit (zsh is not in the test image: its run is checked by hand). An
// unknown shell is one line and exit code 2.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildProgram } from '../../src/cli/main.js';
import { bashCompletion, commandNodes, zshCompletion } from '../../src/cli/completion-command.js';
import { CLI } from '../helpers/cluster.js';

const DRIVER = `source "$1"
while IFS=$'\\t' read -r -a COMP_WORDS; do
  COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
  [ "\${COMP_WORDS[COMP_CWORD]}" = "<cursor>" ] && COMP_WORDS[COMP_CWORD]=""
  COMPREPLY=()
  _quorumfs
  printf '%s\\t' "\${COMPREPLY[@]}"
  printf '\\n'
done
`;

let dir = '';

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-completion-'));
  await writeFile(path.join(dir, 'completion.bash'), bashCompletion(buildProgram()));
  await writeFile(path.join(dir, 'driver.bash'), DRIVER);
  await mkdir(path.join(dir, 'sub'));
  await writeFile(path.join(dir, 'sfile'), '');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Completes each command line (its last word is the one under the cursor; '' for a new word)
 * in one bash process; returns the candidates of each. */
async function complete(lines: string[][]): Promise<string[][]> {
  const bash = spawn('bash', ['--norc', '--noprofile', path.join(dir, 'driver.bash'), path.join(dir, 'completion.bash')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  bash.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  bash.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<number | null>((resolve) => bash.once('exit', resolve));
  bash.stdin!.end(lines.map((words) => words.map((w) => (w === '' ? '<cursor>' : w)).join('\t') + '\n').join(''));
  assert.equal(await exited, 0, stderr);
  assert.equal(stderr, '');
  const out = stdout.split('\n').slice(0, -1);
  assert.equal(out.length, lines.length);
  return out.map((line) => line.split('\t').filter((w) => w !== ''));
}

test('commands, subcommands and options complete from their prefix', async () => {
  const [status, mediatorHe, mountMe, credentialsI, afterValue, anyValue] = await complete([
    ['quorumfs', 'st'],
    ['quorumfs', 'mediator', '--he'],
    ['quorumfs', 'mount', '--me'],
    ['quorumfs', 'credentials', 'i'],
    ['quorumfs', 'status', '--mediator', '127.0.0.1:1', '--j'],
    ['quorumfs', 'mediator', '--port', '5'],
  ]);
  assert.deepEqual(status, ['status', 'status-page']);
  assert.ok(mediatorHe!.includes('--heal-rate-mibs') && mediatorHe!.includes('--help'), mediatorHe!.join(' '));
  assert.ok(mediatorHe!.every((w) => w.startsWith('--he')));
  assert.deepEqual(mountMe, ['--mediator', '--metrics-port', '--metrics-host']);
  assert.deepEqual(credentialsI, ['issue']);
  assert.deepEqual(afterValue, ['--json']);
  assert.deepEqual(anyValue, [], 'a port is not a path: nothing is offered');
});

test("every command's options are offered, as the program has them now", async () => {
  const nodes = commandNodes(buildProgram());
  const replies = await complete(nodes.map((n) => ['quorumfs', ...n.path.split(' ').filter((w) => w !== ''), '-']));
  assert.ok(nodes.length >= 15, `only ${nodes.length} commands walked`);
  const program = buildProgram();
  for (const [i, node] of nodes.entries()) {
    const names = node.path.split(' ').filter((w) => w !== '');
    const command = names.reduce((c, name) => c.commands.find((sub) => sub.name() === name)!, program);
    for (const option of command.options.filter((o) => !o.hidden)) {
      assert.ok(replies[i]!.includes(option.long!), `'quorumfs ${node.path} -' does not offer ${option.long}`);
    }
    assert.ok(replies[i]!.includes('--help'), `'quorumfs ${node.path} -' does not offer --help`);
  }
});

test('options and arguments that take a file or a directory complete paths', async () => {
  const prefix = path.join(dir, 's');
  const [dataDir, mountpoint, out, explain] = await complete([
    ['quorumfs', 'mediator', '2', '2', '51235', '--data-dir', prefix],
    ['quorumfs', 'mount', prefix],
    ['quorumfs', 'credentials', 'issue', '--out', prefix],
    ['quorumfs', 'explain', '--mediator', '127.0.0.1:1', prefix],
  ]);
  const sub = path.join(dir, 'sub');
  const file = path.join(dir, 'sfile');
  assert.deepEqual(dataDir, [sub], 'a directory option offers directories only');
  assert.deepEqual(mountpoint, [sub], 'a mount point is a directory');
  assert.deepEqual(out!.sort(), [file, sub].sort());
  assert.deepEqual(explain!.sort(), [file, sub].sort());
});

test('an unknown shell is one line on stderr and exit code 2', async () => {
  const child = spawn(process.execPath, [CLI, 'completion', 'fish'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 2);
  assert.equal(stdout, '');
  assert.match(stderr, /^quorumfs: completion: unknown shell 'fish' \(give bash or zsh\)\n$/);
});

test('the zsh script loads bashcompinit, then defines the same bash functions', () => {
  const program = buildProgram();
  const zsh = zshCompletion(program);
  const bash = bashCompletion(program);
  assert.ok(zsh.endsWith(bash), 'the zsh script does not carry the bash script whole');
  const prelude = zsh.slice(0, zsh.length - bash.length).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.deepEqual(prelude, ['(( ${+functions[compdef]} )) || { autoload -U +X compinit && compinit; }', 'autoload -U +X bashcompinit && bashcompinit']);
  assert.match(bash, /setopt localoptions ksharrays/, "zsh's 1-based arrays are not switched to bash's for the function");
});
