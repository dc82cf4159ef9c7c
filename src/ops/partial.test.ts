// Partial checkout's pieces: globs, the selection in real git config, the zero test, and clean's rule that a
// tensor which was never materialised keeps its previous entry (with real stores, hand-built manifests).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import {
  type ContentId,
  type Manifest,
  type ManifestTensor,
  type ObjectRefId,
  parseManifest,
  printManifest,
} from '../manifest/manifest.js';
import type { FileChange } from './diff.js';
import {
  compileTensorGlob,
  dropUnmaterialised,
  isAllZero,
  keepUnmaterialised,
  listPartialFiles,
  MAX_SELECTION_GLOBS,
  objectsOfSelection,
  readPartialSelection,
  selectionPredicate,
  tensorsToZeroFill,
  writePartialSelection,
  zeroContentId,
  zeroPieces,
} from './partial.js';
import { openRepo, type Repo } from './repo.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function gitRepo(): Promise<Repo> {
  const d = await mkdtemp(join(tmpdir(), 'weft-partial-'));
  dirs.push(d);
  execFileSync('git', ['init', '-q', d]);
  return openRepo({ cwd: d });
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const fakeOid = (n: number) => n.toString(16).padStart(64, 'a') as ObjectRefId;
const cid = (n: number) => n.toString(16).padStart(64, 'c') as ContentId;

function tensor(name: string, offsetBytes: number, sizeBytes: number, contentId: string, oid: string): ManifestTensor {
  return {
    name,
    dtype: 'F32',
    shape: [sizeBytes / 4],
    offsetBytes,
    sizeBytes,
    contentId: contentId as ContentId,
    encoding: { kind: 'dense', params: {}, refs: [{ id: oid as ObjectRefId }] },
  };
}

describe('tensor globs and selections', () => {
  it("match whole names: '*' spans dots, '?' one character, the rest is literal", () => {
    const re = compileTensorGlob('model.layers.?.*', '--include');
    expect(re.test('model.layers.0.mlp.weight')).toBe(true);
    expect(re.test('model.layers.10.mlp.weight')).toBe(false);
    expect(re.test('modelXlayers.0.w')).toBe(false); // '.' is literal
    expect(compileTensorGlob('a(b)+[c]', '--include').test('a(b)+[c]')).toBe(true);
    const selected = selectionPredicate({ include: ['layers.0.*', 'head.*'], exclude: ['*.bias'] });
    expect(['layers.0.w', 'layers.0.bias', 'head.w', 'layers.1.w'].map(selected)).toEqual([true, false, true, false]);
    expect(selectionPredicate({ include: [], exclude: ['head.*'] })('layers.3.w')).toBe(true);
  });

  it('refuses empty, huge or control-character patterns, and too many, naming the option', () => {
    expect(() => compileTensorGlob('', '--include')).toThrow(/--include: an empty pattern matches no tensor/);
    expect(() => compileTensorGlob('a'.repeat(5000), '--exclude')).toThrow(/--exclude: a pattern of 5000 characters/);
    expect(() => compileTensorGlob('a\nb', '--include')).toThrow(UsageError);
    const many = Array.from({ length: MAX_SELECTION_GLOBS + 1 }, (_, i) => `t${i}`);
    expect(() => selectionPredicate({ include: many, exclude: [] })).toThrow(/257 patterns, at most 256/);
  });

  it('is kept in the repository git config, multi-valued, and cleared', async () => {
    const repo = await gitRepo();
    const cwd = repo.topLevel;
    expect(await readPartialSelection({ cwd })).toBeUndefined();
    await writePartialSelection({ cwd, selection: { include: ['layers.0.*', 'a b*'], exclude: ['*.bias'] } });
    expect(await readPartialSelection({ cwd })).toEqual({ include: ['layers.0.*', 'a b*'], exclude: ['*.bias'] });
    await writePartialSelection({ cwd, selection: { include: ['head.*'], exclude: [] } });
    expect(await readPartialSelection({ cwd })).toEqual({ include: ['head.*'], exclude: [] });
    await writePartialSelection({ cwd, selection: undefined });
    expect(await readPartialSelection({ cwd })).toBeUndefined();
  });
});

describe('zeros', () => {
  it('tests, writes and hashes zero bytes at any alignment and size', () => {
    const buf = new Uint8Array(37);
    expect(isAllZero(buf.subarray(1))).toBe(true);
    buf[36] = 1;
    expect(isAllZero(buf.subarray(3))).toBe(false);
    expect(isAllZero(buf.subarray(0, 36))).toBe(true);
    const pieces = [...zeroPieces(2.5 * 1024 * 1024)];
    expect(pieces.map((p) => p.length)).toEqual([1048576, 1048576, 524288]);
    expect(pieces[0] === pieces[1]).toBe(false); // fresh buffers
    expect([...zeroPieces(0)]).toEqual([]);
    for (const n of [0, 4, 1048576 + 12]) expect(zeroContentId(n)).toBe(sha(new Uint8Array(n)));
  });
});

