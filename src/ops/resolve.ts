// Conflicted model merges as data: `weft status` lists the tensors a merge could not settle (with the report of
// how the two changes relate), and `weft resolve` settles them per tensor (a side or a method), then writes the
// merged model into the work tree for `git add`. Nothing is lost: every side stays in git's index stages.

import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { CatFileBatch, runGit } from '../git/run-git.js';
import type { Manifest } from '../manifest/manifest.js';
import { globMatches } from '../merge/params.js';
import { filterWeftPaths, manifestOfBlob } from './git-manifests.js';
import { type ConflictState, conflictStatePath } from './merge-driver.js';
import {
  mergeModelVersions,
  readMergePolicy,
  reportTensorConflict,
  type TensorConflict,
  type TensorResolution,
} from './merge-models.js';
import type { Repo } from './repo.js';
import { rebuildFromManifest } from './smudge.js';
import { parentLookupOf } from './tensor-decode.js';

/** A tracked file left conflicted by a merge, with its three versions. */
export interface ConflictedModel {
  path: string;
  base?: Manifest;
  ours?: Manifest;
  theirs?: Manifest;
  conflicts: TensorConflict[];
  resolutions: Record<string, TensorResolution>;
}

interface StoredState extends ConflictState {
  resolutions?: Record<string, TensorResolution>;
}

/** Tracked files with unmerged index entries, their stage manifests and per-tensor conflict reports. */
export async function listConflictedModels(options: { repo: Repo; withReports?: boolean }): Promise<ConflictedModel[]> {
  const { repo } = options;
  const out = (await runGit(['ls-files', '-u', '-z'], { cwd: repo.topLevel })).stdout.toString('utf8');
  const stages = new Map<string, Map<number, string>>();
  for (const rec of out.split('\0')) {
    const m = /^\d+ ([0-9a-f]+) ([123])\t(.+)$/s.exec(rec);
    if (!m) continue;
    const entry = stages.get(m[3]!) ?? new Map<number, string>();
    entry.set(Number(m[2]), m[1]!);
    stages.set(m[3]!, entry);
  }
  if (stages.size === 0) return [];
  const tracked = await filterWeftPaths(repo.topLevel, [...stages.keys()]);
  const batch = new CatFileBatch({ cwd: repo.topLevel });
  const models: ConflictedModel[] = [];
  try {
    for (const [path, byStage] of stages) {
      if (!tracked.has(path)) continue;
      const read = async (stage: number) => {
        const blob = byStage.get(stage);
        const obj = blob === undefined ? undefined : await batch.read(blob);
        return obj ? manifestOfBlob(obj.content, path) : undefined;
      };
      const [base, ours, theirs] = await Promise.all([read(1), read(2), read(3)]);
      const state = await readState(repo, path);
      const model: ConflictedModel = {
        path,
        ...(base ? { base } : {}),
        ...(ours ? { ours } : {}),
        ...(theirs ? { theirs } : {}),
        conflicts: state?.conflicts ?? [],
        resolutions: state?.resolutions ?? {},
      };
      if (!state && ours && theirs) {
        // No record from the driver (e.g. a merge strategy that did not call it): compare the stages.
        const baseBy = new Map((base?.tensors ?? []).map((t) => [t.name, t]));
        const theirsBy = new Map(theirs.tensors.map((t) => [t.name, t]));
        for (const o of ours.tensors) {
          const t = theirsBy.get(o.name);
          const b = baseBy.get(o.name);
          if (t && o.contentId !== t.contentId && o.contentId !== b?.contentId && t.contentId !== b?.contentId) {
            const c: TensorConflict = { tensor: o.name, reason: 'changed on both sides' };
            if (options.withReports && b && o.shape.join() === t.shape.join()) {
              const parents = parentLookupOf({
                ...ours,
                parents: [...(ours.parents ?? []), ...(theirs.parents ?? []), ...(base?.parents ?? [])],
              });
              c.report = await reportTensorConflict({ repo, path, base: b, ours: o, theirs: t, parents });
            }
            model.conflicts.push(c);
          }
        }
      }
      models.push(model);
    }
  } finally {
    await batch.close();
  }
  return models;
}

