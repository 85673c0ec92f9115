// `quorumfs status-page`: asks the mediator where its web status page is and prints a sign-in
// link for it, made with this user's credential of the cluster (the key itself is never sent: the
// link carries a MAC of the identity and an expiry). A cluster run with --insecure-loopback needs
// no sign-in: the page's address is printed as it is.

import { formatAddress, parseAddress } from '../common/address.js';
import { findClusterCredentials } from '../common/credential-store.js';
import { readCredentialFile, type CredentialFile } from '../common/credentials.js';
import { qfsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { signInUrl } from '../common/status-page-link.js';
import { mediatorMethods } from '../protocol/mediator-messages.js';
import { RpcClient } from '../transport/rpc-client.js';
import { addressListArg } from './arguments.js';
import { credentialsOption, type CredentialsFlag } from './credentials-flag.js';

export async function statusPageCommand(flags: { mediator: string } & CredentialsFlag): Promise<void> {
  const addresses = addressListArg(flags.mediator, '--mediator');
  const peerName = addresses.length === 1 ? `mediator ${formatAddress(addresses[0]!)}` : 'mediator';
  const client = new RpcClient(addresses, { peerName, defaultTimeoutMs: limits.cliCallTimeoutMs, ...(await credentialsOption(flags)) });
  let report;
  try {
    report = await client.call(mediatorMethods.status, {});
  } finally {
    client.close();
  }
  const pageUrl = report.statusPage;
  if (pageUrl === undefined) throw qfsError('NOT_SUPPORTED', `${peerName} serves no status page: start it with --http-port`);
  // The credential the call was made with: the one given, or the standard place's for the
  // mediator that answered.
  const credential: CredentialFile = flags.credentials !== undefined ? await readCredentialFile(flags.credentials) : await findClusterCredentials(parseAddress(report.mediator.address));
  if (credential.plaintext) {
    process.stdout.write(`${pageUrl}\n`);
    return;
  }
  const expiresMs = Date.now() + limits.statusPageLinkTtlMs;
  process.stdout.write(`${signInUrl(pageUrl, credential.key, credential.identity, expiresMs)}\n`);
}