describe('clean and smudge hooks', () => {
  /** A previous version: `a` dense (absent), `b` a delta of parent P (absent), `c` dense (present). */
  async function fixture() {
    const repo = await gitRepo();
    const present = await repo.store.put(new Uint8Array(16).fill(7), { groupWidth: 4 });
    const parent = {
      contentId: cid(9),
      sizeBytes: 16,
      encoding: { kind: 'dense', params: {}, refs: [{ id: fakeOid(9) }] },
    };
    const b = tensor('b', 116, 16, cid(2), fakeOid(2));
    b.encoding = {
      kind: 'delta',
      params: { parent: parent.contentId, depth: '1', patch: 'xor' },
      refs: [{ id: fakeOid(2) }],
    };
    const previous: Manifest = {
      format: 'safetensors',
      sizeBytes: 148,
      frames: [{ sizeBytes: 100, refs: [{ id: fakeOid(100) }] }],
      tensors: [
        tensor('a', 100, 16, cid(1), fakeOid(1)),
        b,
        tensor('c', 132, 16, sha(new Uint8Array(16).fill(7)), present.id),
      ],
      parents: [parent],
    };
    // What clean makes of the partial file: a and b read as zeros (stored densely), c unchanged.
    const zero = zeroContentId(16);
    const cleaned: Manifest = {
      ...previous,
      tensors: [tensor('a', 100, 16, zero, fakeOid(50)), tensor('b', 116, 16, zero, fakeOid(50)), previous.tensors[2]!],
      parents: undefined as never,
    };
    delete cleaned.parents;
    return { repo, previous, cleaned, zero };
  }

  it('gives unselected, zero, absent tensors their previous entries and parent lines back', async () => {
    const { repo, previous, cleaned } = await fixture();
    const selected = selectionPredicate({ include: ['c'], exclude: [] });
    expect([...(await tensorsToZeroFill({ store: repo.store, manifest: previous, selected }))]).toEqual(['a', 'b']);
    const kept = await keepUnmaterialised({ store: repo.store, manifest: cleaned, previous, selected });
    // Byte for byte the previous manifest: git sees no change.
    expect(printManifest(kept!)).toBe(printManifest(previous));
    expect(parseManifest(printManifest(kept!))).toEqual(parseManifest(printManifest(previous)));
  });

  it('keeps zeros as a change when the tensor is selected, present, differently laid out, or not zero', async () => {
    const { repo, previous, cleaned, zero } = await fixture();
    const all = () => true;
    expect(await keepUnmaterialised({ store: repo.store, manifest: cleaned, previous, selected: all })).toBeUndefined();
    const onlyC = selectionPredicate({ include: ['c'], exclude: [] });
    // c's objects are present: zeros there are a real edit, even unselected.
    const zeroC: Manifest = {
      ...previous,
      tensors: [previous.tensors[0]!, previous.tensors[1]!, tensor('c', 132, 16, zero, fakeOid(50))],
    };
    expect(
      await keepUnmaterialised({ store: repo.store, manifest: zeroC, previous, selected: () => false }),
    ).toBeUndefined();
    const moved: Manifest = {
      ...cleaned,
      tensors: [{ ...cleaned.tensors[0]!, shape: [2, 2] }, previous.tensors[1]!, previous.tensors[2]!],
    };
    expect(await keepUnmaterialised({ store: repo.store, manifest: moved, previous, selected: onlyC })).toBeUndefined();
    const nonzero: Manifest = {
      ...cleaned,
      tensors: [tensor('a', 100, 16, cid(77), fakeOid(51)), previous.tensors[1]!, previous.tensors[2]!],
    };
    expect(
      await keepUnmaterialised({ store: repo.store, manifest: nonzero, previous, selected: onlyC }),
    ).toBeUndefined();
    // Only the one that was never materialised is given back.
    const mixed: Manifest = { ...nonzero, tensors: [nonzero.tensors[0]!, cleaned.tensors[1]!, previous.tensors[2]!] };
    const kept = await keepUnmaterialised({ store: repo.store, manifest: mixed, previous, selected: onlyC });
    expect(kept!.tensors.map((t) => t.contentId)).toEqual([cid(77), cid(2), previous.tensors[2]!.contentId]);
    expect(kept!.parents).toEqual(previous.parents);
  });

  it('fetches frames and the selected tensors with their parent chains', async () => {
    const { previous } = await fixture();
    expect(objectsOfSelection(previous, (n) => n === 'b').sort()).toEqual(
      [fakeOid(100), fakeOid(2), fakeOid(9)].sort(),
    );
  });

  it('status: finds the tensors a work-tree file leaves out, and drops them from the changes', async () => {
    const { repo, previous } = await fixture();
    const bytes = new Uint8Array(148);
    bytes.fill(1, 0, 100); // frame
    bytes.fill(7, 132, 148); // c
    bytes[120] = 5; // b is not zero: a real edit
    await writeFile(join(repo.topLevel, 'm.safetensors'), bytes);
    const files = [{ path: 'm.safetensors', blob: '0'.repeat(40), manifest: previous }];
    expect(await listPartialFiles({ repo, files })).toEqual([]); // no selection set
    await writePartialSelection({ cwd: repo.topLevel, selection: { include: ['c'], exclude: [] } });
    const partial = await listPartialFiles({ repo, files });
    expect(partial).toEqual([{ path: 'm.safetensors', tensors: 3, notMaterialised: ['a'] }]);
    const change = (names: string[]): FileChange => ({
      path: 'm.safetensors',
      change: 'modified',
      format: 'safetensors',
      sizeBytes: { before: 148, after: 148 },
      frameChanged: false,
      tensors: names.map((name) => ({ name, change: 'changed' as const })),
    });
    expect(dropUnmaterialised([change(['a'])], partial)).toEqual([]);
    expect(dropUnmaterialised([change(['a', 'b'])], partial)).toEqual([change(['b'])]);
  });
});
