// `weft merge <branch>…`: an N-way ("octopus") merge of several branches into the current one against their
// common base, every tracked model merged tensor by tensor with one method (or the repository's policy), as one
// merge commit whose message records the method, parameters and seed. Git's own octopus strategy cannot do
// this: it refuses whenever two branches touch the same file.

import { rm } from 'node:fs/promises';
import process from 'node:process';
import { UsageError } from '../errors.js';
import { runGit } from '../git/run-git.js';
import { printManifest } from '../manifest/manifest.js';
import { type MergePolicy, parseMergePolicy } from '../merge/policy.js';
import { filterWeftPaths, listTrackedManifests, resolveCommit } from './git-manifests.js';
import { mergeModelVersions, readMergePolicy, type TensorConflict } from './merge-models.js';
import type { Repo } from './repo.js';
import { readWeftConfig } from './weft-config.js';

export interface MergeBranchesResult {
  commit?: string;
  base: string;
  /** Per file: tensors merged by a method, tensors taken from one branch. */
  files: { path: string; merged: number; taken: number }[];
  conflicts: { path: string; conflicts: TensorConflict[] }[];
  message: string;
}

interface TreeEntry {
  mode: string;
  blob: string;
}

async function listTree(repo: Repo, commit: string): Promise<Map<string, TreeEntry>> {
  const out = (await runGit(['ls-tree', '-r', '-z', commit], { cwd: repo.topLevel })).stdout.toString('utf8');
  const map = new Map<string, TreeEntry>();
  for (const rec of out.split('\0')) {
    const m = /^(\d+) \w+ ([0-9a-f]+)\t(.+)$/s.exec(rec);
    if (m) map.set(m[3]!, { mode: m[1]!, blob: m[2]! });
  }
  return map;
}

/**
 * Merges `branches` into HEAD. With `method` (and `params`, `seed`) every tensor changed on several sides uses
 * it; otherwise the repository's policy decides (and a tensor it does not cover is a conflict). Nothing is
 * changed unless the whole merge is clean. The work tree must have no uncommitted changes.
 *
 * @example await mergeBranches({ repo, branches: ['alice', 'bob'], method: 'ties', params: { density: 0.5, weight: 1 } });
 */
