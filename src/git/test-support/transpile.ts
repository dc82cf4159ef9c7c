// Test support: makes the git layer runnable by a plain `node` that git itself starts (a filter process), by
// transpiling src/errors.ts and src/git/**/*.ts to JavaScript in a temp dir. No type checking; tests only.

import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Writes `<outDir>/errors.js` and `<outDir>/git/**.js` (tests excluded), ESM, and returns `outDir`.
 * `node <outDir>/git/test-support/reverse-filter.js` then runs as git's filter.
 */
export async function transpileGitLayer(outDir: string): Promise<string> {
  const files = ['errors.ts', ...(await listTs(path.join(SRC, 'git'))).map((f) => path.join('git', f))];
  for (const file of files) {
    const source = await readFile(path.join(SRC, file), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const target = path.join(outDir, file.replace(/\.ts$/, '.js'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, outputText);
  }
  await writeFile(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  return outDir;
}

async function listTs(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) found.push(...(await listTs(path.join(dir, entry.name), relative)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) found.push(relative);
  }
  return found;
}
