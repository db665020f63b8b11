import { fileURLToPath } from 'node:url';
import { defineConfig } from 'drizzle-kit';

// Paths are resolved from this file so generation works from the repository root and from this package.
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  dialect: 'postgresql',
  schema: here('./src/schema.ts'),
  out: here('./drizzle'),
  strict: true,
  verbose: true,
});
