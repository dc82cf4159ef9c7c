// README.md is exercised: its command reference matches the CLI's command table, its tutorial block runs in a
// temp folder with real git and the built CLI, and its configuration examples pass Weft's own validators.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { parse } from 'smol-toml';
import { afterAll, describe, expect, it } from 'vitest';
import { REFERENCE_END, REFERENCE_START, renderCommandReference } from '../src/cli/reference.js';
import { parseGateConfig } from '../src/eval/gate-config.js';
import { parseMergePolicy } from '../src/merge/policy.js';
import { CLI, cleanupTemps, DIGITS, ROOT, tempDir } from './e2e/helpers.js';

afterAll(cleanupTemps);

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Table rows with their padding removed (the formatter aligns columns). */
function normalise(block: string): string[] {
  return block
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .split(/(?<!\\)\|/)
        .map((c) => c.trim())
        .join('|'),
    )
    .map((l) => l.replace(/^\|-+\|-+\|$/, '|---|---|').replace(/^\|---\|---\|$/, '|---|---|'));
}

describe('README.md', () => {
  it('lists exactly the commands of the CLI table (npm run docs regenerates it)', () => {
    const a = README.indexOf(REFERENCE_START);
    const b = README.indexOf(REFERENCE_END);
    expect(a).toBeGreaterThan(0);
    expect(normalise(README.slice(a, b))).toEqual(normalise(renderCommandReference()));
  });

  it('runs the tutorial block end to end', () => {
    const m = /<!-- doctest -->\n```sh\n([\s\S]*?)```/.exec(README);
    expect(m).not.toBeNull();
    const dir = tempDir('weft-readme-');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'weft'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'weft'), 0o755);
    const models = join(dir, 'models');
    mkdirSync(models);
    for (const f of ['base.safetensors', 'ft_high.safetensors']) cpSync(join(DIGITS, f), join(models, f));
    cpSync(join(DIGITS, 'lora_low'), join(models, 'lora_low'), { recursive: true });
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', m![1]!], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        MODELS: models,
        GIT_AUTHOR_NAME: 'Readme',
        GIT_AUTHOR_EMAIL: 'readme@weft.invalid',
        GIT_COMMITTER_NAME: 'Readme',
        GIT_COMMITTER_EMAIL: 'readme@weft.invalid',
        GIT_CONFIG_GLOBAL: '/dev/null',
      },
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/low-rank r=4/); // A's commit, as weft log shows it
  });

  it('shows configuration that Weft accepts', () => {
    const blocks = [...README.matchAll(/```toml\n([\s\S]*?)```/g)].map((x) => x[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const text of blocks) {
      const doc = parse(text) as Record<string, unknown>;
      if (doc.merge || doc.modules) expect(() => parseMergePolicy(doc)).not.toThrow();
      if (doc.gate) expect(() => parseGateConfig(doc)).not.toThrow();
    }
  });
});
