import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyCache, parseKeyFile } from './key-cache.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bench-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const keys = {
  salt: 'c2FsdA==',
  iterations: 4096,
  clientKey: Buffer.from([1, 2, 3]),
  serverKey: Buffer.from([4, 5]),
};

describe('KeyCache', () => {
  it('keeps keys across runs in a file only its owner can read', async () => {
    const file = path.join(dir, 'keys.json');
    const first = new KeyCache(file);
    first.set(KeyCache.keyOf('localhost', 'Alice', 'SCRAM-SHA-256'), keys);
    await first.save();
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const second = new KeyCache(file);
    await second.load();
    expect(second.has('localhost', 'alice')).toBe(true);
    expect(second.has('localhost', 'bob')).toBe(false);
    expect(second.get(KeyCache.keyOf('localhost', 'alice', 'SCRAM-SHA-256'))).toEqual(keys);
  });

  it('does not rewrite an unchanged cache and starts empty without a file', async () => {
    const file = path.join(dir, 'keys.json');
    const cache = new KeyCache(file);
    await cache.load();
    expect(cache.size).toBe(0);
    await cache.save();
    await expect(readFile(file)).rejects.toThrow();
    cache.set('k', keys);
    cache.set('k', { ...keys });
    expect(cache.derivations).toBe(1);
    await cache.save();
    await writeFile(file, 'overwritten');
    cache.set('k', { ...keys });
    await cache.save();
    expect(await readFile(file, 'utf8')).toBe('overwritten');
  });

  it('skips damaged entries and files', () => {
    expect(parseKeyFile('not json')).toEqual({});
    expect(parseKeyFile('[1,2]')).toEqual({});
    const parsed = parseKeyFile(
      JSON.stringify({
        good: { salt: 's', iterations: 1, clientKey: 'AQ==', serverKey: 'Ag==' },
        bad: { salt: 1 },
      }),
    );
    expect(Object.keys(parsed)).toEqual(['good']);
    expect(parsed.good!.clientKey).toEqual(Buffer.from([1]));
  });
});
