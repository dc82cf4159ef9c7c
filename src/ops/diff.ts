// `weft diff`: which tensors were added, removed or changed between two versions (commits, the index or the
// work tree), from manifests alone; `stat` reads both versions of each changed tensor to measure the change.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describeEncoding } from '../encode/update-encoding.js';
import { UsageError } from '../errors.js';
import type { Checkpoint } from '../formats/format-module.js';
import type { Manifest, ManifestTensor } from '../manifest/manifest.js';
import { moduleOf, parseMergePolicy } from '../merge/policy.js';
import type { ObjectStore } from '../store/object-store.js';
import { decodeToF32 } from '../tensor/convert.js';
import type { Dtype } from '../tensor/dtype.js';
import { type FileSource, openFileSource, streamRange } from './file-source.js';
import { listTrackedManifests, resolveCommit } from './git-manifests.js';
import { detectSourceFormat } from './open-checkpoint.js';
import { readTensorBytes } from './read-tensor.js';
import type { Repo } from './repo.js';
import { hashFrameFromStore, readTensorFromStore } from './store-read.js';
import { type KeyframeSource, parentLookupOf } from './tensor-decode.js';
import { readWeftConfig } from './weft-config.js';

/** One version of a tracked file, as far as a diff needs it. */
export interface FileVersion {
  path: string;
  format: string;
  sizeBytes: number;
  tensors: (Pick<ManifestTensor, 'name' | 'dtype' | 'shape' | 'contentId'> &
    Partial<Pick<ManifestTensor, 'encoding' | 'sizeBytes'>>)[];
  /** Loads a tensor's bytes (for --stat). */
  load(name: string): Promise<Uint8Array>;
  /** SHA-256 of the frame bytes: header and metadata changes show here. */
  frameDigest(): Promise<string>;
  close?(): Promise<void>;
}

export type Side = { kind: 'rev'; rev: string } | { kind: 'index' } | { kind: 'worktree' };

export interface TensorStats {
  /** ‖b − a‖ / ‖a‖ (Infinity when a is all zeros and b is not). */
  relativeL2: number;
  maxAbsDiff: number;
  /** Fraction of entries whose value changed. */
  fractionChanged: number;
  cosine: number;
}

export interface TensorChange {
  name: string;
  change: 'added' | 'removed' | 'changed';
  dtype?: { before?: Dtype; after?: Dtype };
  shape?: { before?: number[]; after?: number[] };
  stats?: TensorStats;
  /** How the new version is stored, when it comes from the store: "low-rank r=8", "delta, 2.10% of entries changed". */
  storedAs?: string;
}

export interface FileChange {
  path: string;
  change: 'added' | 'deleted' | 'modified';
  format: string;
  sizeBytes: { before?: number; after?: number };
  frameChanged: boolean;
  tensors: TensorChange[];
}

/**
 * A file version whose tensors are read from `store` (chains ending at `keyframes` overrides when given), for
 * {@link diffFile}.
 * @example const v = fileVersionOf(repo.store, 'model.safetensors', manifest, repo.keyframes);
 */
export function fileVersionOf(
  store: ObjectStore,
  path: string,
  manifest: Manifest,
  keyframes?: KeyframeSource,
): FileVersion {
  const parents = parentLookupOf(manifest);
  return {
    path,
    format: manifest.format,
    sizeBytes: manifest.sizeBytes,
    tensors: manifest.tensors,
    async load(name) {
      const t = manifest.tensors.find((x) => x.name === name)!;
      return readTensorFromStore(store, t, path, parents, keyframes);
    },
    frameDigest: () => hashFrameFromStore(store, manifest.frames),
  };
}

