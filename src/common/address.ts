// Servers are addressed as host:port everywhere; a bare port is a command-line shorthand for
// 127.0.0.1:port.

import { qfsError } from './errors.js';

export interface Address {
  host: string;
  port: number;
}

export const LOOPBACK = '127.0.0.1';

function parsePort(text: string, what = 'port'): number {
  if (!/^\d+$/.test(text)) throw qfsError('INVALID', `${what} '${text}' is not a number`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw qfsError('INVALID', `${what} ${port} is out of range (1-65535)`);
  return port;
}

/** Parses "host:port", "[v6]:port" or a bare port (meaning 127.0.0.1). */
export function parseAddress(text: string, defaultHost = LOOPBACK): Address {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (v6) return { host: v6[1]!, port: parsePort(v6[2]!) };
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { host: defaultHost, port: parsePort(text) };
  const host = text.slice(0, colon);
  if (host === '') throw qfsError('INVALID', `address '${text}' has no host`);
  return { host, port: parsePort(text.slice(colon + 1)) };
}

export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** An address that means every interface (0.0.0.0, ::): a peer cannot connect to it as given. */
export function isUnspecifiedHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}
