// The sign-in link of the web status page: `quorumfs status-page` proves it holds a credential
// of the cluster without sending its key, by a MAC over the identity and an expiry made with that
// key. The mediator derives the same key from the cluster secret and checks the MAC.

import { createHmac } from 'node:crypto';

const LINK_CONTEXT = 'quorumfs-status-page';

/** HMAC-SHA256(key, "quorumfs-status-page\n" + identity + "\n" + expiresMs), hex. */
export function signInMac(key: Buffer, identity: string, expiresMs: number): string {
  return createHmac('sha256', key).update(`${LINK_CONTEXT}\n${identity}\n${expiresMs}`, 'utf8').digest('hex');
}

/** The link to open: `<page>login?identity=I&expires=MS&mac=HEX`; `pageUrl` ends with '/'. */
export function signInUrl(pageUrl: string, key: Buffer, identity: string, expiresMs: number): string {
  const query = new URLSearchParams({ identity, expires: String(expiresMs), mac: signInMac(key, identity, expiresMs) });
  return `${pageUrl}login?${query.toString()}`;
}
