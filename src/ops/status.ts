// `weft status`: the tracked model files whose work-tree version differs from the index, tensor by tensor.

import { diffVersions, type FileChange } from './diff.js';
import { listTrackedManifests } from './git-manifests.js';
import type { Repo } from './repo.js';

export interface StatusResult {
  /** Tracked files in the index (manifests). */
  tracked: { path: string; format: string; tensors: number; sizeBytes: number }[];
  /** Work-tree changes against the index. */
  changes: FileChange[];
}

/**
 * Compares the work tree with the index for every tracked file.
 * @example const { changes } = await statusRepo({ repo });
 */
export async function statusRepo(options: { repo: Repo; paths?: string[] }): Promise<StatusResult> {
  const paths = options.paths ?? [];
  const index = await listTrackedManifests(options.repo.topLevel, ':index', paths);
  const changes = await diffVersions({
    repo: options.repo,
    before: { kind: 'index' },
    after: { kind: 'worktree' },
    paths,
  });
  return {
    tracked: index.map((t) => ({
      path: t.path,
      format: t.manifest.format,
      tensors: t.manifest.tensors.length,
      sizeBytes: t.manifest.sizeBytes,
    })),
    changes,
  };
}
