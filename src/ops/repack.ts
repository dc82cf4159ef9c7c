// `weft repack`: bounds the parent links any local decode follows by keeping dense copies (keyframe overrides) of
// the tensor versions where a chain would pass K links. A local storage operation like `git repack`: it never
// changes a manifest in git, so what is committed, pushed and fetched stays exactly as clean wrote it.

import { createHash } from 'node:crypto';
import { StoreError, UsageError } from '../errors.js';
import { type ManifestParent, type ObjectRef, printEncoding, type TensorEncoding } from '../manifest/manifest.js';
import type { GroupWidth, ObjectId } from '../store/object-codec.js';
import { type Dtype, dtypeSize } from '../tensor/dtype.js';
import { TENSOR_CHUNK_BYTES } from './clean.js';
import { resolveMaxChain } from './filter-process.js';
import { forEachReachableManifest } from './git-manifests.js';
import type { Repo } from './repo.js';
import { decodeTensorBytes, keyframeOf, MAX_DECODE_DEPTH, type ParentLookup, parentLookupOf } from './tensor-decode.js';
import { readWeftConfig } from './weft-config.js';

/** Largest K accepted: the decoder refuses longer chains anyway (a hostile manifest could name a cycle). */
export const MAX_REPACK_CHAIN = MAX_DECODE_DEPTH;

/**
 * The versions of a history as a graph: content id → the parent content id of each distinct encoding it has in
 * some manifest (`null` for a dense encoding). A content id can be encoded differently in different manifests
 * (two branches committed it against different parents); every encoding counts, since any may be decoded.
 */
export type VersionGraph = ReadonlyMap<string, readonly (string | null)[]>;

/** What {@link planKeyframes} decides. */
export interface KeyframePlan {
  /** Versions that need a dense keyframe under K, parents before their descendants. */
  keyframes: string[];
  /** Deepest decode (parent links) with the overrides that exist now. */
  maxDepthBefore: number;
  /** Deepest decode with exactly `keyframes` as overrides. */
  maxDepthAfter: number;
}

/**
 * Effective chain depth of every version: 0 for a dense encoding or a version in `keyframes`, else its parent's
 * effective depth + 1 (the deepest over its encodings). A parent no manifest describes counts as one link to a
 * keyframe; a cycle counts as {@link MAX_DECODE_DEPTH} + 1 (the decoder refuses it).
 *
 * @example effectiveDepths({ graph: new Map([['b', ['a']], ['a', [null]]]), keyframes: new Set() }).get('b') // → 1
 */
export function effectiveDepths(options: { graph: VersionGraph; keyframes: ReadonlySet<string> }): Map<string, number> {
  const { graph, keyframes } = options;
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (cid: string): number => {
    const known = depth.get(cid);
    if (known !== undefined) return known;
    if (visiting.has(cid)) return MAX_DECODE_DEPTH + 1;
    if (keyframes.has(cid)) {
      depth.set(cid, 0);
      return 0;
    }
    visiting.add(cid);
    let d = 0;
    for (const parent of graph.get(cid) ?? [null]) {
      if (parent === null) continue;
      d = Math.max(d, graph.has(parent) ? Math.min(visit(parent) + 1, MAX_DECODE_DEPTH + 1) : 1);
    }
    visiting.delete(cid);
    depth.set(cid, d);
    return d;
  };
  for (const cid of graph.keys()) visit(cid);
  return depth;
}

/**
 * Chooses the keyframes that bound every decode to `maxChain` links: walking each chain from its dense root, a
 * version whose depth would pass K becomes a keyframe (depth 0), which resets the depth of its descendants. The
 * plan ignores existing overrides (so it is the same whatever an earlier repack chose): the caller adds the
 * missing ones and drops the rest.
 *
 * @example planKeyframes({ graph, overrides: new Set(), maxChain: 3 }).keyframes // → ['v4', 'v8']
 */
