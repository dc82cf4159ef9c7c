// The filter process driven by real git: `git add` cleans through it, `git checkout` smudges through it.

import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { git, gitBytes, makeTempDir, makeTempRepo } from './test-support/temp-repo.js';
import { transpileGitLayer } from './test-support/transpile.js';

let filterCommand: string;

beforeAll(async () => {
  const out = await transpileGitLayer(await makeTempDir('weft-git-js-'));
  filterCommand = `'${process.execPath}' '${path.join(out, 'git', 'test-support', 'reverse-filter.js')}'`;
}, 60_000);

async function repoWithFilter(): Promise<{ repo: string; env: Record<string, string>; log: string }> {
  const repo = await makeTempRepo();
  const log = path.join(path.dirname(repo), 'filter.log');
  git(repo, ['config', 'filter.rev.process', filterCommand]);
  git(repo, ['config', 'filter.rev.required', 'true']);
  await writeFile(path.join(repo, '.gitattributes'), '*.bin filter=rev\n');
  return { repo, log, env: { WEFT_TEST_FILTER_LOG: log } };
}

describe('serveFilterProcess with real git', () => {
  it('cleans on add and smudges on checkout, byte-exact, in one process', async () => {
    const { repo, env, log } = await repoWithFilter();
    const files = new Map(
      [0, 1, 65516, 65517, 5 * 1024 * 1024].map((size) => [`size-${size}.bin`, randomBytes(size)] as const),
    );
    for (const [name, bytes] of files) await writeFile(path.join(repo, name), bytes);
    git(repo, ['add', '.'], env);

    for (const [name, bytes] of files) {
      const stored = gitBytes(repo, ['cat-file', 'blob', `:${name}`]);
      expect(stored.equals(Buffer.from(bytes).reverse()), name).toBe(true);
    }
    const started = (await readFile(log, 'utf8')).split('\n').filter((line) => line.startsWith('start'));
    expect(started).toHaveLength(1);

    git(repo, ['commit', '-q', '-m', 'v1'], env);
    for (const name of files.keys()) await rm(path.join(repo, name));
    git(repo, ['checkout', '--', '.'], env);
    for (const [name, bytes] of files) {
      expect((await readFile(path.join(repo, name))).equals(bytes), name).toBe(true);
    }
    expect(git(repo, ['status', '--porcelain'], env)).toBe('');
    const smudged = (await readFile(log, 'utf8')).split('\n').filter((line) => line.startsWith('smudge'));
    expect(smudged.sort()).toEqual([...files.keys()].map((name) => `smudge ${name}`).sort());
  });

  it('makes git add fail with the handler message on stderr when clean fails', async () => {
    const { repo, env } = await repoWithFilter();
    await writeFile(path.join(repo, 'ok.bin'), 'fine');
    await writeFile(path.join(repo, 'fail.bin'), 'doomed');
    let stderr = '';
    try {
      git(repo, ['add', 'ok.bin', 'fail.bin'], env);
    } catch (error) {
      stderr = String((error as { stderr: unknown }).stderr);
    }
    expect(stderr).toContain('weft: fail.bin: refusing to clean');
    expect(stderr).toMatch(/fail\.bin/);
    expect(git(repo, ['ls-files', '--stage'])).not.toContain('fail.bin');
  });
});
