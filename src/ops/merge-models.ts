// Merging versions of one tracked model by manifest: per tensor, unchanged or one-sided changes are taken whole
// (no tensor is read), changes on several sides are merged by the repository's policy (tensors read from the
// store, merged in float32, stored as an update of ours) or reported as conflicts with statistics. Used by the
// git merge driver, `weft resolve` and `weft merge`.

import { createHash } from 'node:crypto';
import { encodeDelta } from '../encode/update-encoding.js';
import { UsageError } from '../errors.js';
import {
  type ContentId,
  type Manifest,
  type ManifestParent,
  type ManifestTensor,
  type ObjectRef,
  printEncoding,
  printRefs,
  type TensorEncoding,
} from '../manifest/manifest.js';
import type { ConflictReport } from '../merge/conflict-report.js';
import { conflictReport } from '../merge/conflict-report.js';
import { mergeTensorWithPolicy } from '../merge/merge-tensor.js';
import { countLayers } from '../merge/params.js';
import type { MergePolicy } from '../merge/policy.js';
import { parseMergePolicy } from '../merge/policy.js';
import type { GroupWidth } from '../store/object-codec.js';
import { decodeToF32, encodeFromF32 } from '../tensor/convert.js';
import { dtypeSize, isFloatDtype } from '../tensor/dtype.js';
import { DEFAULT_MAX_CHAIN, TENSOR_CHUNK_BYTES } from './clean.js';
import type { Repo } from './repo.js';
import { readTensorFromStore } from './store-read.js';
import { chainDepthOf, type ParentLookup, parentLookupOf } from './tensor-decode.js';
import { readWeftConfig } from './weft-config.js';

/** How a tensor changed on several sides should be settled, overriding the policy (from `weft resolve`). */
export type TensorResolution =
  | { kind: 'side'; side: 'base' | 'ours' | 'theirs' }
  | { kind: 'method'; method: string; params: Record<string, unknown> };

export interface TensorConflict {
  tensor: string;
  reason: string;
  report?: ConflictReport;
}

export interface ModelMergeResult {
  /** The merged manifest; undefined when a conflict (or a layout change on both sides) stops the merge. */
  manifest?: Manifest;
  conflicts: TensorConflict[];
  /** Tensors merged by a method: name → method. */
  merged: { tensor: string; method: string; params: Record<string, unknown>; seed: string }[];
  /** Tensors taken from a side other than the first. */
  taken: string[];
}

function sameTensor(a: ManifestTensor | undefined, b: ManifestTensor | undefined): boolean {
  if (!a || !b) return a === b;
  return a.contentId === b.contentId && a.dtype === b.dtype && a.shape.join(',') === b.shape.join(',');
}

function layoutKey(m: Manifest): string {
  return JSON.stringify([
    m.format,
    m.sizeBytes,
    m.frames,
    m.tensors.map((t) => [t.name, t.dtype, t.shape, t.offsetBytes]),
  ]);
}

/** Reads the repository's merge policy from `.weft/config.toml` (validated whole; an empty policy when absent). */
export async function readMergePolicy(repo: Repo): Promise<MergePolicy> {
  return parseMergePolicy(await readWeftConfig({ topLevel: repo.topLevel }));
}

/**
 * Merges N versions (`sides`, ours first) of one model against `base`. Layout (names, shapes, metadata) must
 * match unless only one side changed it. Never throws for a conflict: it is returned as data.
 *
 * @example const r = await mergeModelVersions({ repo, path, base, sides: [ours, theirs], policy });
 */