async function readState(repo: Repo, path: string): Promise<StoredState | undefined> {
  try {
    const state = JSON.parse(await readFile(conflictStatePath(repo, path), 'utf8')) as StoredState;
    return state.path === path ? state : undefined;
  } catch {
    return undefined;
  }
}

export interface ResolveResult {
  /** Files now fully merged and written to the work tree (run `git add` on them). */
  written: string[];
  /** Tensors settled by this call. */
  settled: { path: string; tensor: string; how: string }[];
  /** Conflicts still open. */
  remaining: { path: string; tensor: string }[];
}

/**
 * Settles the conflicted tensors whose names match `pattern` (a glob; `*` matches any run of characters) with
 * a side or a merge method. When a file has no conflict left, its merged model is written to the work tree.
 *
 * @example await resolveConflicts({ repo, pattern: 'fc1.*', resolution: { kind: 'side', side: 'theirs' } });
 */
export async function resolveConflicts(options: {
  repo: Repo;
  pattern: string;
  resolution: TensorResolution;
}): Promise<ResolveResult> {
  const { repo } = options;
  const policy = await readMergePolicy(repo);
  const models = await listConflictedModels({ repo });
  if (models.length === 0) throw new UsageError('USAGE', 'no conflicted model in this repository (nothing to resolve)');
  const matches = (tensor: string) =>
    tensor !== '' && (globMatches(options.pattern, tensor) || options.pattern === tensor);
  // Refuse a pattern that matches nothing before touching any file.
  if (!models.some((m) => m.conflicts.some((c) => matches(c.tensor)))) {
    throw new UsageError(
      'USAGE',
      `no conflicted tensor matches ${JSON.stringify(options.pattern)} (conflicted: ${models
        .flatMap((m) => m.conflicts.map((c) => c.tensor || '(layout)'))
        .slice(0, 8)
        .join(', ')})`,
    );
  }
  const result: ResolveResult = { written: [], settled: [], remaining: [] };
  for (const model of models) {
    if (!model.ours || !model.theirs) {
      for (const c of model.conflicts) result.remaining.push({ path: model.path, tensor: c.tensor });
      continue;
    }
    const resolutions = new Map(Object.entries(model.resolutions));
    for (const c of model.conflicts) {
      if (matches(c.tensor)) {
        resolutions.set(c.tensor, options.resolution);
        result.settled.push({
          path: model.path,
          tensor: c.tensor,
          how:
            options.resolution.kind === 'side'
              ? `--${options.resolution.side}`
              : `--method ${options.resolution.method}`,
        });
      }
    }
    const merged = await mergeModelVersions({
      repo,
      path: model.path,
      base: model.base,
      sides: [model.ours, model.theirs],
      policy,
      resolutions,
    });
    const statePath = conflictStatePath(repo, model.path);
    if (merged.manifest) {
      await writeWorkTreeFile(repo, model.path, merged.manifest);
      await rm(statePath, { force: true });
      result.written.push(model.path);
    } else {
      for (const c of merged.conflicts) result.remaining.push({ path: model.path, tensor: c.tensor });
      const state: StoredState = {
        path: model.path,
        conflicts: merged.conflicts,
        resolutions: Object.fromEntries(resolutions),
      };
      await mkdir(dirname(statePath), { recursive: true });
      await writeFile(statePath, JSON.stringify(state));
    }
  }
  return result;
}

/** Rebuilds a manifest's file into the work tree atomically. */
async function writeWorkTreeFile(repo: Repo, path: string, manifest: Manifest): Promise<void> {
  const target = join(repo.topLevel, path);
  const temp = `${target}.weft-resolve-${process.pid}.tmp`;
  const out = createWriteStream(temp);
  try {
    for await (const bytes of rebuildFromManifest(repo.store, manifest, path, repo.keyframes)) {
      if (!out.write(bytes)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    await rename(temp, target);
  } catch (e) {
    out.destroy();
    await rm(temp, { force: true });
    throw e;
  }
}
