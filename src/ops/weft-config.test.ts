import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configTable, parseWeftConfig, readWeftConfig, writeWeftConfig } from './weft-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('weft config', () => {
  it('is empty when the file is absent', async () => {
    expect(await readWeftConfig({ topLevel: dir })).toEqual({});
  });

  it('parses tables and arrays of tables', async () => {
    await mkdir(join(dir, '.weft'));
    await writeFile(join(dir, '.weft/config.toml'), '[merge]\nmethod = "ties"\n[[merge.rules]]\nmatch = "*.bias"\n');
    const config = await readWeftConfig({ topLevel: dir });
    expect(config).toEqual({ merge: { method: 'ties', rules: [{ match: '*.bias' }] } });
  });

  it('names the line of a syntax error', () => {
    expect(() => parseWeftConfig('[merge]\nmethod = \n', 'c.toml')).toThrow(/c\.toml: line 2/);
  });

  it('writes atomically and reads back', async () => {
    await writeWeftConfig({ topLevel: dir, config: { remotes: { origin: { url: 's3://b/p' } } } });
    expect(await readFile(join(dir, '.weft/config.toml'), 'utf8')).toContain('[remotes.origin]');
    expect(await readWeftConfig({ topLevel: dir })).toEqual({ remotes: { origin: { url: 's3://b/p' } } });
  });

  it('rejects a key that should be a table', () => {
    expect(() => configTable({ merge: 3 }, 'merge', '[merge]')).toThrow(/\[merge\] must be a table/);
    expect(configTable({}, 'merge', '[merge]')).toBeUndefined();
  });
});
