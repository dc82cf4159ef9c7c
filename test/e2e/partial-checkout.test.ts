// Partial checkout with real git and a real file:// remote: `weft checkout --include` materialises only some
// tensors (the rest zeros, never fetched), git status stays clean, a commit of an edited selected tensor keeps
// the others' entries, and `weft checkout --all` gives back the whole model byte for byte.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, parseManifest, printEncoding } from '../../src/manifest/manifest.js';
import { objectsOfTensors } from '../../src/ops/fetch.js';
import { buildSafetensors, cleanupTemps, git, newRepo, sha256, sha256File, tempDir, weft } from './helpers.js';

afterAll(cleanupTemps);

/** Tensors of 1 MiB and more get objects of their own; the two biases share a pack. */
const TENSORS = [
  { name: 'layers.0.w', shape: [512, 520] },
  { name: 'layers.0.b', shape: [64] },
  { name: 'layers.1.w', shape: [512, 520] },
  { name: 'layers.1.b', shape: [64] },
  { name: 'head.w', shape: [256, 1040] },
];

/** Offsets of each tensor's data in a safetensors file (from its header). */
function extents(bytes: Uint8Array): Map<string, { start: number; end: number }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { data_offsets: [number, number] }
  >;
  const out = new Map<string, { start: number; end: number }>();
  for (const [name, v] of Object.entries(header)) {
    if (name !== '__metadata__') out.set(name, { start: 8 + n + v.data_offsets[0], end: 8 + n + v.data_offsets[1] });
  }
  return out;
}

function countObjects(repo: string): number {
  const root = join(repo, '.git', 'weft', 'objects');
  if (!existsSync(root)) return 0;
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/^[0-9a-f]{64}$/.test(e.name)) n++;
    }
  };
  walk(root);
  return n;
}

function objectPresent(repo: string, oid: string): boolean {
  return existsSync(join(repo, '.git', 'weft', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid));
}

function headManifest(repo: string): Manifest {
  return parseManifest(git(repo, ['show', 'HEAD:m.safetensors']).stdout, 'm.safetensors');
}

/** A clone whose checkout leaves manifests (WEFT_SKIP_SMUDGE=1): no model data at all. */
function skipSmudgeClone(remote: string): string {
  const dir = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', '--no-checkout', remote, dir]);
  git(dir, ['config', 'user.email', 'test@weft.invalid']);
  git(dir, ['config', 'user.name', 'Weft Test']);
  expect(weft(dir, 'init').code).toBe(0);
  const r = spawnSync('git', ['checkout', '-q', 'main'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, WEFT_SKIP_SMUDGE: '1' },
  });
  expect(r.status, r.stderr).toBe(0);
  return dir;
}

function isZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

