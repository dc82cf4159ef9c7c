// `weft status`: the tracked model files whose work-tree version differs from the index, tensor by tensor.

import { UsageError } from '../errors.js';
import { moduleOf, parseMergePolicy } from '../merge/policy.js';
import { diffVersions, type FileChange } from './diff.js';
import { listTrackedManifests } from './git-manifests.js';
import { dropUnmaterialised, listPartialFiles, type PartialFile } from './partial.js';
import type { Repo } from './repo.js';
import { type ConflictedModel, listConflictedModels } from './resolve.js';
import { readWeftConfig } from './weft-config.js';

export interface StatusResult {
  /** Tracked files in the index (manifests). */
  tracked: { path: string; format: string; tensors: number; sizeBytes: number }[];
  /** Work-tree changes against the index. */
  changes: FileChange[];
  /** Modules (`[modules.<name>]` of .weft/config.toml) whose tensors the work-tree changes touch. */
  touchedModules: string[];
  /** Files a merge left conflicted, with the tensors it could not settle and their reports. */
  conflicts: Pick<ConflictedModel, 'path' | 'conflicts'>[];
  /** Partial checkout (partial.ts): files with tensors not materialised (zeros, not in the store; not changes). */
  partial: PartialFile[];
}

/**
 * Compares the work tree with the index for every tracked file.
 * @example const { changes } = await statusRepo({ repo });
 */
export async function statusRepo(options: { repo: Repo; paths?: string[] }): Promise<StatusResult> {
  const paths = options.paths ?? [];
  const conflicts = await listConflictedModels({ repo: options.repo, withReports: true });
  const conflicted = new Set(conflicts.map((c) => c.path));
  const index = (await listTrackedManifests(options.repo.topLevel, ':index', paths)).filter(
    (t) => !conflicted.has(t.path),
  );
  // Partial checkout (partial.ts): tensors that are not materialised are not changes.
  const partial = await listPartialFiles({ repo: options.repo, files: index });
  const changes = dropUnmaterialised(
    await diffVersions({ repo: options.repo, before: { kind: 'index' }, after: { kind: 'worktree' }, paths }),
    partial,
  );
  const touchedModules = new Set<string>();
  try {
    const policy = parseMergePolicy(await readWeftConfig({ topLevel: options.repo.topLevel }));
    for (const c of changes) {
      for (const t of c.tensors) {
        const m = moduleOf(policy, t.name);
        if (m) touchedModules.add(m.name);
      }
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e; // a bad policy is reported by the commands that use it
  }
  return {
    touchedModules: [...touchedModules].sort(),
    conflicts: conflicts.map((c) => ({ path: c.path, conflicts: c.conflicts })),
    tracked: index.map((t) => ({
      path: t.path,
      format: t.manifest.format,
      tensors: t.manifest.tensors.length,
      sizeBytes: t.manifest.sizeBytes,
    })),
    changes,
    partial,
  };
}
