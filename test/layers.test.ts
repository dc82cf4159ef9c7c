// The layer rules of ARCHITECTURE.md, checked on the sources: the pure layers do no I/O and import no higher
// layer; the CLI reaches the library through its entry points only (src/index.ts, src/hub.ts, src/filter.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');
const PURE = ['tensor', 'formats', 'manifest', 'encode', 'merge', 'eval'];
const IO_MODULE = /from ['"](node:)?(fs|fs\/promises|child_process|net|http|https)['"]/;
const HIGHER_LAYER = /from ['"]\.\.\/(store|git|ops|remote|cli|server)/;
const LIBRARY_INSIDE = /from ['"]\.\.\/(tensor|formats|manifest|encode|merge|eval|store|git|ops|remote)/;

/** `file:line: text` for every line of the non-test sources under `dir` that matches one of `patterns`. */
function offending(dir: string, patterns: readonly RegExp[]): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    readFileSync(path, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (patterns.some((p) => p.test(line))) out.push(`${relative(SRC, path)}:${i + 1}: ${line.trim()}`);
      });
  }
  return out;
}

describe('layers', () => {
  it('the pure layers import neither I/O modules nor higher layers', () => {
    expect(PURE.flatMap((layer) => offending(join(SRC, layer), [IO_MODULE, HIGHER_LAYER]))).toEqual([]);
  });

  it('the CLI imports the library through its entry points only', () => {
    expect(offending(join(SRC, 'cli'), [LIBRARY_INSIDE])).toEqual([]);
  });
});
