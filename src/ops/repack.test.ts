// Keyframe planning (effective chain depths under K), decoding through keyframe overrides, and repackRepo on a
// real git repository whose commits hold hand-built manifests of a 10-version delta chain (no filter needed).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDelta } from '../encode/update-encoding.js';
import { UsageError } from '../errors.js';
import {
  type ContentId,
  type Manifest,
  type ManifestParent,
  printEncoding,
  printManifest,
  printRefs,
  type TensorEncoding,
} from '../manifest/manifest.js';
import type { ObjectId } from '../store/object-codec.js';
import { fsckRepo, gcRepo } from './maintenance.js';
import { effectiveDepths, planKeyframes, repackRepo } from './repack.js';
import { openRepo, type Repo } from './repo.js';
import { rebuildFromManifest } from './smudge.js';
import { decodeTensorBytes, keyframeOf, parentLookupOf } from './tensor-decode.js';

const cid = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex') as ContentId;

describe('planKeyframes', () => {
  /** v0 dense, v1…v<n-1> each encoded against the one before. */
  const chain = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`v${i}`, [i === 0 ? null : `v${i - 1}`]]));

  it('puts a keyframe wherever a chain would pass K, resetting the depth of its descendants', () => {
    const plan = planKeyframes({ graph: chain(10), overrides: new Set(), maxChain: 3 });
    expect(plan.keyframes).toEqual(['v4', 'v8']);
    expect(plan.maxDepthBefore).toBe(9);
    expect(plan.maxDepthAfter).toBe(3);
    expect(planKeyframes({ graph: chain(10), overrides: new Set(['v4', 'v8']), maxChain: 3 }).maxDepthBefore).toBe(3);
    expect(planKeyframes({ graph: chain(10), overrides: new Set(), maxChain: 9 }).keyframes).toEqual([]);
    expect(planKeyframes({ graph: chain(10), overrides: new Set(), maxChain: 1 }).keyframes).toEqual([
      'v2',
      'v4',
      'v6',
      'v8',
    ]);
  });

  it('counts the deepest of a version’s encodings, branches, a missing parent and a cycle', () => {
    const graph = new Map<string, (string | null)[]>([
      ['a', [null]],
      ['b', ['a']],
      ['c', ['b']],
      ['x', [null, 'c']], // dense in one manifest, a delta of c in another: a decode may follow either
      ['d', ['x']],
      ['e', ['b']], // a branch off b
      ['orphan', ['nowhere']],
      ['p', ['q']],
      ['q', ['p']],
    ]);
    const depths = effectiveDepths({ graph, keyframes: new Set() });
    expect(Object.fromEntries(['a', 'b', 'c', 'x', 'd', 'e', 'orphan'].map((k) => [k, depths.get(k)]))).toEqual({
      a: 0,
      b: 1,
      c: 2,
      x: 3,
      d: 4,
      e: 2,
      orphan: 1,
    });
    expect(depths.get('p')).toBeGreaterThan(64);
    const plan = planKeyframes({ graph, overrides: new Set(), maxChain: 2 });
    expect(plan.keyframes).toContain('x');
    expect(plan.keyframes).not.toContain('e');
    expect(plan.keyframes.filter((k) => k === 'p' || k === 'q')).toHaveLength(1);
    expect(plan.maxDepthAfter).toBe(2);
  });
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-repack-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const ELEMENTS = 96;
/** Version v of the tensor: a few elements change per version. */
function version(v: number): Uint8Array {
  const f = new Float32Array(ELEMENTS);
  for (let i = 0; i < ELEMENTS; i++) f[i] = Math.sin(i) + (i % 10 < v ? 0.5 * v : 0);
  return new Uint8Array(f.buffer);
}

async function dense(repo: Repo, bytes: Uint8Array): Promise<TensorEncoding> {
  const r = await repo.store.put(bytes, { groupWidth: 4 });
  return { kind: 'dense', params: {}, refs: [{ id: r.id }] };
}

async function delta(repo: Repo, parent: Uint8Array, target: Uint8Array, depth: number): Promise<TensorEncoding> {
  const u = encodeDelta({ parent, target, dtype: 'F32' });
  const params: Record<string, string> = { parent: cid(parent), depth: String(depth), ...u.params };
  const enc: TensorEncoding = { kind: u.kind, params, refs: [] };
  for (const p of u.parts) {
    const r = await repo.store.put(p.bytes, { groupWidth: p.width });
    if (p.key === 'refs') enc.refs = [{ id: r.id }];
    else params[p.key] = printRefs([{ id: r.id }]);
  }
  return enc;
}

