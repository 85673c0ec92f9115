// The quorumfs command line (the contract of DESIGN.md): one subcommand per process or
// operator action. Usage errors print one line and exit 2; runtime errors one line and exit 1.
// buildProgram() is exported so tests and `completion` can walk the real command tree; the
// command line runs only when this file is the process's entry point.

import { Command, CommanderError } from 'commander';
import { LOOPBACK } from '../common/address.js';
import { corruptCommand, listContentsCommand, statusCommand, terminateCommand } from './admin-commands.js';
import { MEDIATOR_DEFAULTS, parseMediatorArgs, runMediator, type MediatorFlags } from './mediator-command.js';
import { DEFAULT_ETCD_PREFIX, runDataServer, runMetaServer, type ServerFlags } from './server-commands.js';
import { EXIT_USAGE, reportCliError } from './usage-error.js';
import { MOUNT_DEFAULTS, runMount, runUnmount } from './mount-command.js';
import { explainCommand, healCommand, scrubCommand } from './repair-commands.js';
import { CREDENTIALS_OPTION } from './credentials-flag.js';
import { eventsCommand } from './events-command.js';
import { QUORUMFS_VERSION } from '../common/version.js';
import { issueCommand, revokeCommand } from './credentials-commands.js';
import { completionCommand } from './completion-command.js';
import { realpath } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { statusPageCommand } from './status-page-command.js';
import { METRICS_HOST_OPTION, METRICS_PORT_OPTION } from './metrics-flags.js';

const DEFAULT_MEDIATOR = `${LOOPBACK}:${MEDIATOR_DEFAULTS.port}`;
/** `--mediator` of every command that talks to a cluster. */
const MEDIATOR_OPTION = ['--mediator <host:port,...>', 'mediator address; several, comma-separated, to fail over to the one that leads', DEFAULT_MEDIATOR] as const;

