import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { serverSecrets } from './schema.js';
import type { Storage } from './types.js';

/** Bytes in a new shared secret. */
const SECRET_BYTES = 32;

/**
 * The deployment-wide secret called `name`: read from storage, or created there by the first node
 * that asks (an insert that loses a race keeps the winner's value), so every node sharing the
 * database gets the same bytes.
 */
export async function sharedSecret(storage: Storage, name: string): Promise<Buffer> {
  const db = storage.database;
  await db
    .insert(serverSecrets)
    .values({ name, value: randomBytes(SECRET_BYTES).toString('base64') })
    .onConflictDoNothing({ target: serverSecrets.name });
  const [row] = await db
    .select({ value: serverSecrets.value })
    .from(serverSecrets)
    .where(eq(serverSecrets.name, name));
  if (!row) throw new Error(`The shared secret "${name}" could not be stored`);
  return Buffer.from(row.value, 'base64');
}