export function planKeyframes(options: {
  graph: VersionGraph;
  /** Versions that have an override now (for `maxDepthBefore`). */
  overrides: ReadonlySet<string>;
  maxChain: number;
}): KeyframePlan {
  const { graph, maxChain } = options;
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const keyframes: string[] = [];
  const visit = (cid: string): number => {
    const known = depth.get(cid);
    if (known !== undefined) return known;
    if (visiting.has(cid)) return Number.POSITIVE_INFINITY; // a cycle: whoever closes it needs a keyframe
    visiting.add(cid);
    let d = 0;
    for (const parent of graph.get(cid) ?? [null]) {
      if (parent === null) continue;
      d = Math.max(d, graph.has(parent) ? visit(parent) + 1 : 1);
    }
    visiting.delete(cid);
    if (d > maxChain) {
      keyframes.push(cid); // after its parents: chain order
      d = 0;
    }
    depth.set(cid, d);
    return d;
  };
  for (const cid of graph.keys()) visit(cid);
  const maxOf = (m: Map<string, number>) => Math.max(0, ...m.values());
  return {
    keyframes,
    maxDepthBefore: maxOf(effectiveDepths({ graph, keyframes: options.overrides })),
    maxDepthAfter: maxOf(effectiveDepths({ graph, keyframes: new Set(keyframes) })),
  };
}

/** Progress of a repack: `scan` counts manifests (total unknown: 0), `keyframes` raw bytes, `prune` entries. */
export interface RepackProgress {
  phase: 'scan' | 'keyframes' | 'prune';
  done: number;
  total: number;
}

export interface RepackResult {
  maxChain: number;
  dryRun: boolean;
  /** Manifests reachable from refs, reflog and index. */
  manifests: number;
  /** Distinct tensor versions (content ids) they describe, parents included. */
  versions: number;
  /** Overrides written (or that would be). */
  added: number;
  /** Overrides dropped: no longer needed under K, or for versions nothing reachable names. */
  removed: number;
  /** Overrides already in place and still needed. */
  kept: number;
  /** Bytes the new overrides' objects take in the store (0 in a dry run). */
  bytesAdded: number;
  /** Decoded bytes of the new overrides (what a dry run would store before compression). */
  rawBytesAdded: number;
  /** Deepest local decode, in parent links, before and after. */
  maxDepthBefore: number;
  maxDepthAfter: number;
  /** Versions that need a keyframe but whose objects are not in this store (a partial clone): left as they are. */
  skipped: { contentId: string; what: string; reason: string }[];
}

/** What repack needs to rebuild one version: a manifest that describes its chain, and its element type. */
interface VersionSource {
  encoding: TensorEncoding;
  sizeBytes: number;
  parents: ParentLookup;
  dtype?: Dtype | undefined;
  what: string;
}

function groupWidthOf(dtype: Dtype): GroupWidth {
  const size = dtypeSize(dtype);
  return size === 2 || size === 4 || size === 8 ? size : 1;
}

/**
 * Every tensor version of every reachable manifest as a graph; with `wanted`, also a way to decode each wanted
 * version (a second pass: holding every manifest of a long history in memory to decode a few versions would not
 * scale).
 */
