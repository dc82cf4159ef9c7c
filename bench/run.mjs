// `npm run bench -- <name> [args]`: runs bench/<name>.mjs against the built CLI (dist/). Never part of npm test.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const names = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && !['run.mjs', 'lib.mjs', 'gen-model.mjs'].includes(f))
  .map((f) => f.slice(0, -4));
const [name, ...args] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <name>   (one of: ${names.join(', ')})`);
  process.exit(2);
}
if (!existsSync(join(here, '..', 'dist', 'cli', 'main.js'))) {
  console.error('dist/ is missing: run npm run build first');
  process.exit(2);
}
const mod = await import(pathToFileURL(join(here, `${name}.mjs`)).href);
await mod.run(args);