/** A repository with one commit per version of a 10-version chain (max_chain 64 style: v9 is 9 links deep). */
async function chainRepo(name: string, versions = 10): Promise<{ repo: Repo; manifests: Manifest[] }> {
  const work = join(dir, name);
  spawnSync('mkdir', ['-p', work]);
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'config', 'user.email', 't@weft.invalid');
  git(work, 'config', 'user.name', 'T');
  const repo = await openRepo({ cwd: work });
  const parents: ManifestParent[] = [];
  const manifests: Manifest[] = [];
  for (let v = 0; v < versions; v++) {
    const bytes = version(v);
    const encoding = v === 0 ? await dense(repo, bytes) : await delta(repo, version(v - 1), bytes, v);
    const tensor = {
      name: 'w',
      dtype: 'F32' as const,
      shape: [ELEMENTS],
      offsetBytes: 0,
      sizeBytes: bytes.length,
      contentId: cid(bytes),
      encoding,
    };
    const manifest: Manifest = { format: 'safetensors', sizeBytes: bytes.length, frames: [], tensors: [tensor] };
    if (parents.length > 0) manifest.parents = [...parents].reverse();
    manifests.push(manifest);
    parents.push({ contentId: tensor.contentId, sizeBytes: bytes.length, encoding });
    await writeFile(join(work, 'model.weft'), printManifest(manifest));
    git(work, 'add', 'model.weft');
    git(work, 'commit', '-qm', `v${v}`);
  }
  return { repo, manifests };
}

/** Decodes every version with the repo's overrides; returns the most parent links any decode followed. */
async function deepestDecode(repo: Repo, manifests: Manifest[]): Promise<number> {
  let deepest = 0;
  for (const [v, m] of manifests.entries()) {
    const t = m.tensors[0]!;
    const lookup = parentLookupOf(m);
    let links = 0;
    const bytes = await decodeTensorBytes({
      store: repo.store,
      encoding: t.encoding,
      sizeBytes: t.sizeBytes,
      dtype: t.dtype,
      parents: (id) => {
        links++;
        return lookup(id);
      },
      contentId: t.contentId,
      keyframes: repo.keyframes,
      what: `v${v}`,
    });
    expect(cid(bytes)).toBe(t.contentId);
    deepest = Math.max(deepest, links);
  }
  return deepest;
}

