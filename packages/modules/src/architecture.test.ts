import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('.', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/**
 * What a module must never do: it reaches the server only through its ModuleContext. These rules
 * read the source, so a module that grabs the server, the router, the registry or the cluster
 * fails here before it can hide a dependency.
 */
const FORBIDDEN: Array<{ pattern: RegExp; why: string }> = [
  { pattern: /\bXmppServer\b/, why: 'names the server class' },
  { pattern: /\b(ctx|context|event)\.server\b/, why: 'reaches for the server object' },
  {
    pattern: /\bserver\.(router|registry|cluster|sessions|storage|route|deliver)/,
    why: 'uses server internals',
  },
  { pattern: /\.registry\b|\bstanzaHooks\b/, why: 'fires hooks behind the registry’s back' },
  { pattern: /from '@strom\/core\/[^']*'/, why: 'imports core internals' },
  {
    pattern: /import \{(?![^}]*\btype\b)[^}]*\} from '@strom\/cluster'/,
    why: 'talks to the cluster directly',
  },
  { pattern: /\bcluster\.send\b|\btype: 'custom'/, why: 'hand-rolls cluster messages (use ctx.broadcast)' },
];

describe('module architecture', () => {
  const files = sources(root);

  it('finds the module sources', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it('keeps every module behind its ModuleContext', () => {
    const violations: string[] = [];
    for (const file of files) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, index) => {
        if (/^\s*(\*|\/\/)/.test(line)) return;
        for (const { pattern, why } of FORBIDDEN) {
          if (pattern.test(line))
            violations.push(`${relative(root, file)}:${index + 1} ${why}: ${line.trim()}`);
        }
      });
    }
    expect(violations).toEqual([]);
  });

  it('would catch a module that touches the server', () => {
    const offending = 'const { server } = ctx; server.router.bounce(stanza); ctx.server.log';
    expect(FORBIDDEN.some(({ pattern }) => pattern.test(offending))).toBe(true);
    expect(
      FORBIDDEN.some(({ pattern }) => pattern.test("import { createCluster } from '@strom/cluster';")),
    ).toBe(true);
    expect(
      FORBIDDEN.some(({ pattern }) => pattern.test("import type { SessionEntry } from '@strom/cluster';")),
    ).toBe(false);
  });
});
