// `--credentials FILE` on every command that talks to a cluster: the credential to authenticate
// with. Without it, the client finds its cluster's credentials in the standard place.

import { readCredentialFile, type Credential } from '../common/credentials.js';

export interface CredentialsFlag {
  credentials?: string;
}

export const CREDENTIALS_OPTION = ['--credentials <file>', 'credentials to use (default: your clusters in ~/.config/quorumfs/clusters)'] as const;

export async function credentialsOption(flags: CredentialsFlag): Promise<{ credentials?: Credential }> {
  if (flags.credentials === undefined) return {};
  const file = await readCredentialFile(flags.credentials);
  return { credentials: { identity: file.identity, key: file.key } };
}
