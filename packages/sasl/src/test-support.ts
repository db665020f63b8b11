import { deriveCredentials, type StoredCredentials } from './credentials.js';
import type { CredentialLookup, SaslMechanism, SaslStep } from './mechanism.js';

/** An in-memory user table for mechanism tests; records every username the mechanism asked for. */
export async function userTable(users: Record<string, string>, opts: { iterations?: number } = {}) {
  const table = new Map<string, StoredCredentials>();
  for (const [name, password] of Object.entries(users)) {
    table.set(name, await deriveCredentials(password, opts));
  }
  const lookups: string[] = [];
  const lookup: CredentialLookup = async (username) => {
    lookups.push(username);
    return table.get(username);
  };
  return { lookup, lookups, table };
}

export function text(data: Buffer | undefined): string {
  return data?.toString('utf8') ?? '';
}

export function expectChallenge(step: SaslStep): Buffer {
  if (step.type !== 'challenge') throw new Error(`expected a challenge, got ${step.type}`);
  return step.data;
}

export function expectSuccess(step: SaslStep): Extract<SaslStep, { type: 'success' }> {
  if (step.type !== 'success') throw new Error(`expected success, got ${step.type}`);
  return step;
}

/** Resolves to the SaslError condition the step fails with, or 'ok' when it does not fail. */
export async function conditionOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    const condition = (error as { condition?: unknown }).condition;
    if (typeof condition !== 'string') throw error;
    return condition;
  }
}

export async function stepText(mechanism: SaslMechanism, message: string): Promise<string> {
  return text(expectChallenge(await mechanism.step(Buffer.from(message, 'utf8'))));
}
