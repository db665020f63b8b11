import { JID, JidMalformedError } from '@strom/jid';
import { deriveCredentials, SaslError } from '@strom/sasl';
import type { Storage } from '@strom/storage';

export type AccountProblem = 'invalid-username' | 'invalid-password' | 'exists' | 'not-found';

export class AccountError extends Error {
  constructor(
    readonly problem: AccountProblem,
    message: string,
  ) {
    super(message);
  }
}

/** The normalized localpart for a username as typed (RFC 7622 UsernameCaseMapped). */
export function normalizeUsername(username: string, domain: string): string {
  try {
    const local = JID.of(username, domain).local;
    if (local === '') throw new JidMalformedError('empty');
    return local;
  } catch {
    throw new AccountError('invalid-username', `"${username}" is not a valid username`);
  }
}

async function credentialsFor(password: string) {
  if (password.length === 0) throw new AccountError('invalid-password', 'The password must not be empty');
  try {
    return await deriveCredentials(password);
  } catch (err) {
    if (err instanceof SaslError)
      throw new AccountError('invalid-password', 'The password contains characters that are not allowed');
    throw err;
  }
}

/** Creates an account; only salted SCRAM keys are stored, never the password. */
export async function createAccount(
  storage: Storage,
  domain: string,
  username: string,
  password: string,
): Promise<string> {
  const local = normalizeUsername(username, domain);
  const credentials = await credentialsFor(password);
  if (!(await storage.accounts.create(local, credentials))) {
    throw new AccountError('exists', `The account ${local}@${domain} already exists`);
  }
  return local;
}

export async function changePassword(
  storage: Storage,
  domain: string,
  username: string,
  password: string,
): Promise<void> {
  const local = normalizeUsername(username, domain);
  const credentials = await credentialsFor(password);
  if (!(await storage.accounts.setCredentials(local, credentials))) {
    throw new AccountError('not-found', `There is no account ${local}@${domain}`);
  }
}