export async function mergeModelVersions(options: {
  repo: Repo;
  path: string;
  base: Manifest | undefined;
  sides: readonly Manifest[];
  policy: MergePolicy;
  /** Per-tensor overrides (`weft resolve`). */
  resolutions?: ReadonlyMap<string, TensorResolution>;
  maxChain?: number;
}): Promise<ModelMergeResult> {
  const { repo, path, base, sides, policy } = options;
  const out: ModelMergeResult = { conflicts: [], merged: [], taken: [] };
  const ours = sides[0]!;
  const layouts = sides.map(layoutKey);
  const baseLayout = base && layoutKey(base);
  const changedLayout = layouts.map((l, i) => (l !== baseLayout ? i : -1)).filter((i) => i >= 0);
  if (new Set(layouts).size > 1) {
    // Only one side changed the layout and no other side changed anything: take it whole.
    const only = changedLayout.length === 1 ? changedLayout[0]! : -1;
    const othersUntouched =
      base !== undefined &&
      sides.every((s, i) => i === only || s.tensors.every((t, k) => sameTensor(t, base.tensors[k])));
    if (only >= 0 && othersUntouched) {
      if (only > 0) out.taken.push(...sides[only]!.tensors.map((t) => t.name));
      return { ...out, manifest: sides[only]! };
    }
    out.conflicts.push({
      tensor: '',
      reason: 'several sides changed the file and its layout (tensor names, dtypes, shapes or metadata) differs',
    });
    return out;
  }
  const baseByName = new Map((base?.tensors ?? []).map((t) => [t.name, t]));
  const lookups = [base, ...sides].filter((m): m is Manifest => m !== undefined).map(parentLookupOf);
  const parents: ParentLookup = (cid) => {
    for (const l of lookups) {
      const p = l(cid);
      if (p) return p;
    }
    return undefined;
  };
  const layerCount = countLayers(ours.tensors.map((t) => t.name));
  const result: Manifest = { ...ours, tensors: [] };
  for (let i = 0; i < ours.tensors.length; i++) {
    const versions = sides.map((s) => s.tensors[i]!);
    const name = versions[0]!.name;
    const b = baseByName.get(name);
    const changed = versions.map((v, k) => (sameTensor(v, b) ? -1 : k)).filter((k) => k >= 0);
    const first = changed[0];
    if (first === undefined) {
      result.tensors.push(versions[0]!);
      continue;
    }
    if (changed.every((k) => sameTensor(versions[k], versions[first]))) {
      result.tensors.push(versions[first]!);
      if (first > 0) out.taken.push(name);
      continue;
    }
    const resolution = options.resolutions?.get(name);
    if (resolution?.kind === 'side') {
      const pick = resolution.side === 'base' ? b : resolution.side === 'ours' ? versions[0] : versions[1];
      if (!pick)
        throw new UsageError('USAGE', `${path}: tensor ${JSON.stringify(name)} has no ${resolution.side} version`);
      result.tensors.push(pick);
      continue;
    }
    const t0 = versions[0]!;
    if (!b || !isFloatDtype(t0.dtype)) {
      out.conflicts.push({
        tensor: name,
        reason: !b
          ? 'added on several sides with different values'
          : `changed on several sides (${t0.dtype} cannot be merged by a method)`,
      });
      result.tensors.push(t0);
      continue;
    }
    const load = async (t: ManifestTensor) =>
      decodeToF32(t.dtype, await readTensorFromStore(repo.store, t, path, parents, repo.keyframes));
    const [baseValues, ...models] = await Promise.all([load(b), ...versions.map(load)]);
    const policyHere: MergePolicy =
      resolution?.kind === 'method'
        ? parseMergePolicy({ merge: { method: resolution.method, parameters: resolution.params } })
        : policy;
    const outcome = mergeTensorWithPolicy({
      policy: policyHere,
      tensorName: name,
      shape: t0.shape,
      base: baseValues!,
      models,
      layerCount,
    });
    if (outcome.kind === 'conflict') {
      out.conflicts.push({
        tensor: name,
        reason: 'changed on several sides and no merge method applies',
        report: outcome.report,
      });
      result.tensors.push(t0);
      continue;
    }
    if (outcome.kind === 'unchanged' || outcome.kind === 'taken') {
      result.tensors.push(outcome.kind === 'taken' ? versions[outcome.index]! : b);
      continue;
    }
    const bytes = encodeFromF32(t0.dtype, outcome.values);
    const stored = await storeMergedTensor({
      repo,
      path,
      bytes,
      like: t0,
      parentBytes: await readTensorFromStore(repo.store, t0, path, parents, repo.keyframes),
      maxChain: options.maxChain ?? DEFAULT_MAX_CHAIN,
    });
    result.tensors.push(stored);
    out.merged.push({ tensor: name, method: outcome.method, params: outcome.params, seed: String(outcome.seed) });
  }
  if (out.conflicts.length > 0) return out;
  result.parents = collectParents(result.tensors, parents);
  if (result.parents.length === 0) delete result.parents;
  return { ...out, manifest: result };
}

