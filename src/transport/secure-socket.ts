// Authentication of every connection: TLS 1.2 with pre-shared keys (Node's PSK support is TLS
// 1.2 only). The client offers its identity `<role>.<id>`; the server derives that identity's key
// from the cluster secret (refusing unknown roles and revoked ids), and the handshake succeeds
// only if both ends hold the same key. After it, every byte is encrypted and authenticated, so
// replayed or altered frames are refused by TLS. The peer's role is remembered per socket for
// the per-method checks. Without a security setting both ends speak plain TCP
// (--insecure-loopback, and in-process tests of the RPC layer).

import net from 'node:net';
import tls from 'node:tls';
import type { Address } from '../common/address.js';
import type { RevokedIds } from '../common/cluster-secret.js';
import { deriveKey, type Credential } from '../common/credentials.js';
import { limits } from '../common/limits.js';
import { parseIdentity, type AccessPolicy, type Role } from '../core/access-policy.js';

/** AEAD with forward secrecy (an ephemeral X25519 mixed with the PSK), then plain PSK for a
 * build without ChaCha20. Not DHE-PSK-AES-GCM: its bulk is faster with AES-NI, but its
 * finite-field DH costs the server ~25 ms of CPU per handshake, before the peer has proved
 * anything (measured: docs/security.md). */
const PSK_CIPHERS = 'ECDHE-PSK-CHACHA20-POLY1305:PSK-AES256-GCM-SHA384';
const TLS_VERSIONS = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;

export interface ServerSecurity {
  /** The cluster secret (32 bytes) from which every identity's key is derived. */
  clusterSecret: Buffer;
  revoked: RevokedIds;
  /** Which roles may call which methods of this server. */
  access: AccessPolicy;
}

const roles = new WeakMap<net.Socket, Role>();

/** The authenticated role of an accepted socket; undefined on a plain (unauthenticated) one. */
export function peerRoleOf(socket: net.Socket): Role | undefined {
  return roles.get(socket);
}

/** A listening server that hands each socket to onSocket once it is authenticated (TLS) or at
 * once (plain). Peers that fail the handshake are dropped before any byte reaches the RPC layer. */
export function createRpcListener(security: ServerSecurity | undefined, onSocket: (socket: net.Socket) => void): net.Server {
  if (!security) return net.createServer({ noDelay: true }, onSocket);
  const server = tls.createServer(
    {
      ...TLS_VERSIONS,
      ciphers: PSK_CIPHERS,
      handshakeTimeout: limits.tlsHandshakeTimeoutMs,
      pskCallback: (socket, identity) => {
        const parsed = parseIdentity(identity);
        if (!parsed || security.revoked.isRevoked(identity)) return null;
        roles.set(socket, parsed.role);
        return deriveKey(security.clusterSecret, identity);
      },
    },
    (socket) => {
      socket.setNoDelay(true);
      onSocket(socket);
    },
  );
  // A failed handshake (not TLS, unknown identity, wrong key, too slow) is the peer's problem:
  // its socket is already destroyed, nothing is served.
  server.on('tlsClientError', () => {});
  // Sockets still in their handshake count too: an unauthenticated peer cannot hold more.
  server.maxConnections = limits.maxConnections;
  return server;
}

export type ClientTransport = { kind: 'plain' } | { kind: 'psk'; credential: Credential };

/** Dials the peer; the socket is usable once `readyEvent` fires. */
export function dial(address: Address, transport: ClientTransport): { socket: net.Socket; readyEvent: 'connect' | 'secureConnect' } {
  if (transport.kind === 'plain') {
    return { socket: net.connect({ host: address.host, port: address.port, noDelay: true }), readyEvent: 'connect' };
  }
  const { identity, key } = transport.credential;
  const socket = tls.connect({
    host: address.host,
    port: address.port,
    ...TLS_VERSIONS,
    ciphers: PSK_CIPHERS,
    // No certificates: the server proves itself by completing the handshake with the key.
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: key, identity }),
  });
  socket.setNoDelay(true);
  return { socket, readyEvent: 'secureConnect' };
}

/** True for an error raised by the TLS handshake itself (refused identity, wrong key), which
 * sending again will not fix, as opposed to a connection that could not be made or broke. */
export function isHandshakeRefusal(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code.startsWith('ERR_SSL_');
}