describe('repackRepo', () => {
  it('bounds every decode to K links, is idempotent, and K = 64 drops the keyframes for gc', async () => {
    const { repo, manifests } = await chainRepo('bounds');
    expect(await deepestDecode(repo, manifests)).toBe(9);
    const stages: string[] = [];
    const r = await repackRepo({ repo, maxChain: 3, onProgress: (p) => stages.push(p.phase) });
    expect(r).toMatchObject({ manifests: 10, versions: 10, added: 2, removed: 0, kept: 0, skipped: [] });
    expect(r.maxDepthBefore).toBe(9);
    expect(r.maxDepthAfter).toBe(3);
    expect(r.bytesAdded).toBeGreaterThan(0);
    expect(stages).toContain('keyframes');
    expect(await deepestDecode(repo, manifests)).toBe(3);
    // The keyframes are v4 and v8; the manifests in git are untouched (git status is clean).
    expect(await keyframeOf(repo.keyframes, manifests[4]!.tensors[0]!.contentId)).toBeDefined();
    expect(await keyframeOf(repo.keyframes, manifests[8]!.tensors[0]!.contentId)).toBeDefined();
    expect(git(repo.topLevel, 'status', '--porcelain')).toBe('');

    const again = await repackRepo({ repo, maxChain: 3 });
    expect(again).toMatchObject({ added: 0, removed: 0, kept: 2, bytesAdded: 0, maxDepthBefore: 3, maxDepthAfter: 3 });
    const dry = await repackRepo({ repo, maxChain: 3, dryRun: true });
    expect(dry).toMatchObject({ added: 0, removed: 0, kept: 2, maxDepthBefore: 3 });

    // gc keeps the keyframes' objects (reachable through their versions); fsck checks them.
    const overrideIds = [4, 8].map(
      async (v) => (await keyframeOf(repo.keyframes, manifests[v]!.tensors[0]!.contentId))!,
    );
    const ids = (await Promise.all(overrideIds)).flatMap((e) => e.refs.map((ref) => ref.id as string as ObjectId));
    expect((await gcRepo({ repo, graceMs: 0 })).deleted).toBe(0);
    for (const id of ids) expect(await repo.store.has(id)).toBe(true);
    expect((await fsckRepo({ repo })).problems).toEqual([]);

    // A smaller K adds keyframes; a larger one drops those no longer needed, and gc reclaims their objects.
    const k1 = await repackRepo({ repo, maxChain: 1 });
    expect(k1).toMatchObject({ added: 2, removed: 0, kept: 2, maxDepthAfter: 1 }); // v2 v4 v6 v8 (v4, v8 kept)
    expect(await deepestDecode(repo, manifests)).toBe(1);
    const wide = await repackRepo({ repo, maxChain: 64 });
    expect(wide).toMatchObject({ added: 0, removed: 4, kept: 0, maxDepthBefore: 1, maxDepthAfter: 9 });
    const gc = await gcRepo({ repo, graceMs: 0 });
    expect(gc.deleted).toBeGreaterThanOrEqual(ids.length);
    for (const id of ids) expect(await repo.store.has(id)).toBe(false);
    expect(await deepestDecode(repo, manifests)).toBe(9);
    expect((await fsckRepo({ repo })).problems).toEqual([]);
  });

  it('rewrites a keyframe whose objects are gone, finishes an interrupted run, and gc drops strays', async () => {
    const { repo, manifests } = await chainRepo('recover');
    await repackRepo({ repo, maxChain: 3 });
    const v4 = manifests[4]!.tensors[0]!.contentId;
    const lost = (await keyframeOf(repo.keyframes, v4))!;
    for (const ref of lost.refs) await repo.store.deleteObject(ref.id as string as ObjectId);
    const fsck = await fsckRepo({ repo, quick: true });
    expect(fsck.problems).toHaveLength(1);
    expect(fsck.problems[0]!.problem).toMatch(
      /missing \(keyframe override of version [0-9a-f]{12}…; run 'weft repack'/,
    );
    // Decoding falls back to the chain when a keyframe's objects are gone.
    expect(await deepestDecode(repo, manifests)).toBe(7);
    expect(await repackRepo({ repo, maxChain: 3 })).toMatchObject({ added: 1, kept: 1, removed: 0 });
    expect((await fsckRepo({ repo })).problems).toEqual([]);

    // An interrupted K = 1 run: one extra keyframe written, nothing dropped yet → the K = 3 rerun drops it.
    const v2 = manifests[2]!.tensors[0]!;
    await repo.keyframes.record(v2.contentId, printEncoding(await dense(repo, version(2))));
    expect(await repackRepo({ repo, maxChain: 3 })).toMatchObject({ added: 0, kept: 2, removed: 1 });

    // An override of a version nothing reachable names is dropped by gc, with its object.
    const stray = version(42);
    const strayEnc = await dense(repo, stray);
    await repo.keyframes.record(cid(stray), printEncoding(strayEnc));
    const gc = await gcRepo({ repo, graceMs: 0 });
    expect(gc.droppedKeyframes).toBe(1);
    expect(gc.deletedIds).toContain(strayEnc.refs[0]!.id);
    expect(await repo.keyframes.lookup(cid(stray))).toBeUndefined();
  });

  it('lets smudge rebuild a version from its nearest keyframe, without the rest of the chain', async () => {
    const { repo, manifests } = await chainRepo('smudge');
    await repackRepo({ repo, maxChain: 3 });
    // Drop the objects of v0…v7 (a test-only store): v9 still rebuilds through the keyframe of v8.
    for (const m of manifests.slice(0, 8))
      for (const ref of m.tensors[0]!.encoding.refs) await repo.store.deleteObject(ref.id as string as ObjectId);
    const rebuild = async (keyframes?: Repo['keyframes']) => {
      const parts: Uint8Array[] = [];
      for await (const p of rebuildFromManifest(repo.store, manifests[9]!, 'model.st', keyframes)) parts.push(p);
      return Buffer.concat(parts);
    };
    expect(cid(await rebuild(repo.keyframes))).toBe(cid(version(9)));
    await expect(rebuild()).rejects.toThrow(/model\.st: tensor "w"/);
  });

  it('skips, and reports, a version whose chain is not in this store (a partial clone)', async () => {
    const { repo, manifests } = await chainRepo('partial', 6);
    const v2 = manifests[2]!.tensors[0]!;
    for (const ref of v2.encoding.refs) await repo.store.deleteObject(ref.id as string as ObjectId);
    const r = await repackRepo({ repo, maxChain: 2 });
    expect(r.added).toBe(0);
    expect(r.skipped).toEqual([expect.objectContaining({ contentId: manifests[3]!.tensors[0]!.contentId })]);
    expect(r.maxDepthAfter).toBe(5);
  });

  it('refuses a K that is not a whole number from 1 to 64, naming it', async () => {
    const { repo } = await chainRepo('bad-k', 2);
    for (const k of [0, 65, 2.5]) {
      const run = repackRepo({ repo, maxChain: k });
      await expect(run).rejects.toBeInstanceOf(UsageError);
      await expect(repackRepo({ repo, maxChain: k })).rejects.toThrow(`--max-chain ${k}: must be a whole number`);
    }
  });

  it('takes K from [encoding] max_chain', async () => {
    const { repo } = await chainRepo('config', 6);
    spawnSync('mkdir', ['-p', join(repo.topLevel, '.weft')]);
    await writeFile(join(repo.topLevel, '.weft', 'config.toml'), '[encoding]\nmax_chain = 2\n');
    const r = await repackRepo({ repo, dryRun: true });
    expect(r).toMatchObject({ maxChain: 2, added: 1, maxDepthBefore: 5, maxDepthAfter: 2, bytesAdded: 0 });
    expect(await repo.keyframes.lookup(cid(version(3)))).toBeUndefined(); // a dry run writes nothing
  });
});