async function scanVersions(
  repo: Repo,
  onManifest: (count: number) => void,
  wanted?: ReadonlySet<string>,
): Promise<{ manifests: number; graph: Map<string, (string | null)[]>; sources: Map<string, VersionSource> }> {
  const graph = new Map<string, (string | null)[]>();
  const sources = new Map<string, VersionSource>();
  const add = (v: ManifestParent, parents: ParentLookup, what: () => string, dtype?: Dtype) => {
    const link = v.encoding.kind === 'dense' ? null : (v.encoding.params.parent ?? null);
    const links = graph.get(v.contentId);
    if (!links) graph.set(v.contentId, [link]);
    else if (!links.includes(link)) links.push(link);
    if (!wanted?.has(v.contentId)) return;
    const source = sources.get(v.contentId);
    // A dense encoding of the version anywhere is the best source: its override can name the same objects.
    if (!source || (v.encoding.kind === 'dense' && source.encoding.kind !== 'dense')) {
      const dt = dtype ?? source?.dtype;
      sources.set(v.contentId, { encoding: v.encoding, sizeBytes: v.sizeBytes, parents, what: what(), dtype: dt });
    } else source.dtype ??= dtype;
  };
  let count = 0;
  const manifests = await forEachReachableManifest(repo.topLevel, ({ blob, manifest }) => {
    const parents = parentLookupOf(manifest);
    const where = `(manifest blob ${blob.slice(0, 12)})`;
    for (const t of manifest.tensors) {
      const name = JSON.stringify(t.name);
      add(t, parents, () => `tensor ${name} ${where}`, t.dtype);
      // Parent lines carry no dtype: a version takes the one of a tensor whose chain it is in.
      let enc = t.encoding;
      for (let links = 0; enc.kind !== 'dense' && links < MAX_DECODE_DEPTH; links++) {
        const p = enc.params.parent === undefined ? undefined : parents(enc.params.parent);
        if (!p) break;
        add(p, parents, () => `parent version of tensor ${name} ${where}`, t.dtype);
        enc = p.encoding;
      }
    }
    for (const p of manifest.parents ?? []) add(p, parents, () => `parent version ${where}`);
    onManifest(++count);
  });
  return { manifests, graph, sources };
}

/** The `[encoding] max_chain` of the work tree's `.weft/config.toml`, or the default. */
async function configuredMaxChain(repo: Repo): Promise<number> {
  return resolveMaxChain(await readWeftConfig({ topLevel: repo.topLevel }));
}

/** Throws UsageError unless `k` is a whole number of links from 1 to {@link MAX_REPACK_CHAIN}. */
export function checkMaxChain(k: number, name = '--max-chain'): number {
  if (!Number.isInteger(k) || k < 1 || k > MAX_REPACK_CHAIN) {
    throw new UsageError('USAGE', `${name} ${k}: must be a whole number of parent links from 1 to ${MAX_REPACK_CHAIN}`);
  }
  return k;
}

/**
 * Re-bounds every local decode to `maxChain` parent links (default `[encoding] max_chain`, else 8): each tensor
 * version of any manifest reachable from refs, reflog and index whose chain would pass K links is decoded, checked
 * against its content id and stored densely (byte-grouped zstd objects, as clean stores tensors); an override
 * entry then records it. Overrides no longer needed under K are dropped (gc then deletes their objects).
 * Crash safe: objects are durable before the entry naming them, and a rerun finishes an interrupted repack.
 * Idempotent: a second run with the same K changes nothing.
 *
 * @example const r = await repackRepo({ repo, maxChain: 3 }); // r.maxDepthAfter <= 3
 */
