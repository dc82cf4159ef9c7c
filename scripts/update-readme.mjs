// `npm run docs`: rewrites README.md's command reference from the built CLI's command table (dist/).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { updateReadmeReference } = await import(join(root, 'dist', 'cli', 'reference.js'));
const path = join(root, 'README.md');
writeFileSync(path, updateReadmeReference(readFileSync(path, 'utf8')));
console.log('README.md: command reference updated');
