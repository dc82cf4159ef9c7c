// `weft log --module` and `weft diff --module` with real git: history and diffs scoped to the tensors of one
// module from `.weft/config.toml`; an unknown module is a usage error naming the known ones.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSafetensors, cleanupTemps, git, newRepo, weft } from './helpers.js';

afterAll(cleanupTemps);

const TENSORS = [
  { name: 'vision.proj.weight', shape: [4, 4] },
  { name: 'vision.proj.bias', shape: [4] },
  { name: 'text.embed.weight', shape: [8, 4] },
];

describe('weft log/diff --module', () => {
  it('scopes history and diffs to a module’s tensors', () => {
    const dir = newRepo();
    mkdirSync(join(dir, '.weft'), { recursive: true });
    writeFileSync(
      join(dir, '.weft', 'config.toml'),
      '[modules.vision]\nmatch = ["vision.*"]\n\n[modules.text]\nmatch = ["text.*"]\n',
    );
    const model = join(dir, 'model.safetensors');
    writeFileSync(
      model,
      buildSafetensors(TENSORS, (t, i) => t * 10 + i),
    );
    git(dir, ['add', '.']);
    git(dir, ['commit', '-qm', 'initial model']);
    // Changes only the text tensor.
    writeFileSync(
      model,
      buildSafetensors(TENSORS, (t, i) => (t === 2 ? 100 + i : t * 10 + i)),
    );
    git(dir, ['commit', '-qam', 'tune text']);
    // Changes only the vision weight.
    writeFileSync(
      model,
      buildSafetensors(TENSORS, (t, i) => (t === 0 ? -i : t === 2 ? 100 + i : t * 10 + i)),
    );
    git(dir, ['commit', '-qam', 'tune vision']);

    const all = JSON.parse(weft(dir, 'log', '--json').stdout) as { commits: { subject: string }[] };
    expect(all.commits.map((c) => c.subject)).toEqual(['tune vision', 'tune text', 'initial model']);

    const vision = weft(dir, 'log', '--module', 'vision', '--json');
    expect(vision.code, vision.stderr).toBe(0);
    const v = JSON.parse(vision.stdout) as {
      commits: { subject: string; files: { tensors: { name: string }[] }[] }[];
    };
    expect(v.commits.map((c) => c.subject)).toEqual(['tune vision', 'initial model']);
    expect(v.commits[1]!.files[0]!.tensors.map((t) => t.name).sort()).toEqual([
      'vision.proj.bias',
      'vision.proj.weight',
    ]);
    const text = weft(dir, 'log', '--module', 'text');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('tune text');
    expect(text.stdout).not.toContain('tune vision');
    expect(text.stdout).not.toContain('vision.proj');

    const d = weft(dir, 'diff', 'HEAD~2', 'HEAD', '--module', 'vision', '--stat', '--json');
    expect(d.code, d.stderr).toBe(0);
    const files = (JSON.parse(d.stdout) as { files: { tensors: { name: string; stats?: unknown }[] }[] }).files;
    expect(files).toHaveLength(1);
    expect(files[0]!.tensors.map((t) => t.name)).toEqual(['vision.proj.weight']);
    expect(files[0]!.tensors[0]!.stats).toBeDefined();
    // Nothing of the vision module changed in the text commit: an empty diff, exit 0 with --exit-code.
    const none = weft(dir, 'diff', 'HEAD~2', 'HEAD~1', '--module', 'vision', '--exit-code');
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toBe('');
    const some = weft(dir, 'diff', 'HEAD~2', 'HEAD~1', '--module', 'text', '--exit-code');
    expect(some.code).toBe(1);
    expect(some.stdout).toContain('text.embed.weight');

    const bad = weft(dir, 'log', '--module', 'audio');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('audio');
    expect(bad.stderr).toContain('known modules: vision, text');
    const badDiff = weft(dir, 'diff', '--module', 'audio');
    expect(badDiff.code).not.toBe(0);
    expect(badDiff.stderr).toContain('known modules: vision, text');
  });
});
