// `weft repack` end to end with real git: a 10-version chain of sparse updates (max_chain 64) is bounded to 3 links
// by local keyframes, every version still checks out exactly, manifests in git do not change, fsck and gc keep the
// keyframes, and repacking to 64 drops them so gc reclaims their bytes.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTemps, DIGITS, git, newRepo, sha256File, tempDir, weft } from './helpers.js';

afterAll(cleanupTemps);

interface RepackJson {
  maxChain: number;
  added: number;
  removed: number;
  kept: number;
  bytesAdded: number;
  maxDepthBefore: number;
  maxDepthAfter: number;
  skipped: unknown[];
}

function repack(repo: string, ...args: string[]): RepackJson {
  const r = weft(repo, 'repack', '--json', ...args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as RepackJson;
}

function storedBytes(repo: string): number {
  const r = weft(repo, 'du', '--json');
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { storedBytes: number }).storedBytes;
}

/** Object ids named by the keyframe overrides in `.git/weft/repack/index/`. */
function keyframeObjects(repo: string): string[] {
  const index = join(repo, '.git', 'weft', 'repack', 'index');
  if (!existsSync(index)) return [];
  const ids: string[] = [];
  for (const aa of readdirSync(index))
    for (const name of readdirSync(join(index, aa))) {
      const body = readFileSync(join(index, aa, name), 'utf8').split('\n')[1] ?? '';
      expect(body).toMatch(/^dense [0-9a-f]{64}/);
      ids.push(...[...body.matchAll(/[0-9a-f]{64}/g)].map((m) => m[0]));
    }
  return ids;
}

const objectPath = (repo: string, id: string) =>
  join(repo, '.git', 'weft', 'objects', id.slice(0, 2), id.slice(2, 4), id);

describe('weft repack', () => {
  it('bounds a long chain to K links with local keyframes, and K = 64 gives the bytes back', () => {
    const repo = newRepo();
    mkdirSync(join(repo, '.weft'), { recursive: true });
    writeFileSync(join(repo, '.weft', 'config.toml'), '[encoding]\nmax_chain = 64\n');
    git(repo, ['add', '.weft']);
    const bytes = Buffer.from(readFileSync(join(DIGITS, 'base.safetensors')));
    const versions: { commit: string; file: string }[] = [];
    const dir = tempDir();
    for (let v = 0; v < 10; v++) {
      if (v > 0) for (let i = 0; i < 40; i++) bytes[bytes.length - 1 - ((v * 997 + i * 131) % 30000)]! ^= 1;
      const file = join(dir, `v${v}.safetensors`);
      writeFileSync(file, bytes);
      copyFileSync(file, join(repo, 'model.safetensors'));
      // One git command per version (add + commit would clean the just-written file twice: racy git).
      if (v === 0) git(repo, ['add', 'model.safetensors']);
      git(repo, ['commit', '-qm', `v${v}`, ...(v === 0 ? [] : ['--', 'model.safetensors'])]);
      versions.push({ commit: git(repo, ['rev-parse', 'HEAD']).stdout.trim(), file });
    }
    expect(git(repo, ['show', 'HEAD:model.safetensors']).stdout).toMatch(/ depth=9 /);
    const manifestBlob = git(repo, ['rev-parse', 'HEAD:model.safetensors']).stdout;
    const before = storedBytes(repo);

    const dry = repack(repo, '--max-chain', '3', '--dry-run');
    expect(dry.maxDepthBefore).toBe(9);
    expect(dry.added).toBeGreaterThan(0);
    expect(keyframeObjects(repo)).toEqual([]); // a dry run writes nothing

    const r = repack(repo, '--max-chain', '3');
    expect(r).toMatchObject({ maxChain: 3, added: dry.added, removed: 0, kept: 0, maxDepthBefore: 9, skipped: [] });
    expect(r.maxDepthAfter).toBeLessThanOrEqual(3);
    expect(r.bytesAdded).toBeGreaterThan(0);
    // Measured again: no local decode follows more than 3 links; a second run is a no-op.
    const again = repack(repo, '--max-chain', '3');
    expect(again).toMatchObject({ added: 0, removed: 0, kept: r.added, bytesAdded: 0 });
    expect(again.maxDepthBefore).toBeLessThanOrEqual(3);

    // Manifests in git are untouched; every version checks out byte for byte.
    expect(git(repo, ['rev-parse', 'HEAD:model.safetensors']).stdout).toBe(manifestBlob);
    for (const v of versions) {
      git(repo, ['checkout', '-q', v.commit, '--', 'model.safetensors']);
      expect(sha256File(join(repo, 'model.safetensors'))).toBe(sha256File(v.file));
    }
    git(repo, ['checkout', '-q', 'HEAD', '--', 'model.safetensors']);
    expect(git(repo, ['status', '--porcelain']).stdout).toBe('');

    // fsck checks the keyframes; gc keeps their objects.
    const fsck = weft(repo, 'fsck');
    expect(fsck.code, fsck.stderr).toBe(0);
    const ids = keyframeObjects(repo);
    expect(ids.length).toBeGreaterThan(0);
    const gc = weft(repo, 'gc', '--grace', '0', '--json');
    expect(gc.code, gc.stderr).toBe(0);
    expect(JSON.parse(gc.stdout)).toMatchObject({ deleted: 0 });
    for (const id of ids) expect(existsSync(objectPath(repo, id))).toBe(true);

    // A larger K drops the keyframes; gc then reclaims their bytes.
    const wide = repack(repo, '--max-chain', '64');
    expect(wide).toMatchObject({ added: 0, removed: r.added, kept: 0, maxDepthAfter: 9 });
    expect(keyframeObjects(repo)).toEqual([]);
    const reclaimed = weft(repo, 'gc', '--grace', '0', '--json');
    expect(reclaimed.code, reclaimed.stderr).toBe(0);
    expect((JSON.parse(reclaimed.stdout) as { deletedBytes: number }).deletedBytes).toBeGreaterThanOrEqual(
      r.bytesAdded,
    );
    for (const id of ids) expect(existsSync(objectPath(repo, id))).toBe(false);
    expect(storedBytes(repo)).toBe(before);
    expect(repack(repo, '--max-chain', '64')).toMatchObject({ added: 0, removed: 0, kept: 0 });
    expect(weft(repo, 'fsck').code).toBe(0);
  });

  it('takes K from max_chain, refuses a bad K naming it, and documents itself', () => {
    const repo = newRepo();
    for (const bad of ['0', '65', 'three', '2.5']) {
      const r = weft(repo, 'repack', '--max-chain', bad);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--max-chain "${bad}": must be a whole number of parent links from 1 to 64`);
    }
    const help = weft(repo, 'repack', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--max-chain/);
    expect(repack(repo)).toMatchObject({ maxChain: 8, added: 0, removed: 0, maxDepthBefore: 0 });
  });
});
