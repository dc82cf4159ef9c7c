// A model version for evaluation: which files of a commit make up the model, a key for its content, and writing
// them into a private temporary folder from the store (never the work tree, never the index).

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { StoreError, UsageError } from '../errors.js';
import { CatFileBatch, runGit } from '../git/run-git.js';
import type { Manifest } from '../manifest/manifest.js';
import { filterWeftPaths, manifestOfBlob, resolveCommit } from './git-manifests.js';
import type { Repo } from './repo.js';
import { rebuildFromManifest } from './smudge.js';

export interface ModelFile {
  /** Path relative to the repository's top level (git's spelling, `/`-separated). */
  path: string;
  blob: string;
  /** Set for Weft-tracked checkpoints; companions (config.json beside a checkpoint) have none. */
  manifest?: Manifest;
}

export interface ModelVersion {
  rev: string;
  commit: string;
  /** SHA-256 over the sorted (path, blob id) pairs of the model's files: same files → same key, any commit. */
  key: string;
  files: ModelFile[];
}

async function listTreeBlobs(cwd: string, commit: string): Promise<Map<string, string>> {
  const { stdout } = await runGit(['ls-tree', '-r', '-z', '--full-tree', commit], { cwd });
  const out = new Map<string, string>();
  for (const entry of stdout.toString('utf8').split('\0')) {
    if (!entry) continue;
    const tab = entry.indexOf('\t');
    const [, type, blob] = entry.slice(0, tab).split(/ +/);
    if (type === 'blob' && blob) out.set(entry.slice(tab + 1), blob);
  }
  return out;
}

/**
 * The model files of a commit: every Weft-tracked checkpoint (its blob is a manifest), plus the other files in
 * the same folders when those folders are not the top level (a `model/` folder's config.json and tokenizer
 * travel with its weights; a top-level README does not). UsageError USAGE_NOT_FOUND if there is no checkpoint.
 *
 * @example const version = await resolveModelVersion({ repo, rev: 'HEAD' });
 */
export async function resolveModelVersion(options: { repo: Repo; rev: string }): Promise<ModelVersion> {
  const { repo, rev } = options;
  const commit = await resolveCommit(repo.topLevel, rev);
  const blobs = await listTreeBlobs(repo.topLevel, commit);
  const tracked = await filterWeftPaths(repo.topLevel, [...blobs.keys()]);
  const files: ModelFile[] = [];
  const batch = new CatFileBatch({ cwd: repo.topLevel });
  try {
    const reads = [...tracked]
      .sort()
      .map((path) => ({ path, blob: blobs.get(path)!, read: batch.read(blobs.get(path)!) }));
    for (const r of reads) {
      const obj = await r.read;
      const manifest = obj ? manifestOfBlob(obj.content, r.path) : undefined;
      if (manifest) files.push({ path: r.path, blob: r.blob, manifest });
    }
  } finally {
    await batch.close();
  }
  if (files.length === 0) {
    throw new UsageError('USAGE_NOT_FOUND', `${rev} (${commit.slice(0, 12)}): no Weft-tracked model files to evaluate`);
  }
  const folders = new Set(files.map((f) => posix.dirname(f.path)).filter((d) => d !== '.'));
  for (const [path, blob] of blobs) {
    if (!tracked.has(path) && folders.has(posix.dirname(path))) files.push({ path, blob });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.path}\0${f.blob}\n`);
  return { rev, commit, key: hash.digest('hex'), files };
}

/** A materialised model: where it is, what `WEFT_MODEL` should say, and how to remove it. */
export interface MaterializedModel {
  dir: string;
  /** The single checkpoint file when the model has exactly one, else the folder (same layout as the repo). */
  modelPath: string;
  remove(): Promise<void>;
}

/**
 * Writes a model version's files under a new folder in `<weftDir>/tmp` (same file system as the store):
 * checkpoints rebuilt from the store and verified (as checkout does), companions from git's blobs.
 *
 * @example const m = await materializeModel({ repo, version }); try { … m.modelPath … } finally { await m.remove(); }
 */
export async function materializeModel(options: { repo: Repo; version: ModelVersion }): Promise<MaterializedModel> {
  const { repo, version } = options;
  const root = join(repo.weftDir, 'tmp');
  await mkdir(root, { recursive: true });
  const dir = await mkdtemp(join(root, 'eval-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  const batch = new CatFileBatch({ cwd: repo.topLevel });
  try {
    for (const f of version.files) {
      const target = join(dir, ...f.path.split('/'));
      await mkdir(dirname(target), { recursive: true });
      const handle = await open(target, 'wx');
      try {
        if (f.manifest) {
          for await (const bytes of rebuildFromManifest(repo.store, f.manifest, f.path, repo.keyframes))
            await handle.write(bytes);
        } else {
          const obj = await batch.read(f.blob);
          if (!obj) throw new StoreError('STORE_MISSING', `${f.path}: git blob ${f.blob} is missing`, { file: f.path });
          await handle.write(obj.content);
        }
      } finally {
        await handle.close();
      }
    }
  } catch (e) {
    await batch.close().catch(() => {});
    await remove();
    throw e;
  }
  await batch.close();
  const checkpoints = version.files.filter((f) => f.manifest);
  const modelPath = checkpoints.length === 1 ? join(dir, ...checkpoints[0]!.path.split('/')) : dir;
  return { dir, modelPath, remove };
}

/**
 * Names of tensors that differ between two model versions, or `undefined` when the change is more than tensor
 * values (a file added or removed, a frame or companion changed): the gate then runs every suite.
 *
 * @example listChangedTensors(baseline, candidate) // ['fc1.weight'] or undefined
 */
export function listChangedTensors(baseline: ModelVersion, candidate: ModelVersion): string[] | undefined {
  const before = new Map(baseline.files.map((f) => [f.path, f]));
  if (before.size !== candidate.files.length) return undefined;
  const changed = new Set<string>();
  for (const f of candidate.files) {
    const b = before.get(f.path);
    if (!b) return undefined;
    if (b.blob === f.blob) continue;
    if (!f.manifest || !b.manifest) return undefined;
    const frames = (m: Manifest) => JSON.stringify(m.frames.map((x) => x.refs));
    if (frames(f.manifest) !== frames(b.manifest)) return undefined;
    const old = new Map(b.manifest.tensors.map((t) => [t.name, t.contentId]));
    if (old.size !== f.manifest.tensors.length) return undefined;
    for (const t of f.manifest.tensors) {
      if (!old.has(t.name)) return undefined;
      if (old.get(t.name) !== t.contentId) changed.add(t.name);
    }
  }
  return [...changed].sort();
}