export async function mergeBranches(options: {
  repo: Repo;
  branches: readonly string[];
  method?: string;
  params?: Record<string, unknown>;
  seed?: number;
  message?: string;
}): Promise<MergeBranchesResult> {
  const { repo } = options;
  if (options.branches.length === 0) throw new UsageError('USAGE', 'merge needs at least one branch');
  let policy: MergePolicy;
  if (options.method !== undefined) {
    const merge: Record<string, unknown> = { method: options.method, parameters: options.params ?? {} };
    if (options.seed !== undefined) merge.seed = options.seed;
    // Keep the repository's modules so module-scoped names stay valid, but one method for everything.
    const config = await readWeftConfig({ topLevel: repo.topLevel });
    policy = parseMergePolicy({ ...(config.modules ? { modules: stripModuleMerge(config.modules) } : {}), merge });
  } else {
    policy = await readMergePolicy(repo);
  }
  const dirty = (
    await runGit(['status', '--porcelain', '--untracked-files=no'], { cwd: repo.topLevel })
  ).stdout.toString();
  if (dirty.trim() !== '')
    throw new UsageError('USAGE', 'the work tree has uncommitted changes: commit or stash them first');
  const head = await resolveCommit(repo.topLevel, 'HEAD');
  const tips = await Promise.all(options.branches.map((b) => resolveCommit(repo.topLevel, b)));
  const base = (await runGit(['merge-base', '--octopus', head, ...tips], { cwd: repo.topLevel })).stdout
    .toString()
    .trim();
  if (!base) throw new UsageError('USAGE', `${options.branches.join(', ')} share no history with HEAD`);
  const sides = [head, ...tips];
  const [baseTree, ...sideTrees] = await Promise.all([base, ...sides].map((c) => listTree(repo, c)));
  const allPaths = new Set<string>([...baseTree!.keys()]);
  for (const t of sideTrees) for (const p of t.keys()) allPaths.add(p);
  const tracked = await filterWeftPaths(repo.topLevel, [...allPaths]);
  const manifests = await Promise.all([base, ...sides].map((c) => listTrackedManifests(repo.topLevel, c)));
  const byPath = (k: number) => new Map(manifests[k]!.map((m) => [m.path, m.manifest]));
  const baseManifests = byPath(0);
  const sideManifests = sides.map((_, k) => byPath(k + 1));
  const result: MergeBranchesResult = { base, files: [], conflicts: [], message: '' };
  const entries: { path: string; entry?: TreeEntry }[] = [];
  for (const path of [...allPaths].sort()) {
    const b = baseTree!.get(path);
    const versions = sideTrees.map((t) => t.get(path));
    const changed = versions.map((v, k) => (v?.blob !== b?.blob || v?.mode !== b?.mode ? k : -1)).filter((k) => k >= 0);
    if (changed.length === 0) continue;
    const first = versions[changed[0]!];
    if (changed.every((k) => versions[k]?.blob === first?.blob && versions[k]?.mode === first?.mode)) {
      entries.push({ path, ...(first ? { entry: first } : {}) });
      continue;
    }
    const ms = sideManifests.map((m) => m.get(path));
    if (!tracked.has(path) || ms.some((m) => m === undefined)) {
      result.conflicts.push({
        path,
        conflicts: [{ tensor: '', reason: 'changed on several branches (not a tracked model)' }],
      });
      continue;
    }
    const merged = await mergeModelVersions({
      repo,
      path,
      base: baseManifests.get(path),
      sides: ms.map((m) => m!),
      policy,
    });
    if (!merged.manifest) {
      result.conflicts.push({ path, conflicts: merged.conflicts });
      continue;
    }
    const blob = (
      await runGit(['hash-object', '-w', '--stdin'], { cwd: repo.topLevel, input: printManifest(merged.manifest) })
    ).stdout
      .toString()
      .trim();
    entries.push({ path, entry: { mode: versions[0]?.mode ?? first?.mode ?? '100644', blob } });
    result.files.push({ path, merged: merged.merged.length, taken: merged.taken.length });
  }
  const policyText =
    options.method !== undefined
      ? `method=${options.method}${Object.entries(options.params ?? {})
          .map(([k, v]) => ` ${k}=${JSON.stringify(v)}`)
          .join('')} seed=${options.seed ?? 0}`
      : 'the repository policy (.weft/config.toml)';
  result.message =
    (options.message ?? `Merge ${options.branches.map((b) => `'${b}'`).join(', ')} (weft octopus merge)`) +
    `\n\nweft merge: ${policyText}\nbase: ${base}\n` +
    result.files.map((f) => `${f.path}: ${f.merged} tensor(s) merged, ${f.taken} taken from one branch`).join('\n');
  if (result.conflicts.length > 0) return result;
  // Build the tree in a private index, commit it with every branch as a parent, then fast-forward to it.
  const indexFile = `${repo.gitDir}/weft-merge-index-${process.pid}`;
  const env = { GIT_INDEX_FILE: indexFile };
  try {
    await runGit(['read-tree', head], { cwd: repo.topLevel, env });
    const info = entries
      .map((e) => (e.entry ? `${e.entry.mode} ${e.entry.blob}\t${e.path}` : `0 ${'0'.repeat(40)}\t${e.path}`))
      .join('\n');
    if (info) await runGit(['update-index', '--index-info'], { cwd: repo.topLevel, env, input: `${info}\n` });
    const tree = (await runGit(['write-tree'], { cwd: repo.topLevel, env })).stdout.toString().trim();
    const commit = (
      await runGit(['commit-tree', tree, ...sides.flatMap((c) => ['-p', c]), '-F', '-'], {
        cwd: repo.topLevel,
        input: result.message,
      })
    ).stdout
      .toString()
      .trim();
    await runGit(['merge', '-q', '--ff-only', commit], { cwd: repo.topLevel });
    result.commit = commit;
  } finally {
    await rm(indexFile, { force: true });
  }
  return result;
}

function stripModuleMerge(modules: unknown): unknown {
  if (typeof modules !== 'object' || modules === null) return modules;
  return Object.fromEntries(
    Object.entries(modules as Record<string, unknown>).map(([name, spec]) => {
      if (typeof spec !== 'object' || spec === null) return [name, spec];
      const { merge: _, ...rest } = spec as Record<string, unknown>;
      return [name, rest];
    }),
  );
}
