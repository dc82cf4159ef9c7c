// `weft fsck`, `weft gc` and `weft du`: checking, pruning and measuring the store against every manifest that
// git can reach (refs, reflog, index). gc deletes only unreachable objects older than a grace period.

import { open } from 'node:fs/promises';
import { StoreError } from '../errors.js';
import { listEncodingRefs, listManifestRefs, type Manifest, type ObjectRef } from '../manifest/manifest.js';
import { OBJECT_HEADER_BYTES, type ObjectId, parseObjectHeader } from '../store/object-codec.js';
import { forEachReachableManifest } from './git-manifests.js';
import type { Repo } from './repo.js';
import { readTensorFromStore } from './store-read.js';
import { parentLookupOf } from './tensor-decode.js';

function refsOf(manifest: Manifest): ObjectRef[] {
  return listManifestRefs(manifest);
}

/** Every object id named by a manifest reachable in git. */
export async function listReachableObjects(repo: Repo): Promise<{ objects: Set<string>; manifests: number }> {
  const objects = new Set<string>();
  const manifests = await forEachReachableManifest(repo.topLevel, ({ manifest }) => {
    for (const r of refsOf(manifest)) objects.add(r.id);
  });
  return { objects, manifests };
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
  const { objects: reachable } = await listReachableObjects(repo);
  const result: GcResult = {
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
