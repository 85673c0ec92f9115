// A credential: an identity `<role>.<id>` and its key, HMAC-SHA256(cluster secret, identity).
// Anyone holding the cluster secret derives the key of any identity, so servers need nothing per
// credential. On disk a credential is a small JSON file (format version 1) that also names the
// addresses it applies to; `plaintext` marks a cluster run with --insecure-loopback.

import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { qfsError, messageOf } from './errors.js';
import { formatAddress, parseAddress, type Address } from './address.js';
import { limits } from './limits.js';
import { parseIdentity } from '../core/access-policy.js';

const CREDENTIAL_FORMAT_VERSION = 1;

export interface Credential {
  identity: string;
  /** 32 bytes; never logged. */
  key: Buffer;
}

export interface CredentialFile extends Credential {
  /** host:port of every server this credential is for (the cluster's, spares included). */
  addresses: string[];
  /** Addresses it may apply to later (a cluster's unused spare ports); a lookup prefers a file
   * that lists the peer in `addresses`. */
  spareAddresses?: string[];
  /** The cluster runs without TLS (--insecure-loopback): connect in plain TCP. */
  plaintext?: boolean;
  /** For files in the standard place: the mediator that wrote it, and its data directory. */
  pid?: number;
  dataDir?: string;
}

export function deriveKey(clusterSecret: Buffer, identity: string): Buffer {
  return createHmac('sha256', clusterSecret).update(identity, 'utf8').digest();
}

export function encodeCredentialFile(c: CredentialFile): string {
  return `${JSON.stringify({ version: CREDENTIAL_FORMAT_VERSION, ...c, key: c.key.toString('hex') }, null, 2)}\n`;
}

/** Parses and checks a credential file's text; INVALID with the reason when it is malformed. */
export function decodeCredentialFile(text: string, where: string): CredentialFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw qfsError('INVALID', `${where}: not JSON (${messageOf(err)})`);
  }
  if (typeof raw !== 'object' || raw === null) throw qfsError('INVALID', `${where}: not a credential object`);
  const o = raw as Record<string, unknown>;
  if (o.version !== CREDENTIAL_FORMAT_VERSION) throw qfsError('INVALID', `${where}: unknown credential format version ${String(o.version)}`);
  if (typeof o.identity !== 'string' || !parseIdentity(o.identity)) throw qfsError('INVALID', `${where}: bad identity`);
  if (typeof o.key !== 'string' || !/^[0-9a-f]{64}$/.test(o.key)) throw qfsError('INVALID', `${where}: key must be 64 hex digits`);
  if (!Array.isArray(o.addresses) || !o.addresses.every((a) => typeof a === 'string')) {
    throw qfsError('INVALID', `${where}: addresses must be a list of host:port`);
  }
  return {
    identity: o.identity,
    key: Buffer.from(o.key, 'hex'),
    addresses: (o.addresses as string[]).map((a) => formatAddress(parseAddress(a))),
    spareAddresses: Array.isArray(o.spareAddresses) ? o.spareAddresses.filter((a): a is string => typeof a === 'string').map((a) => formatAddress(parseAddress(a))) : undefined,
    plaintext: o.plaintext === true,
    pid: typeof o.pid === 'number' ? o.pid : undefined,
    dataDir: typeof o.dataDir === 'string' ? o.dataDir : undefined,
  };
}

/** Reads a credential file given with --credentials or the `credentials` option. */
export async function readCredentialFile(file: string): Promise<CredentialFile> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > limits.maxCredentialFileBytes) throw new Error(`larger than ${limits.maxCredentialFileBytes} bytes`);
    text = bytes.toString('utf8');
  } catch (err) {
    throw qfsError('UNAUTHENTICATED', `cannot read credentials ${file}: ${messageOf(err)}`);
  }
  return decodeCredentialFile(text, file);
}

const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '::1']);

/** A server bound to every interface is reached on loopback too. */
const LOCAL_NAMES: ReadonlySet<string> = new Set([...LOOPBACK_NAMES, '0.0.0.0', '::']);

/** The same peer, counting every loopback spelling (and a wildcard bind) as one host. */
export function sameAddress(a: Address, b: Address): boolean {
  if (a.port !== b.port) return false;
  return a.host === b.host || (LOCAL_NAMES.has(a.host) && LOCAL_NAMES.has(b.host));
}

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || host.startsWith('127.');
}
