import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'drizzle-kit';

// Paths are resolved from this file, then made relative to where drizzle-kit runs (it reads `out`
// as a relative path), so generation works from the repository root and from this package.
const here = (path: string) => relative(process.cwd(), fileURLToPath(new URL(path, import.meta.url))) || '.';

export default defineConfig({
  dialect: 'postgresql',
  // The core tables, and every feature's own tables, declared in a `schema.ts` in its module folder.
  schema: [here('./src/schema.ts'), `${here('../modules/src')}/**/schema.ts`],
  out: here('./drizzle'),
  strict: true,
  verbose: true,
});