describe('weft checkout --include (partial checkout)', () => {
  let origin: string;
  let remote: string;
  let original: Uint8Array;

  beforeAll(() => {
    origin = newRepo();
    original = buildSafetensors(TENSORS, (t, i) => Math.sin(t * 7 + i * 0.013) * 0.5);
    writeFileSync(join(origin, 'm.safetensors'), original);
    git(origin, ['add', '-A']);
    git(origin, ['commit', '-qm', 'model']);
    remote = join(tempDir(), 'remote.git');
    git(tempDir(), ['init', '-q', '--bare', remote]);
    git(origin, ['remote', 'add', 'origin', remote]);
    git(origin, ['push', '-q', 'origin', 'main']);
  });

  it('fetches and writes only the selected tensors, stays clean, and --all restores the whole model', () => {
    const clone = skipSmudgeClone(remote);
    expect(countObjects(clone)).toBe(0);
    expect(readFileSync(join(clone, 'm.safetensors'), 'utf8')).toMatch(/^weft 1 safetensors\n/);

    const r = weft(clone, 'checkout', '--include', 'layers.0.*', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.selection).toEqual({ include: ['layers.0.*'], exclude: [] });
    expect(out.files).toEqual([{ path: 'm.safetensors', tensors: 5, notMaterialised: 2, rewritten: true }]);
    expect(out.skipped).toEqual([]);
    expect(git(clone, ['config', '--get-all', 'weft.include']).stdout.trim()).toBe('layers.0.*');

    // Only the frame and layer 0's objects (the pack shared with layer 1's bias included) were downloaded.
    const manifest = headManifest(clone);
    const wanted = objectsOfTensors(manifest, ['layers.0.*']);
    expect(countObjects(clone)).toBe(wanted.length);
    expect(out.downloaded).toBe(wanted.length);

    const bytes = new Uint8Array(readFileSync(join(clone, 'm.safetensors')));
    expect(bytes.length).toBe(original.length);
    const ext = extents(original);
    const first = Math.min(...[...ext.values()].map((e) => e.start));
    expect(sha256(bytes.subarray(0, first))).toBe(sha256(original.subarray(0, first))); // header intact
    for (const [name, e] of ext) {
      const part = bytes.subarray(e.start, e.end);
      if (name === 'layers.1.w' || name === 'head.w') expect(isZero(part), name).toBe(true);
      else expect(sha256(part), name).toBe(sha256(original.subarray(e.start, e.end)));
    }

    expect(git(clone, ['status', '--porcelain']).stdout).toBe('');
    spawnSync('touch', [join(clone, 'm.safetensors')]);
    expect(git(clone, ['status', '--porcelain']).stdout).toBe('');
    const st = weft(clone, 'status', '--json');
    expect(st.code, st.stderr).toBe(0);
    const status = JSON.parse(st.stdout);
    expect(status.changes).toEqual([]);
    expect(status.partial).toEqual([{ path: 'm.safetensors', tensors: 5, notMaterialised: ['layers.1.w', 'head.w'] }]);
    expect(weft(clone, 'status').stdout).toMatch(/clean +m\.safetensors .*partial: 2 not materialised/);

    // Applying the same selection again downloads and rewrites nothing.
    const again = JSON.parse(weft(clone, 'checkout', '--include', 'layers.0.*', '--json').stdout);
    expect([again.downloaded, again.files[0].rewritten]).toEqual([0, false]);

    // A plain `weft fetch` honours the selection (nothing new to fetch), as git-lfs applies lfs.fetchinclude.
    const selected = weft(clone, 'fetch', '--json');
    expect(selected.code, selected.stderr).toBe(0);
    expect(JSON.parse(selected.stdout).downloaded).toBe(0);
    // The rest arriving by `weft fetch --include '*'` does not make the partial file look like a local change.
    const rest = weft(clone, 'fetch', '--include', '*', '--json');
    expect(rest.code, rest.stderr).toBe(0);
    expect(JSON.parse(rest.stdout).downloaded).toBeGreaterThan(0);
    const all = weft(clone, 'checkout', '--all');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/selection: every tensor/);
    expect(all.stdout).toMatch(/full {5}m\.safetensors: 5 tensors/);
    expect(sha256File(join(clone, 'm.safetensors'))).toBe(sha256(original));
    expect(git(clone, ['config', '--get-all', 'weft.include'], { allowFail: true }).stdout).toBe('');
    expect(git(clone, ['status', '--porcelain']).stdout).toBe('');
    expect(JSON.parse(weft(clone, 'status', '--json').stdout).partial).toEqual([]);
  });

  it('commits an edit of a selected tensor without the others, and a full clone sees the whole model', () => {
    const clone = skipSmudgeClone(remote);
    expect(weft(clone, 'checkout', '--include', 'layers.0.*').code).toBe(0);
    const before = headManifest(clone);
    const ext = extents(original);
    // Edit the first values of layers.0.w in place.
    const w = ext.get('layers.0.w')!;
    const edit = new Uint8Array(64).fill(0x3f);
    const fd = openSync(join(clone, 'm.safetensors'), 'r+');
    writeSync(fd, edit, 0, edit.length, w.start);
    closeSync(fd);
    expect(git(clone, ['status', '--porcelain']).stdout).toBe(' M m.safetensors\n');
    git(clone, ['commit', '-qam', 'tune layer 0']);
    expect(git(clone, ['status', '--porcelain']).stdout).toBe('');

    const after = headManifest(clone);
    for (const t of before.tensors) {
      const u = after.tensors.find((x) => x.name === t.name)!;
      if (t.name === 'layers.0.w') expect(u.contentId).not.toBe(t.contentId);
      else {
        expect(u.contentId, t.name).toBe(t.contentId);
        expect(printEncoding(u.encoding), t.name).toBe(printEncoding(t.encoding));
      }
    }
    // The unselected tensors were never downloaded, not even to commit.
    for (const name of ['layers.1.w', 'head.w']) {
      const t = before.tensors.find((x) => x.name === name)!;
      for (const oid of objectsOfTensors({ ...before, frames: [], tensors: [t] }, ['*'])) {
        expect(objectPresent(clone, oid), name).toBe(false);
      }
    }

    const push = spawnSync('git', ['push', '-q', 'origin', 'main'], { cwd: clone, encoding: 'utf8' });
    expect(push.status, push.stderr).toBe(0);

    const expected = Uint8Array.from(original);
    expected.set(edit, w.start);
    const full = join(tempDir(), 'full');
    git(tempDir(), ['clone', '-q', '--no-checkout', remote, full]);
    expect(weft(full, 'init').code).toBe(0);
    const co = spawnSync('git', ['checkout', '-q', 'main'], { cwd: full, encoding: 'utf8' });
    expect(co.status, co.stderr).toBe(0);
    expect(sha256File(join(full, 'm.safetensors'))).toBe(sha256(expected));

    const all = weft(clone, 'checkout', '--all', '--json');
    expect(all.code, all.stderr).toBe(0);
    const allOut = JSON.parse(all.stdout);
    expect(allOut.files).toEqual([{ path: 'm.safetensors', tensors: 5, notMaterialised: 0, rewritten: true }]);
    expect(allOut.downloaded).toBeGreaterThanOrEqual(2); // layers.1.w and head.w, fetched only now
    expect(sha256File(join(clone, 'm.safetensors'))).toBe(sha256(expected));
    expect(git(clone, ['status', '--porcelain']).stdout).toBe('');
  });

  it('keeps a file with local changes, and refuses bad patterns and empty repositories with clear errors', () => {
    const clone = skipSmudgeClone(remote);
    expect(weft(clone, 'checkout', '--include', 'layers.0.*').code).toBe(0);

    const none = weft(clone, 'checkout', '--include', 'nope.*');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--include "nope\.\*" matches no tensor in the 1 tracked file\(s\) \(m\.safetensors\)/);
    expect(git(clone, ['config', '--get-all', 'weft.include']).stdout.trim()).toBe('layers.0.*'); // unchanged

    const empty = weft(clone, 'checkout', '--include', '');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/--include: an empty pattern matches no tensor/);
    const both = weft(clone, 'checkout', '--all', '--exclude', 'head.*');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/cannot be combined/);

    // A local edit is never overwritten.
    const path = join(clone, 'm.safetensors');
    const fd = openSync(path, 'r+');
    writeSync(fd, new Uint8Array(8).fill(0x41), 0, 8, extents(original).get('layers.0.b')!.start);
    closeSync(fd);
    const edited = sha256File(path);
    const r = weft(clone, 'checkout', '--all');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/skipped {2}m\.safetensors: local changes/);
    expect(sha256File(path)).toBe(edited);

    const bare = newRepo();
    const nothing = weft(bare, 'checkout', '--include', 'x.*');
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/no tracked model files in the index/);
  });
});
