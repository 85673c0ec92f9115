// `--metrics-port <port>` and `--metrics-host <host>` of every server role and the mount: where
// the process serves its Prometheus metrics, off unless a port is given (0: an ephemeral port),
// on loopback unless a host is given. Bad values are usage errors: one line, exit code 2.

import net from 'node:net';
import { LOOPBACK, type Address } from '../common/address.js';
import { checkPortFree } from './arguments.js';
import { usage } from './usage-error.js';

export interface MetricsFlags {
  metricsPort?: string;
  metricsHost?: string;
}

export const METRICS_PORT_OPTION = ['--metrics-port <port>', 'serve Prometheus metrics on this port (0: any free port; off without it)'] as const;
export const METRICS_HOST_OPTION = ['--metrics-host <host>', `address the metrics are served on (default ${LOOPBACK})`] as const;

/** A hostname (RFC 1123 labels) or an IP address. */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `host` if it is a host name or an IP address; a usage error naming `what` otherwise. */
export function listenHostArg(host: string, what: string): string {
  if (net.isIP(host) === 0 && !HOSTNAME.test(host)) usage(`${what} '${host}' is not a host name or IP address`);
  return host;
}

/** Where to serve metrics, or undefined when --metrics-port is absent. `otherPorts` are the
 * ports the process (or its children) listen on: the metrics port may not be one of them. */
export async function metricsArg(flags: MetricsFlags, otherPorts: readonly number[]): Promise<Address | undefined> {
  if (flags.metricsPort === undefined) {
    if (flags.metricsHost !== undefined) usage('--metrics-host needs --metrics-port');
    return undefined;
  }
  const text = flags.metricsPort;
  if (!/^\d{1,5}$/.test(text)) usage(`--metrics-port '${text}' is not a port number (0-65535)`);
  const port = Number(text);
  if (port > 65535) usage(`--metrics-port ${port} is out of range (0-65535)`);
  const host = listenHostArg(flags.metricsHost ?? LOOPBACK, '--metrics-host');
  if (port !== 0) {
    if (otherPorts.includes(port)) usage(`--metrics-port ${port} is also given as a server port`);
    await checkPortFree(host, port, '--metrics-port');
  }
  return { host, port };
}
