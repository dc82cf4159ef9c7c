// The CLI as users and scripts see it: --help everywhere, exit codes, one-line errors, inspect on real files
// (PyTorch's hashes) and on a sharded folder, init idempotence and --global.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildSafetensors,
  CLI,
  cleanupTemps,
  DIGITS,
  FIXTURES,
  git,
  newRepo,
  sha256,
  tempDir,
  weft,
} from './helpers.js';

afterAll(cleanupTemps);

const COMMANDS = ['init', 'track', 'untrack', 'status', 'log', 'diff', 'inspect', 'du', 'fsck', 'gc'];

describe('cli', () => {
  it('lists its commands and has --help on each', () => {
    const top = weft(tempDir(), '--help');
    expect(top.code).toBe(0);
    for (const c of COMMANDS) expect(top.stdout).toContain(`  ${c}`);
    for (const c of [...COMMANDS, 'filter-process', 'merge-driver', 'show-manifest', 'pre-push']) {
      const r = weft(tempDir(), c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: weft ${c}`));
    }
    expect(weft(tempDir(), '--version').stdout).toMatch(/^weft \d+\.\d+\.\d+/);
  });

  it('answers bad usage with exit 2 and one line', () => {
    for (const args of [['frobnicate'], ['inspect'], ['inspect', '--bogus', 'x'], ['gc', '--grace', 'soon']]) {
      const r = weft(tempDir(), ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^weft: /);
    }
    const outside = weft(tempDir(), 'status');
    expect(outside.code).toBe(2);
    expect(outside.stderr).toMatch(/not a git repository|not inside/i);
  });

  it('inspects real files with the hashes PyTorch computed', () => {
    const expected = JSON.parse(readFileSync(join(DIGITS, 'expected.json'), 'utf8')).files;
    for (const name of ['base.safetensors', 'ft_low.bf16.safetensors', 'lora_low/adapter_model.safetensors']) {
      const r = weft(DIGITS, 'inspect', name, '--json', '--hash');
      expect(r.code, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout);
      expect(got.format).toBe('safetensors');
      for (const [tensor, want] of Object.entries(
        expected[name].tensors as Record<string, { sha256: string; dtype: string; shape: number[] }>,
      )) {
        const t = got.tensors.find((x: { name: string }) => x.name === tensor);
        expect(t, tensor).toMatchObject({ dtype: want.dtype, shape: want.shape, sha256: want.sha256 });
      }
    }
    const table = weft(DIGITS, 'inspect', 'base.safetensors');
    expect(table.stdout).toContain('fc1.weight');
    expect(table.stdout).toMatch(/fc1\.weight\s+F32\s+\[128, 64\]\s+32\.0 KiB/);
  });

  it('gives exit 2 and one line naming the file for every hostile safetensors file', () => {
    for (const name of readdirSync(join(FIXTURES, 'corrupt')).filter((n) => n.endsWith('.safetensors'))) {
      const r = weft(join(FIXTURES, 'corrupt'), 'inspect', name);
      if (name === 'good.safetensors') {
        expect(r.code).toBe(0);
        continue;
      }
      expect(r.code, name).toBe(2);
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toContain(name);
    }
  });

  it('inspects a sharded folder as one model', () => {
    const dir = tempDir();
    const a = buildSafetensors([{ name: 'a.weight', shape: [2, 3] }], (_, i) => i);
    const b = buildSafetensors([{ name: 'b.weight', shape: [4] }], (_, i) => -i);
    writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), a);
    writeFileSync(join(dir, 'model-00002-of-00002.safetensors'), b);
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({
        metadata: { total_size: 40 },
        weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' },
      }),
    );
    const r = weft(dir, 'inspect', '.', '--json', '--hash');
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout);
    expect(got.tensors.map((t: { name: string; file: string }) => [t.name, t.file])).toEqual([
      ['a.weight', 'model-00001-of-00002.safetensors'],
      ['b.weight', 'model-00002-of-00002.safetensors'],
    ]);
    expect(got.totalBytes).toBe(40);
    const f32 = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);
    expect(got.tensors[0].sha256).toBe(sha256(f32));
  });

  it('init is idempotent, chains an existing pre-push hook, and --global writes the user config', () => {
    const repo = newRepo();
    const again = weft(repo, 'init', '--json');
    expect(JSON.parse(again.stdout).changedKeys).toEqual([]);
    expect(git(repo, ['config', 'filter.weft.required']).stdout.trim()).toBe('true');
    expect(git(repo, ['config', 'filter.weft.process']).stdout).toContain('filter-process');
    const home = tempDir();
    const globalConfig = join(home, 'gitconfig');
    writeFileSync(globalConfig, '');
    // a private global config file, never the user's
    const g = spawnSync(process.execPath, [CLI, 'init', '--global'], {
      cwd: home,
      env: { ...process.env, GIT_CONFIG_GLOBAL: globalConfig },
      encoding: 'utf8',
    });
    expect(g.status, g.stderr).toBe(0);
    expect(readFileSync(globalConfig, 'utf8')).toContain('[filter "weft"]');
  });

  it('track keeps other attributes and untrack removes only Weft’s', () => {
    const repo = newRepo();
    writeFileSync(join(repo, '.gitattributes'), '*.bin eol=lf\n*.txt text\n');
    expect(weft(repo, 'track', '*.bin').code).toBe(0);
    expect(readFileSync(join(repo, '.gitattributes'), 'utf8')).toBe(
      '*.bin eol=lf filter=weft diff=weft merge=weft -text\n*.txt text\n',
    );
    expect(JSON.parse(weft(repo, 'track', '--json').stdout).tracked).toEqual(['*.bin']);
    expect(weft(repo, 'untrack', '*.bin').code).toBe(0);
    expect(readFileSync(join(repo, '.gitattributes'), 'utf8')).toBe('*.bin eol=lf\n*.txt text\n');
  });

  it('git diff shows a readable table of tensors (textconv)', () => {
    const repo = newRepo();
    writeFileSync(join(repo, 'm.safetensors'), readFileSync(join(DIGITS, 'base.safetensors')));
    git(repo, ['add', '.']);
    git(repo, ['commit', '-qm', 'base']);
    writeFileSync(join(repo, 'm.safetensors'), readFileSync(join(DIGITS, 'lora_low_merged.safetensors')));
    git(repo, ['add', '.']);
    const d = git(repo, ['diff', '--cached']).stdout;
    expect(d).toMatch(/^-fc1\.weight\s+F32/m);
    expect(d).toMatch(/^\+fc1\.weight\s+F32/m);
    expect(d).not.toMatch(/^[-+]fc3\.weight/m);
  });
});