/** A work-tree file described like a manifest, hashing its tensors (nothing is stored). */
async function fromWorkTree(repo: Repo, path: string): Promise<FileVersion | undefined> {
  let source: FileSource;
  try {
    source = await openFileSource(join(repo.topLevel, path));
  } catch {
    return undefined;
  }
  const module = await detectSourceFormat(source);
  let checkpoint: Checkpoint | undefined;
  try {
    checkpoint = module ? await module.parse(source, { fileName: path }) : undefined;
  } catch {
    checkpoint = undefined;
  }
  const tensors: FileVersion['tensors'] = [];
  if (checkpoint) {
    for (const e of checkpoint.extents) {
      const h = createHash('sha256');
      for await (const part of streamRange(source, e.offsetBytes, e.sizeBytes)) h.update(part);
      tensors.push({ name: e.name, dtype: e.dtype, shape: [...e.shape], contentId: h.digest('hex') as never });
    }
  }
  const cp = checkpoint;
  return {
    path,
    format: cp?.format ?? 'opaque',
    sizeBytes: source.sizeBytes,
    tensors,
    async load(name) {
      const view = cp!.tensors.find((v) => v.name === name)!;
      return readTensorBytes(source, cp!, view);
    },
    async frameDigest() {
      const h = createHash('sha256');
      let at = 0;
      for (const e of cp?.extents ?? []) {
        if (e.offsetBytes > at) h.update(await source.read(at, e.offsetBytes - at));
        at = e.offsetBytes + e.sizeBytes;
      }
      if (source.sizeBytes > at) h.update(await source.read(at, source.sizeBytes - at));
      return h.digest('hex');
    },
    close: () => source.close(),
  };
}

/** Reads every tracked file of one side. */
export async function readSide(repo: Repo, side: Side, paths: readonly string[]): Promise<Map<string, FileVersion>> {
  const out = new Map<string, FileVersion>();
  if (side.kind === 'worktree') {
    const index = await listTrackedManifests(repo.topLevel, ':index', paths);
    for (const { path } of index) {
      const v = await fromWorkTree(repo, path);
      if (v) out.set(path, v);
    }
    return out;
  }
  const rev = side.kind === 'index' ? ':index' : await resolveCommit(repo.topLevel, side.rev);
  for (const { path, manifest } of await listTrackedManifests(repo.topLevel, rev, paths)) {
    out.set(path, fileVersionOf(repo.store, path, manifest, repo.keyframes));
  }
  return out;
}

function shapeEq(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Change statistics of two same-shape tensors (float32 arithmetic of the values, float64 sums). */
export function computeTensorStats(dtype: Dtype, before: Uint8Array, after: Uint8Array): TensorStats {
  const a = decodeToF32(dtype, before);
  const b = decodeToF32(dtype, after);
  let aa = 0;
  let bb = 0;
  let ab = 0;
  let dd = 0;
  let maxAbs = 0;
  let changed = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    aa += x * x;
    bb += y * y;
    ab += x * y;
    const d = y - x;
    dd += d * d;
    const ad = Math.abs(d);
    if (ad > maxAbs) maxAbs = ad;
    if (!Object.is(x, y)) changed++;
  }
  return {
    relativeL2: aa === 0 ? (dd === 0 ? 0 : Number.POSITIVE_INFINITY) : Math.sqrt(dd / aa),
    maxAbsDiff: maxAbs,
    fractionChanged: a.length === 0 ? 0 : changed / a.length,
    cosine: aa === 0 || bb === 0 ? (aa === bb ? 1 : 0) : ab / Math.sqrt(aa * bb),
  };
}