export async function repackRepo(options: {
  repo: Repo;
  maxChain?: number;
  dryRun?: boolean;
  onProgress?: (p: RepackProgress) => void;
}): Promise<RepackResult> {
  const { repo } = options;
  const maxChain = checkMaxChain(options.maxChain ?? (await configuredMaxChain(repo)));
  const dryRun = options.dryRun === true;
  const progress = options.onProgress ?? (() => {});

  const { manifests, graph } = await scanVersions(repo, (n) => progress({ phase: 'scan', done: n, total: 0 }));

  // Overrides in place now: usable ones (dense, objects present) count; others are rewritten or dropped.
  const existing = new Map<string, boolean>(); // content id → usable
  for await (const e of repo.keyframes.entries()) {
    const enc = await keyframeOf(repo.keyframes, e.contentId);
    let usable = enc !== undefined;
    for (const r of enc?.refs ?? []) if (usable && !(await repo.store.has(r.id as ObjectId))) usable = false;
    existing.set(e.contentId, usable);
  }
  const usableNow = new Set([...existing].filter(([cid, ok]) => ok && graph.has(cid)).map(([cid]) => cid));
  const plan = planKeyframes({ graph, overrides: usableNow, maxChain });

  const result: RepackResult = {
    maxChain,
    dryRun,
    manifests,
    versions: graph.size,
    added: 0,
    removed: 0,
    kept: 0,
    bytesAdded: 0,
    rawBytesAdded: 0,
    maxDepthBefore: plan.maxDepthBefore,
    maxDepthAfter: plan.maxDepthAfter,
    skipped: [],
  };
  const toAdd = plan.keyframes.filter((cid) => !usableNow.has(cid));
  result.kept = plan.keyframes.length - toAdd.length;
  const sources =
    toAdd.length === 0
      ? new Map<string, VersionSource>()
      : (await scanVersions(repo, () => {}, new Set(toAdd))).sources;
  const totalRaw = toAdd.reduce((n, cid) => n + (sources.get(cid)?.sizeBytes ?? 0), 0);
  const final = new Set(usableNow);

  for (const cid of toAdd) {
    const source = sources.get(cid);
    progress({ phase: 'keyframes', done: result.rawBytesAdded, total: totalRaw });
    if (!source) continue; // no longer reachable (a ref moved while we scanned): no keyframe needed
    if (source.dtype === undefined) {
      result.skipped.push({ contentId: cid, what: source.what, reason: 'no tensor of a known dtype names it' });
      continue;
    }
    if (dryRun) {
      result.added++;
      result.rawBytesAdded += source.sizeBytes;
      final.add(cid);
      continue;
    }
    let bytes: Uint8Array;
    try {
      // Decoded through the overrides already written, so each chain is walked from its nearest keyframe.
      bytes = await decodeTensorBytes({
        store: repo.store,
        encoding: source.encoding,
        sizeBytes: source.sizeBytes,
        dtype: source.dtype,
        parents: source.parents,
        keyframes: repo.keyframes,
        what: source.what,
      });
    } catch (e) {
      if (e instanceof StoreError && e.code === 'STORE_MISSING') {
        result.skipped.push({ contentId: cid, what: source.what, reason: e.message });
        continue;
      }
      throw e;
    }
    if (createHash('sha256').update(bytes).digest('hex') !== cid) {
      throw new StoreError(
        'STORE_CORRUPT',
        `${source.what}: version ${cid.slice(0, 12)}… decodes to other bytes than its content id; run 'weft fsck'`,
      );
    }
    const width = groupWidthOf(source.dtype);
    // Stored densely somewhere already (and just read back whole): the override names those objects.
    const reuse = source.encoding.kind === 'dense';
    const refs: ObjectRef[] = reuse ? [...source.encoding.refs] : [];
    const puts: Promise<void>[] = [];
    for (let at = 0, i = 0; !reuse && at < bytes.length; at += TENSOR_CHUNK_BYTES, i++) {
      const index = i;
      const chunk = bytes.subarray(at, Math.min(at + TENSOR_CHUNK_BYTES, bytes.length));
      puts.push(
        repo.store.put(chunk, { groupWidth: width, deferDirectorySync: true }).then((r) => {
          refs[index] = { id: r.id };
          if (r.written) result.bytesAdded += r.storedBytes;
        }),
      );
    }
    await Promise.all(puts);
    // Objects (files and directories) are durable before the entry that names them.
    await repo.store.syncDirectories();
    await repo.keyframes.record(cid, printEncoding({ kind: 'dense', params: {}, refs }));
    result.added++;
    result.rawBytesAdded += source.sizeBytes;
    final.add(cid);
  }
  progress({ phase: 'keyframes', done: result.rawBytesAdded, total: totalRaw });

  // Dropped only once every new keyframe is in place: a decode never gets longer than before along the way.
  const wanted = new Set(plan.keyframes);
  const drop = [...existing.keys()].filter((cid) => !wanted.has(cid));
  for (const cid of drop) {
    if (!dryRun) await repo.keyframes.remove(cid);
    final.delete(cid);
    result.removed++;
    progress({ phase: 'prune', done: result.removed, total: drop.length });
  }
  result.maxDepthAfter = Math.max(0, ...effectiveDepths({ graph, keyframes: final }).values());
  return result;
}
