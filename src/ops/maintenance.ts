// `weft fsck`, `weft gc` and `weft du`: checking, pruning and measuring the store against every manifest that
// git can reach (refs, reflog, index). gc deletes only unreachable objects older than a grace period.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { StoreError } from '../errors.js';
import { listEncodingRefs, listManifestRefs, type Manifest, type ObjectRef } from '../manifest/manifest.js';
import { OBJECT_HEADER_BYTES, type ObjectId, parseObjectHeader } from '../store/object-codec.js';
import { forEachReachableManifest } from './git-manifests.js';
import type { Repo } from './repo.js';
import { readTensorFromStore } from './store-read.js';
import { keyframeOf, parentLookupOf, readRefsCopy } from './tensor-decode.js';

function refsOf(manifest: Manifest): ObjectRef[] {
  return listManifestRefs(manifest);
}

/**
 * Every object id named by a manifest reachable in git, or by the keyframe override (`weft repack`) of a tensor
 * version such a manifest names. With `dropUnreachableKeyframes`, overrides of versions nothing reachable names
 * are removed (gc), so their objects become unreachable too.
 */
export async function listReachableObjects(
  repo: Repo,
  options: { dropUnreachableKeyframes?: boolean } = {},
): Promise<{ objects: Set<string>; manifests: number; droppedKeyframes: number }> {
  const objects = new Set<string>();
  const versions = new Set<string>();
  const manifests = await forEachReachableManifest(repo.topLevel, ({ manifest }) => {
    for (const r of refsOf(manifest)) objects.add(r.id);
    for (const t of manifest.tensors) versions.add(t.contentId);
    for (const p of manifest.parents ?? []) versions.add(p.contentId);
  });
  let droppedKeyframes = 0;
  for await (const e of repo.keyframes.entries()) {
    if (!versions.has(e.contentId)) {
      if (options.dropUnreachableKeyframes && (await repo.keyframes.remove(e.contentId))) droppedKeyframes++;
      continue;
    }
    for (const r of (await keyframeOf(repo.keyframes, e.contentId))?.refs ?? []) objects.add(r.id);
  }
  return { objects, manifests, droppedKeyframes };
}

/** Checks the keyframe overrides of reachable versions: objects present and (unless quick) the right bytes. */
async function fsckKeyframes(repo: Repo, versions: Map<string, number>, result: FsckResult, quick: boolean) {
  for await (const e of repo.keyframes.entries()) {
    const sizeBytes = versions.get(e.contentId);
    if (sizeBytes === undefined) continue; // nothing reachable names it: gc drops it
    const what = `keyframe override of version ${e.contentId.slice(0, 12)}…`;
    const encoding = await keyframeOf(repo.keyframes, e.contentId);
    if (!encoding) {
      result.problems.push({ tensor: what, problem: "not a dense encoding; run 'weft repack'" });
      continue;
    }
    let problem: string | undefined;
    let object: string | undefined;
    for (const r of encoding.refs) {
      result.objects++;
      if (!problem && !(await repo.store.has(r.id as ObjectId))) {
        object = r.id;
        problem = `missing (${what}; run 'weft repack' to write it again)`;
      }
    }
    if (!problem && !quick) {
      try {
        const bytes = await readRefsCopy(repo.store, encoding.refs);
        if (bytes.length !== sizeBytes || createHash('sha256').update(bytes).digest('hex') !== e.contentId)
          problem = `${what}: its objects hold other bytes than the version`;
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        problem = `${what}: ${error.message}`;
      }
      object = encoding.refs[0]?.id;
    }
    if (problem) result.problems.push({ ...(object ? { object } : { tensor: what }), problem });
  }
}

export interface FsckProblem {
  /** The manifest blob (git object id) that names the broken object or tensor. */
  blob?: string;
  object?: string;
  tensor?: string;
  problem: string;
}

export interface FsckResult {
  manifests: number;
  objects: number;
  tensors: number;
  problems: FsckProblem[];
}

/**
 * Verifies that every object reachable from any ref, the reflog and the index exists and matches its id, and
 * (unless `quick`) that every tensor decodes to its content id.
 */
