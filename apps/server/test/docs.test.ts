import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Code in the architecture guide is quoted from real source files (marked `<!-- file: path -->`),
 * so it compiles and runs with the rest; this keeps the quotes from drifting away from the code.
 */
describe('architecture guide', () => {
  const guide = readFileSync(`${root}docs/ARCHITECTURE.md`, 'utf8');
  const quotes = [...guide.matchAll(/<!-- file: (\S+) -->\n```ts\n([\s\S]*?)```/g)].map((m) => ({
    path: m[1]!,
    code: m[2]!,
  }));

  it('has quoted examples', () => {
    expect(quotes.length).toBeGreaterThanOrEqual(3);
  });

  it('quotes every example from the file it names (indentation aside)', () => {
    // The Markdown formatter re-indents code blocks; the lines themselves must match.
    const lines = (text: string) =>
      text
        .split('\n')
        .map((line) => line.trim())
        .join('\n');
    for (const { path, code } of quotes) {
      const source = readFileSync(`${root}${path}`, 'utf8');
      expect(lines(source), `${path} no longer contains the guide's example`).toContain(lines(code).trim());
    }
  });
});