export function buildProgram(): Command {
  const program = new Command('quorumfs')
    .description('a fault-tolerant network file system')
    .exitOverride()
    .showSuggestionAfterError(false)
    .configureOutput({ writeErr: () => {} }) // errors are reported by main(), in one line
    .version(`quorumfs ${QUORUMFS_VERSION}`, '-V, --version', 'print the version');

  program
    .command('mediator')
    .description('start the metadata server and the data servers, then serve clients')
    .argument('<Qr>', 'read quorum')
    .argument('<Qw>', 'write quorum')
    .argument('<meta_port>', 'metadata server port')
    .argument('[data_port...]', 'data server ports (optional with --etcd: servers join)')
    .option('--port <port>', 'port the mediator listens on', MEDIATOR_DEFAULTS.port)
    .option('--spare-ports <range>', 'ports for replacement data servers, in order; a taken one is skipped', MEDIATOR_DEFAULTS.sparePorts)
    .option('--data-dir <dir>', 'where the servers keep their data', MEDIATOR_DEFAULTS.dataDir)
    .option('--host <host>', 'address to listen on', MEDIATOR_DEFAULTS.host)
    .option('--fault-injection', 'allow corrupt and terminate on the data servers')
    .option('--insecure-loopback', 'no TLS and no roles on any connection (benchmark/debug switch; loopback only)')
    .option('--heal-rate-mibs <n>', 'heal copying budget in MiB/s (0: unlimited)', MEDIATOR_DEFAULTS.healRateMibs)
    .option('--scrub-rate-mibs <n>', 'scrub verifying budget in MiB/s (0: unlimited)', MEDIATOR_DEFAULTS.scrubRateMibs)
    .option('--scrub-interval-s <n>', 'seconds between scrub passes (0: only on demand)', MEDIATOR_DEFAULTS.scrubIntervalS)
    .option('--session-grace-ms <ms>', "how long a mount's open files stay held after its connection is lost", MEDIATOR_DEFAULTS.sessionGraceMs)
    .option('--etcd <urls>', 'keep the metadata in etcd (http://host:port, comma-separated); mediators given the same etcd elect one leader')
    .option('--etcd-prefix <prefix>', "the cluster's keys in etcd", MEDIATOR_DEFAULTS.etcdPrefix)
    .option('--leader-ttl-s <s>', "the leader's lease in etcd: a dead leader is replaced within about this", MEDIATOR_DEFAULTS.leaderTtlS)
    .option('--http-port <port>', 'serve the web status page on this port (0: any free one); off without it')
    .option('--http-host <host>', 'address the status page listens on (default 127.0.0.1)')
    .option(...METRICS_PORT_OPTION)
    .option(...METRICS_HOST_OPTION)
    .action(async (qr: string, qw: string, metaPort: string, dataPorts: string[], flags: MediatorFlags) => {
      await runMediator(await parseMediatorArgs(qr, qw, metaPort, dataPorts, flags));
    });

  const serverCommand = (name: string, description: string, run: (flags: ServerFlags) => Promise<void>): void => {
    const command = program
      .command(name)
      .description(description)
      .requiredOption('--port <port>', 'port to listen on')
      .requiredOption('--dir <dir>', 'directory for its data')
      .option('--host <host>', 'address to listen on', LOOPBACK)
      .option('--exit-with-parent', 'exit when stdin closes (used by the mediator)')
      .option('--cluster-secret <file>', 'the cluster secret (default: cluster.secret beside --dir)')
      .option('--insecure-loopback', 'no TLS, no roles: a benchmark/debug switch, loopback only')
      .option(...METRICS_PORT_OPTION)
      .option(...METRICS_HOST_OPTION);
    if (name === 'meta-server') {
      command
        .option('--etcd <urls>', "keep the metadata in etcd (http://host:port, comma-separated); changes commit only under the leading mediator's fence")
        .option('--etcd-prefix <prefix>', "the cluster's keys in etcd", DEFAULT_ETCD_PREFIX);
    }
    if (name === 'data-server') {
      command
        .option('--fault-injection', 'accept corrupt and terminate')
        .option('--join <host:port,...>', 'join the cluster of these mediators (on etcd): the leader makes this server a member')
        .option('--spare', 'with --join: stand by to replace a failed data server');
    }
    command.action(run);
  };
  serverCommand('data-server', 'run one data server', runDataServer);
  serverCommand('meta-server', 'run the metadata server', runMetaServer);

  program
    .command('mount')
    .description('mount the file system (foreground; SIGINT/SIGTERM unmount)')
    .argument('<mountpoint>', 'an existing directory')
    .option(...MEDIATOR_OPTION)
    .option('--timeout-ms <ms>', 'deadline of each call to the mediator', MOUNT_DEFAULTS.timeoutMs)
    .option('--attr-timeout <seconds>', 'how long the kernel may cache attributes', MOUNT_DEFAULTS.attrTimeout)
    .option('--read-through-mediator', 'read file data through the mediator, not from the replicas directly')
    .option('--write-through-mediator', 'write file data through the mediator, not to the replicas directly')
    .option(...METRICS_PORT_OPTION)
    .option(...METRICS_HOST_OPTION)
    .option(...CREDENTIALS_OPTION)
    .action(runMount);

  program
    .command('unmount')
    .description('unmount a quorumfs mount')
    .argument('<mountpoint>', 'the mount point')
    .option('--lazy', 'detach now, finish when no longer busy')
    .action(runUnmount);

  program
    .command('status')
    .description('show servers, their state and the cluster counters')
    .option(...MEDIATOR_OPTION)
    .option('--json', 'print one JSON object')
    .option('--watch', 'show it again every --interval-s seconds until interrupted')
    .option('--interval-s <n>', `seconds between frames of --watch (default 2)`)
    .option(...CREDENTIALS_OPTION)
    .action(statusCommand);

  program
    .command('events')
    .description("print the mediator's recent cluster events (servers down, replacements, heals, repairs, scrubs, leaders)")
    .option(...MEDIATOR_OPTION)
    .option('--follow', 'keep printing new events until interrupted')
    .option('--json', 'print one JSON object per line')
    .option(...CREDENTIALS_OPTION)
    .action(eventsCommand);

  program
    .command('status-page')
    .description("print a sign-in link to the mediator's web status page (valid once, for a few minutes)")
    .option(...MEDIATOR_OPTION)
    .option(...CREDENTIALS_OPTION)
    .action(statusPageCommand);

  program
    .command('heal')
    .description('compare every data server with the block maps now and copy what is missing')
    .option(...MEDIATOR_OPTION)
    .option('--wait', 'show progress until done')
    .option(...CREDENTIALS_OPTION)
    .action(healCommand);

  program
    .command('scrub')
    .description('verify every block on every data server now and repair what is wrong')
    .option(...MEDIATOR_OPTION)
    .option('--wait', 'show progress until done')
    .option(...CREDENTIALS_OPTION)
    .action(scrubCommand);

  program
    .command('explain')
    .description("show a file's blocks: version, checksum and which servers hold a good copy")
    .argument('<path>', 'a file on a quorumfs mount, or a path inside the file system')
    .option(...MEDIATOR_OPTION)
    .option('--json', 'print one JSON object')
    .option(...CREDENTIALS_OPTION)
    .action(explainCommand);

  program
    .command('list-contents')
    .description('list the blocks a data server holds')
    .argument('<port>', 'data server port')
    .option('--host <host>', 'data server host', LOOPBACK)
    .option('--json', 'print a JSON array')
    .option(...CREDENTIALS_OPTION)
    .action(listContentsCommand);

  program
    .command('corrupt')
    .description('overwrite a stored block with garbage (fault injection)')
    .argument('<port>', 'data server port')
    .argument('<key>', 'block key, as list-contents shows it')
    .option('--host <host>', 'data server host', LOOPBACK)
    .option(...CREDENTIALS_OPTION)
    .action(corruptCommand);

  program
    .command('terminate')
    .description('make a data server exit at once (fault injection)')
    .argument('<port>', 'data server port')
    .option('--host <host>', 'data server host', LOOPBACK)
    .option(...CREDENTIALS_OPTION)
    .action(terminateCommand);

  const credentials = program.command('credentials').description('issue and revoke credentials of this cluster (run by its owner)');
  credentials
    .command('issue')
    .description('print a credential of a new identity, for --credentials on another host')
    .requiredOption('--role <role>', 'client (mounts, client API) or admin (the command line)')
    .option('--data-dir <dir>', "the mediator's data directory", MEDIATOR_DEFAULTS.dataDir)
    .option('--id <id>', 'the id part of the identity (default: random)')
    .option('--out <file>', 'write it to a new file (mode 0600) instead of stdout')
    .action(issueCommand);
  credentials
    .command('revoke')
    .description('refuse an identity (or an id, in every role) from the next handshake on')
    .argument('<id>', 'the id or identity <role>.<id> to revoke')
    .option('--data-dir <dir>', "the mediator's data directory", MEDIATOR_DEFAULTS.dataDir)
    .action(revokeCommand);

  program
    .command('completion')
    .description('print a completion script for the shell, made from these commands (source it from ~/.bashrc or ~/.zshrc)')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => completionCommand(program, shell));

  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      process.stderr.write(`quorumfs: ${err.message.replace(/^error: /, '')}\n`);
      return EXIT_USAGE;
    }
    return reportCliError(err);
  }
}

/** True when node runs this file (bin/quorumfs, the mediator's children), false when it is
 * imported. Node gives the entry module its real path, so argv[1] is resolved likewise. */
async function isEntryPoint(): Promise<boolean> {
  const script = process.argv[1];
  if (script === undefined) return false;
  const real = await realpath(script).catch(() => script);
  return pathToFileURL(real).href === import.meta.url;
}

if (await isEntryPoint()) {
  // A reader that went away (`quorumfs list-contents 51236 | head`) ends the command quietly, as
  // it ends any Unix tool, instead of an unhandled EPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });

  // Long-running commands keep the process alive through their servers; short ones exit here.
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0) process.exit(code);
    },
    (err: unknown) => process.exit(reportCliError(err)),
  );
}