/** Parent lines a manifest's tensors need, from the inputs' manifests. */
function collectParents(tensors: readonly ManifestTensor[], parents: ParentLookup): ManifestParent[] {
  const listed = new Set<string>(tensors.map((t) => t.contentId));
  const out: ManifestParent[] = [];
  for (const t of tensors) {
    let enc: TensorEncoding = t.encoding;
    while (enc.kind !== 'dense') {
      const id = enc.params.parent!;
      const p = parents(id);
      if (!p) break; // decoding reports it; the inputs were already missing it
      if (!listed.has(id)) {
        listed.add(id);
        out.push(p);
      }
      enc = p.encoding;
    }
  }
  return out;
}

/**
 * Stores a merged tensor's bytes as an update of `like` (ours) when its chain allows, else densely; records it in
 * the content index. Returns the manifest tensor (same name, dtype, shape and offset as `like`).
 */
async function storeMergedTensor(options: {
  repo: Repo;
  path: string;
  bytes: Uint8Array;
  like: ManifestTensor;
  parentBytes: Uint8Array;
  maxChain: number;
}): Promise<ManifestTensor> {
  const { repo, bytes, like } = options;
  const contentId = createHash('sha256').update(bytes).digest('hex') as ContentId;
  const width = dtypeSize(like.dtype) as GroupWidth;
  const groupWidth: GroupWidth = width === 2 || width === 4 || width === 8 ? width : 1;
  const put = async (data: Uint8Array, w: GroupWidth): Promise<ObjectRef[]> => {
    const refs: ObjectRef[] = [];
    for (let at = 0; at < data.length; at += TENSOR_CHUNK_BYTES) {
      const r = await repo.store.put(data.subarray(at, Math.min(data.length, at + TENSOR_CHUNK_BYTES)), {
        groupWidth: w,
      });
      refs.push({ id: r.id as never });
    }
    return refs;
  };
  let encoding: TensorEncoding;
  const depth = chainDepthOf(like.encoding) + 1;
  if (depth <= options.maxChain && like.contentId !== contentId) {
    const update = encodeDelta({ parent: options.parentBytes, target: bytes, dtype: like.dtype });
    const params: Record<string, string> = { parent: like.contentId, depth: String(depth), ...update.params };
    encoding = { kind: update.kind, params, refs: [] };
    for (const part of update.parts) {
      const refs = await put(part.bytes, part.width);
      if (part.key === 'refs') encoding.refs = refs;
      else params[part.key] = printRefs(refs);
    }
  } else {
    encoding = { kind: 'dense', params: {}, refs: await put(bytes, groupWidth) };
  }
  await repo.store.syncDirectories();
  await repo.contentIndex.record(contentId, printEncoding(encoding));
  return { ...like, contentId, encoding };
}

/** Conflict report of one tensor between base, ours and theirs manifests (for `weft status`). */
export async function reportTensorConflict(options: {
  repo: Repo;
  path: string;
  base: ManifestTensor;
  ours: ManifestTensor;
  theirs: ManifestTensor;
  parents: ParentLookup;
}): Promise<ConflictReport> {
  const load = async (t: ManifestTensor) =>
    decodeToF32(
      t.dtype,
      await readTensorFromStore(options.repo.store, t, options.path, options.parents, options.repo.keyframes),
    );
  const [base, ours, theirs] = await Promise.all([load(options.base), load(options.ours), load(options.theirs)]);
  return conflictReport({ base, ours, theirs });
}
