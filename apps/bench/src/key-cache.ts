import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ScramClientKeys } from '@strom/sasl';

/**
 * SCRAM keys of the bench accounts, kept between logins and between runs. Deriving them (PBKDF2,
 * thousands of iterations) costs the tool more CPU than the server spends on the whole login, so
 * without this a login benchmark would mostly measure the tool. The keys only open throwaway
 * bench accounts; the file is still written readable by its owner only.
 */
export class KeyCache {
  private readonly keys = new Map<string, ScramClientKeys>();
  private dirty = false;
  /** Keys learned or replaced since the start: each one cost a PBKDF2 derivation. */
  derivations = 0;

  constructor(readonly file: string | undefined) {}

  static defaultFile(): string {
    return path.join(os.tmpdir(), 'strom-bench-scram-keys.json');
  }

  /**
   * `scope` names the service (the --ws URL and domain), not the node a session happens to use, so
   * the nodes of a cluster share keys. A server that was reset gives new salts, which is noticed on
   * use and counted in `derivations`.
   */
  static keyOf(scope: string, username: string, mechanism: string): string {
    return `${scope}|${username.toLowerCase()}|${mechanism}`;
  }

  /** Whether keys for any SCRAM variant of the account are known. */
  has(scope: string, username: string): boolean {
    return (
      this.keys.has(KeyCache.keyOf(scope, username, 'SCRAM-SHA-256')) ||
      this.keys.has(KeyCache.keyOf(scope, username, 'SCRAM-SHA-1'))
    );
  }

  get(key: string): ScramClientKeys | undefined {
    return this.keys.get(key);
  }

  set(key: string, keys: ScramClientKeys): void {
    const known = this.keys.get(key);
    if (known && known.salt === keys.salt && known.iterations === keys.iterations) return;
    this.keys.set(key, keys);
    this.dirty = true;
    this.derivations++;
  }

  get size(): number {
    return this.keys.size;
  }

  async load(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return;
    }
    for (const [key, entry] of Object.entries(parseKeyFile(text))) this.keys.set(key, entry);
  }

  async save(): Promise<void> {
    if (!this.file || !this.dirty) return;
    const out: Record<string, SerializedKeys> = {};
    for (const [key, keys] of this.keys) {
      out[key] = {
        salt: keys.salt,
        iterations: keys.iterations,
        clientKey: keys.clientKey.toString('base64'),
        serverKey: keys.serverKey.toString('base64'),
      };
    }
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(out), { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, this.file);
    this.dirty = false;
  }
}

interface SerializedKeys {
  salt: string;
  iterations: number;
  clientKey: string;
  serverKey: string;
}

/** Reads a key file, skipping malformed entries (a damaged cache only costs re-derivation). */
export function parseKeyFile(text: string): Record<string, ScramClientKeys> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof data !== 'object' || data === null) return {};
  const result: Record<string, ScramClientKeys> = {};
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    const entry = value as Partial<SerializedKeys> | null;
    if (
      entry &&
      typeof entry.salt === 'string' &&
      typeof entry.iterations === 'number' &&
      typeof entry.clientKey === 'string' &&
      typeof entry.serverKey === 'string'
    ) {
      result[key] = {
        salt: entry.salt,
        iterations: entry.iterations,
        clientKey: Buffer.from(entry.clientKey, 'base64'),
        serverKey: Buffer.from(entry.serverKey, 'base64'),
      };
    }
  }
  return result;
}