/** Compares two versions of one file tensor by tensor. */
export async function diffFile(
  before: FileVersion | undefined,
  after: FileVersion | undefined,
  options: { stat?: boolean; scope?: TensorScope } = {},
): Promise<FileChange | undefined> {
  const path = (before ?? after)!.path;
  const change: FileChange = {
    path,
    change: !before ? 'added' : !after ? 'deleted' : 'modified',
    format: (after ?? before)!.format,
    sizeBytes: {
      ...(before ? { before: before.sizeBytes } : {}),
      ...(after ? { after: after.sizeBytes } : {}),
    },
    frameChanged: false,
    tensors: [],
  };
  const a = new Map((before?.tensors ?? []).map((t) => [t.name, t]));
  const b = new Map((after?.tensors ?? []).map((t) => [t.name, t]));
  for (const t of before?.tensors ?? []) {
    if (!b.has(t.name)) {
      change.tensors.push({ name: t.name, change: 'removed', dtype: { before: t.dtype }, shape: { before: t.shape } });
    }
  }
  for (const t of after?.tensors ?? []) {
    const old = a.get(t.name);
    if (!old) {
      change.tensors.push({ name: t.name, change: 'added', dtype: { after: t.dtype }, shape: { after: t.shape } });
      continue;
    }
    if (old.contentId === t.contentId && old.dtype === t.dtype && shapeEq(old.shape, t.shape)) continue;
    const c: TensorChange = { name: t.name, change: 'changed' };
    if (t.encoding && t.sizeBytes !== undefined) {
      c.storedAs = describeEncoding({
        kind: t.encoding.kind,
        params: t.encoding.params,
        sizeBytes: t.sizeBytes,
        dtype: t.dtype,
      });
    }
    if (old.dtype !== t.dtype) c.dtype = { before: old.dtype, after: t.dtype };
    if (!shapeEq(old.shape, t.shape)) c.shape = { before: old.shape, after: t.shape };
    if (options.stat && !c.dtype && !c.shape && before && after && (options.scope?.(t.name) ?? true)) {
      c.stats = computeTensorStats(t.dtype, await before.load(t.name), await after.load(t.name));
    }
    change.tensors.push(c);
  }
  if (before && after) {
    const [fa, fb] = await Promise.all([before.frameDigest(), after.frameDigest()]);
    change.frameChanged = before.format !== after.format || fa !== fb;
    if (change.tensors.length === 0 && !change.frameChanged && before.sizeBytes === after.sizeBytes) return undefined;
  }
  return change;
}

/** Says whether a tensor belongs to the module a command is scoped to. */
export type TensorScope = (tensorName: string) => boolean;

/**
 * The tensors of module `name` from `.weft/config.toml` (`[modules.<name>] match = [...]`; a tensor belongs to
 * the first module whose patterns match it). An unknown name is a UsageError listing the known modules.
 * @example const inVision = await moduleScope({ repo, module: 'vision' }); inVision('vision.proj.weight') // true
 */
export async function moduleScope(options: { repo: Repo; module: string }): Promise<TensorScope> {
  const policy = parseMergePolicy(await readWeftConfig({ topLevel: options.repo.topLevel }));
  const known = policy.modules.map((m) => m.name);
  if (!known.includes(options.module)) {
    throw new UsageError(
      'USAGE',
      `--module ${options.module}: no such module in .weft/config.toml (${
        known.length ? `known modules: ${known.join(', ')}` : 'it defines no [modules.<name>] sections'
      })`,
    );
  }
  return (tensorName) => moduleOf(policy, tensorName)?.name === options.module;
}

/**
 * File changes narrowed to the tensors in `scope`: other tensors, and header-only changes, are dropped; a file
 * with no change left in scope is dropped.
 * @example scopeChanges(changes, (t) => t.startsWith('vision.'))
 */
export function scopeChanges(files: readonly FileChange[], scope: TensorScope): FileChange[] {
  const out: FileChange[] = [];
  for (const f of files) {
    const tensors = f.tensors.filter((t) => scope(t.name));
    if (tensors.length > 0) out.push({ ...f, frameChanged: false, tensors });
  }
  return out;
}

export interface DiffOptions {
  repo: Repo;
  before: Side;
  after: Side;
  paths?: string[];
  stat?: boolean;
  /** Only the tensors of this module (`[modules.<name>]` in `.weft/config.toml`). */
  module?: string;
}

/**
 * Tensor-level differences between two versions of the tracked files.
 * @example const changes = await diffVersions({ repo, before: { kind: 'rev', rev: 'HEAD~1' }, after: { kind: 'rev', rev: 'HEAD' } });
 */
export async function diffVersions(options: DiffOptions): Promise<FileChange[]> {
  const paths = options.paths ?? [];
  const scope =
    options.module !== undefined ? await moduleScope({ repo: options.repo, module: options.module }) : undefined;
  const [a, b] = [
    await readSide(options.repo, options.before, paths),
    await readSide(options.repo, options.after, paths),
  ];
  try {
    const all = [...new Set([...a.keys(), ...b.keys()])].sort();
    const out: FileChange[] = [];
    for (const p of all) {
      const c = await diffFile(a.get(p), b.get(p), {
        stat: options.stat === true,
        ...(scope ? { scope } : {}),
      });
      if (c) out.push(c);
    }
    return scope ? scopeChanges(out, scope) : out;
  } finally {
    for (const v of [...a.values(), ...b.values()]) await v.close?.();
  }
}
