// Decoding tensor versions from the store through parent chains, including hostile manifests: a parent cycle,
// a missing parent, a parent of the wrong size.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDelta } from '../encode/update-encoding.js';
import type { ContentId, ManifestParent, TensorEncoding } from '../manifest/manifest.js';
import { printRefs } from '../manifest/manifest.js';
import { ObjectStore } from '../store/object-store.js';
import { decodeTensorBytes, listParentChain, MAX_DECODE_DEPTH } from './tensor-decode.js';

let dir: string;
let store: ObjectStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-decode-'));
  store = new ObjectStore(join(dir, 'weft'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cid = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex') as ContentId;

async function dense(bytes: Uint8Array): Promise<TensorEncoding> {
  const r = await store.put(bytes, { groupWidth: 4 });
  return { kind: 'dense', params: {}, refs: [{ id: r.id as never }] };
}

async function delta(parent: Uint8Array, target: Uint8Array, depth: number): Promise<TensorEncoding> {
  const u = encodeDelta({ parent, target, dtype: 'F32' });
  const params: Record<string, string> = { parent: cid(parent), depth: String(depth), ...u.params };
  const enc: TensorEncoding = { kind: u.kind, params, refs: [] };
  for (const p of u.parts) {
    const r = await store.put(p.bytes, { groupWidth: p.width });
    if (p.key === 'refs') enc.refs = [{ id: r.id as never }];
    else params[p.key] = printRefs([{ id: r.id as never }]);
  }
  return enc;
}

describe('decoding through parent chains', () => {
  it('rebuilds each version of a chain exactly', async () => {
    const v0 = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
    const v1 = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 9]).buffer);
    const v2 = new Uint8Array(new Float32Array([0, 2, 3, 4, 5, 6, 7, 9]).buffer);
    const parents = new Map<string, ManifestParent>([
      [cid(v0), { contentId: cid(v0), sizeBytes: 32, encoding: await dense(v0) }],
      [cid(v1), { contentId: cid(v1), sizeBytes: 32, encoding: await delta(v0, v1, 1) }],
    ]);
    const e2 = await delta(v1, v2, 2);
    const out = await decodeTensorBytes({
      store,
      encoding: e2,
      sizeBytes: 32,
      dtype: 'F32',
      parents: (c) => parents.get(c),
      what: 'm: w',
    });
    expect(out).toEqual(v2);
    expect(listParentChain(e2, (c) => parents.get(c))).toEqual([cid(v1), cid(v0)]);
  });

  it('refuses a cycle, a missing parent and a parent of the wrong size, naming the tensor', async () => {
    const a = new Uint8Array(32).fill(1);
    const b = new Uint8Array(32).fill(2);
    const ea = await delta(b, a, 1);
    const eb = await delta(a, b, 1);
    const cycle = new Map<string, ManifestParent>([
      [cid(a), { contentId: cid(a), sizeBytes: 32, encoding: ea }],
      [cid(b), { contentId: cid(b), sizeBytes: 32, encoding: eb }],
    ]);
    const run = (parents: (c: string) => ManifestParent | undefined, sizeBytes = 32) =>
      decodeTensorBytes({ store, encoding: ea, sizeBytes, dtype: 'F32', parents, what: 'm.st: tensor "w"' });
    await expect(run((c) => cycle.get(c))).rejects.toThrow(`more than ${MAX_DECODE_DEPTH} parent links`);
    await expect(run(() => undefined)).rejects.toThrow(
      /m\.st: tensor "w": encoded against parent .* does not describe/,
    );
    await expect(
      run(() => ({ contentId: cid(b), sizeBytes: 16, encoding: { kind: 'dense', params: {}, refs: [] } })),
    ).rejects.toThrow(/parent has 16 bytes, the tensor 32/);
  });
});