export async function fsckRepo(options: { repo: Repo; quick?: boolean }): Promise<FsckResult> {
  const { repo } = options;
  const found: { blob: string; manifest: Manifest }[] = [];
  await forEachReachableManifest(repo.topLevel, (m) => {
    found.push(m);
  });
  const result: FsckResult = { manifests: found.length, objects: 0, tensors: 0, problems: [] };
  const versions = new Map<string, number>();
  for (const { manifest } of found)
    for (const v of [...manifest.tensors, ...(manifest.parents ?? [])]) versions.set(v.contentId, v.sizeBytes);
  await fsckKeyframes(repo, versions, result, options.quick === true);
  const checked = new Map<string, string | undefined>(); // object id → problem
  for (const { blob, manifest } of found) {
    for (const r of refsOf(manifest)) {
      if (!checked.has(r.id)) {
        result.objects++;
        let problem: string | undefined;
        try {
          if (options.quick) {
            if (!(await repo.store.has(r.id as ObjectId))) problem = 'missing';
          } else await repo.store.get(r.id as ObjectId);
        } catch (e) {
          if (!(e instanceof StoreError)) throw e;
          problem = e.code === 'STORE_MISSING' ? 'missing' : `corrupt: ${e.message}`;
        }
        checked.set(r.id, problem);
        if (problem) result.problems.push({ blob, object: r.id, problem });
      }
    }
  }
  if (!options.quick) {
    const seen = new Set<string>();
    for (const { blob, manifest } of found) {
      for (const t of manifest.tensors) {
        if (seen.has(t.contentId)) continue;
        seen.add(t.contentId);
        result.tensors++;
        if (listEncodingRefs(t.encoding).some((r) => checked.get(r.id) !== undefined)) continue; // already reported
        try {
          await readTensorFromStore(repo.store, t, blob, parentLookupOf(manifest));
        } catch (e) {
          if (!(e instanceof StoreError)) throw e;
          result.problems.push({ blob, tensor: t.name, problem: e.message });
        }
      }
    }
  }
  return result;
}

export interface GcResult {
  reachable: number;
  deleted: number;
  deletedBytes: number;
  kept: number;
  /** Objects that would be (or were) deleted. */
  deletedIds: string[];
  dryRun: boolean;
  /** Keyframe overrides (`weft repack`) dropped because nothing reachable names their version. */
  droppedKeyframes: number;
}

/** Default grace period: objects younger than this are never deleted (a concurrent `git add` may need them). */
export const GC_GRACE_MS = 60 * 60 * 1000;

/**
 * Deletes store objects no manifest reachable in git names, if older than `graceMs`.
 * @example await gcRepo({ repo, dryRun: true });
 */
export async function gcRepo(options: { repo: Repo; dryRun?: boolean; graceMs?: number }): Promise<GcResult> {
  const { repo } = options;
  const cutoff = Date.now() - (options.graceMs ?? GC_GRACE_MS);
  const { objects: reachable, droppedKeyframes } = await listReachableObjects(repo, {
    dropUnreachableKeyframes: options.dryRun !== true,
  });
  const result: GcResult = {
    droppedKeyframes,
    reachable: reachable.size,
    deleted: 0,
    deletedBytes: 0,
    kept: 0,
    deletedIds: [],
    dryRun: options.dryRun === true,
  };
  const deleted = new Set<string>();
  for await (const o of repo.store.listObjects()) {
    if (reachable.has(o.id) || o.mtimeMs > cutoff) {
      result.kept++;
      continue;
    }
    if (options.dryRun || (await repo.store.deleteObject(o.id, { unlessModifiedAfterMs: cutoff }))) {
      result.deleted++;
      result.deletedBytes += o.storedBytes;
      result.deletedIds.push(o.id);
      deleted.add(o.id);
    } else result.kept++;
  }
  if (!options.dryRun) {
    // Index entries naming deleted objects are dead weight (lookups would skip them anyway).
    for await (const e of repo.contentIndex.entries()) {
      if ([...e.location.matchAll(/[0-9a-f]{64}/g)].some((m) => deleted.has(m[0])))
        await repo.contentIndex.remove(e.contentId);
    }
    await repo.store.removeStaleTempFiles(cutoff);
  }
  return result;
}

/** Decoded size of a stored object, from its 16-byte header. */
async function rawLengthOf(path: string, id: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const head = new Uint8Array(OBJECT_HEADER_BYTES);
    await fh.read(head, 0, OBJECT_HEADER_BYTES, 0);
    return parseObjectHeader(head, { id: id as ObjectId, file: path }).rawLength;
  } finally {
    await fh.close();
  }
}

export interface DuResult {
  /** Bytes the store's objects hold once decoded. */
  logicalBytes: number;
  /** Bytes on disk. */
  storedBytes: number;
  objects: number;
}

/** Size of the whole store. */
export async function diskUsage(options: { repo: Repo }): Promise<DuResult> {
  const r: DuResult = { logicalBytes: 0, storedBytes: 0, objects: 0 };
  for await (const o of options.repo.store.listObjects()) {
    r.objects++;
    r.storedBytes += o.storedBytes;
    r.logicalBytes += await rawLengthOf(options.repo.store.pathOf(o.id), o.id);
  }
  return r;
}
