// `weft merge <branch>…`: an N-way ("octopus") merge of several branches into the current one against their
// common base, every tracked model merged tensor by tensor with one method (or the repository's policy), as one
// merge commit whose message records the method, parameters and seed. Git's own octopus strategy cannot do
// this: it refuses whenever two branches touch the same file.

import { rm } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import type { HalvingRound } from '../eval/successive-halving.js';
import { runGit } from '../git/run-git.js';
import { type Manifest, printManifest } from '../manifest/manifest.js';
import type { ParamValue } from '../merge/params.js';
import { type MergePolicy, parseMergePolicy } from '../merge/policy.js';
import { scoreCandidatesByHalving } from './evaluate.js';
import { filterWeftPaths, listTrackedManifests, resolveCommit } from './git-manifests.js';
import { parseParamArgs } from './merge-files.js';
import { mergeModelVersions, type TensorConflict } from './merge-models.js';
import type { Repo } from './repo.js';
import { readWeftConfig } from './weft-config.js';

export interface MergeBranchesResult {
  commit?: string;
  base: string;
  /** Per file: tensors merged by a method, tensors taken from one branch. */
  files: { path: string; merged: number; taken: number }[];
  conflicts: { path: string; conflicts: TensorConflict[] }[];
  message: string;
  /** With `tune`: what was tried and how each setting scored. */
  tuning?: MergeTuning;
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

/** `--tune <param>=<v1>,<v2>,…`: one parameter and the values to try. */
export interface MergeTune {
  param: string;
  values: ParamValue[];
}

/** Settings one `--tune` may try: each is a whole merge plus its evaluation (CWE-400 against runaway work). */
export const MAX_TUNE_SETTINGS = 64;

/**
 * Parses `--tune lambda=0.5,1.0` (values as `--param` reads them: numbers, booleans, strings).
 * @example parseTuneArg('lambda=0.5,1') // { param: 'lambda', values: [0.5, 1] }
 */
export function parseTuneArg(arg: string): MergeTune {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new UsageError('USAGE', `--tune ${arg}: expected <param>=<v1>,<v2>,…`);
  const param = arg.slice(0, eq);
  const raw = arg
    .slice(eq + 1)
    .split(',')
    .map((v) => v.trim());
  if (raw.length < 2 || raw.some((v) => v === '')) {
    throw new UsageError('USAGE', `--tune ${arg}: give at least two comma-separated values for ${param}`);
  }
  if (raw.length > MAX_TUNE_SETTINGS) {
    throw new UsageError('USAGE', `--tune ${arg}: ${raw.length} values, over the limit of ${MAX_TUNE_SETTINGS}`);
  }
  return { param, values: raw.map((v) => parseParamArgs([`${param}=${v}`])[param]!) };
}

/** What `--tune` tried and how each setting scored. */
export interface MergeTuning {
  param: string;
  values: ParamValue[];
  /** Index into `values` of the setting committed. */
  winner: number;
  /** The gate's target suites the settings were scored on. */
  suites: string[];
  rounds: HalvingRound[];
  /** Per setting: its unreferenced candidate commit, mean score (scaled to [0, 1]) and examples it was scored on. */
  settings: { value: ParamValue; commit: string; mean: number; examples: number }[];
}

interface MergeContext {
  repo: Repo;
  head: string;
  base: string;
  sides: string[];
  allPaths: string[];
  baseTree: Map<string, TreeEntry>;
  sideTrees: Map<string, TreeEntry>[];
  tracked: Set<string>;
  baseManifests: Map<string, Manifest>;
  sideManifests: Map<string, Manifest>[];
}

/** The tree entries the merge writes (merged models as new manifest blobs), or the conflicts that stop it. */
async function mergeTrees(
  ctx: MergeContext,
  policy: MergePolicy,
): Promise<{
  entries: { path: string; entry?: TreeEntry }[];
  files: MergeBranchesResult['files'];
  conflicts: MergeBranchesResult['conflicts'];
}> {
  const { repo } = ctx;
  const files: MergeBranchesResult['files'] = [];
  const conflicts: MergeBranchesResult['conflicts'] = [];
  const entries: { path: string; entry?: TreeEntry }[] = [];
  for (const path of ctx.allPaths) {
    const b = ctx.baseTree.get(path);
    const versions = ctx.sideTrees.map((t) => t.get(path));
    const changed = versions.map((v, k) => (v?.blob !== b?.blob || v?.mode !== b?.mode ? k : -1)).filter((k) => k >= 0);
    if (changed.length === 0) continue;
    const first = versions[changed[0]!];
    if (changed.every((k) => versions[k]?.blob === first?.blob && versions[k]?.mode === first?.mode)) {
      entries.push({ path, ...(first ? { entry: first } : {}) });
      continue;
    }
    const ms = ctx.sideManifests.map((m) => m.get(path));
    if (!ctx.tracked.has(path) || ms.some((m) => m === undefined)) {
      conflicts.push({
        path,
        conflicts: [{ tensor: '', reason: 'changed on several branches (not a tracked model)' }],
      });
      continue;
    }
    const merged = await mergeModelVersions({
      repo,
      path,
      base: ctx.baseManifests.get(path),
      sides: ms.map((m) => m!),
      policy,
    });
    if (!merged.manifest) {
      conflicts.push({ path, conflicts: merged.conflicts });
      continue;
    }
    const blob = (
      await runGit(['hash-object', '-w', '--stdin'], { cwd: repo.topLevel, input: printManifest(merged.manifest) })
    ).stdout
      .toString()
      .trim();
    entries.push({ path, entry: { mode: versions[0]?.mode ?? first?.mode ?? '100644', blob } });
    files.push({ path, merged: merged.merged.length, taken: merged.taken.length });
  }
  return { entries, files, conflicts };
}

/** Writes HEAD's tree with `entries` applied as a commit with every side as a parent; moves no ref. */
async function commitEntries(
  ctx: MergeContext,
  entries: readonly { path: string; entry?: TreeEntry }[],
  message: string,
): Promise<string> {
  const { repo } = ctx;
  const indexFile = `${repo.gitDir}/weft-merge-index-${process.pid}`;
  const env = { GIT_INDEX_FILE: indexFile };
  try {
    await runGit(['read-tree', ctx.head], { cwd: repo.topLevel, env });
    const info = entries
      .map((e) => (e.entry ? `${e.entry.mode} ${e.entry.blob}\t${e.path}` : `0 ${'0'.repeat(40)}\t${e.path}`))
      .join('\n');
    if (info) await runGit(['update-index', '--index-info'], { cwd: repo.topLevel, env, input: `${info}\n` });
    const tree = (await runGit(['write-tree'], { cwd: repo.topLevel, env })).stdout.toString().trim();
    return (
      await runGit(['commit-tree', tree, ...ctx.sides.flatMap((c) => ['-p', c]), '-F', '-'], {
        cwd: repo.topLevel,
        input: message,
      })
    ).stdout
      .toString()
      .trim();
  } finally {
    await rm(indexFile, { force: true });
  }
}

function showParam(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * Merges `branches` into HEAD. With `method` (and `params`, `seed`) every tensor changed on several sides uses
 * it; otherwise the repository's policy decides (and a tensor it does not cover is a conflict). Nothing is
 * changed unless the whole merge is clean. The work tree must have no uncommitted changes.
 *
 * With `tune`, one merge is built per value of the parameter (each an unreferenced commit; HEAD does not move),
 * the gate's target suites score them by successive halving through the evaluation cache, and the best is
 * committed; the commit message records every setting tried and its score.
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
  /** Try several values of one parameter and keep the one the gate's target suites score best. */
  tune?: MergeTune;
  /** Environment of the evaluators (with `tune`). */
  env?: Record<string, string | undefined>;
  onEvaluatorStderr?: (text: string) => void;
}): Promise<MergeBranchesResult> {
  const { repo } = options;
  if (options.branches.length === 0) throw new UsageError('USAGE', 'merge needs at least one branch');
  const config = await readWeftConfig({ topLevel: repo.topLevel });
  const policyWith = (override?: { param: string; value: ParamValue }): MergePolicy => {
    if (options.method !== undefined) {
      const parameters = { ...(options.params ?? {}), ...(override ? { [override.param]: override.value } : {}) };
      const merge: Record<string, unknown> = { method: options.method, parameters };
      if (options.seed !== undefined) merge.seed = options.seed;
      // Keep the repository's modules so module-scoped names stay valid, but one method for everything.
      return parseMergePolicy({ ...(config.modules ? { modules: stripModuleMerge(config.modules) } : {}), merge });
    }
    if (!override) return parseMergePolicy(config);
    const merge = config.merge;
    if (typeof merge !== 'object' || merge === null || !('method' in merge)) {
      throw new UsageError('USAGE', '--tune needs --method, or a [merge] method in .weft/config.toml');
    }
    const m = merge as Record<string, unknown>;
    const parameters = {
      ...((m.parameters as Record<string, unknown> | undefined) ?? {}),
      [override.param]: override.value,
    };
    return parseMergePolicy({ ...config, merge: { ...m, parameters } });
  };
  // Validate every setting before any work.
  const policies = options.tune
    ? options.tune.values.map((value) => policyWith({ param: options.tune!.param, value }))
    : [policyWith()];
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
  const ctx: MergeContext = {
    repo,
    head,
    base,
    sides,
    allPaths: [...allPaths].sort(),
    baseTree: baseTree!,
    sideTrees,
    tracked,
    baseManifests: byPath(0),
    sideManifests: sides.map((_, k) => byPath(k + 1)),
  };
  const policyText = (override?: { param: string; value: ParamValue }) =>
    options.method !== undefined
      ? `method=${options.method}${Object.entries({
          ...(options.params ?? {}),
          ...(override ? { [override.param]: override.value } : {}),
        })
          .map(([k, v]) => ` ${k}=${JSON.stringify(v)}`)
          .join('')} seed=${options.seed ?? 0}`
      : `the repository policy (.weft/config.toml)${override ? ` with ${override.param}=${JSON.stringify(override.value)}` : ''}`;
  const title = options.message ?? `Merge ${options.branches.map((b) => `'${b}'`).join(', ')} (weft octopus merge)`;
  const describe = (files: MergeBranchesResult['files'], override?: { param: string; value: ParamValue }): string =>
    `${title}\n\nweft merge: ${policyText(override)}\nbase: ${base}\n` +
    files.map((f) => `${f.path}: ${f.merged} tensor(s) merged, ${f.taken} taken from one branch`).join('\n');

  let chosen: Awaited<ReturnType<typeof mergeTrees>>;
  let message: string;
  let tuning: MergeTuning | undefined;
  if (!options.tune) {
    chosen = await mergeTrees(ctx, policies[0]!);
    message = describe(chosen.files);
  } else {
    const { param, values } = options.tune;
    const built: { merge: Awaited<ReturnType<typeof mergeTrees>>; commit: string }[] = [];
    for (let k = 0; k < values.length; k++) {
      const merge = await mergeTrees(ctx, policies[k]!);
      const override = { param, value: values[k]! };
      if (merge.conflicts.length > 0) {
        return {
          base,
          files: merge.files,
          conflicts: merge.conflicts,
          message: `${describe(merge.files, override)}\n(--tune setting ${param}=${showParam(values[k])} does not merge cleanly)`,
        };
      }
      built.push({ merge, commit: await commitEntries(ctx, merge.entries, describe(merge.files, override)) });
    }
    const scored = await scoreCandidatesByHalving({
      repo,
      candidates: built.map((b) => b.commit),
      ...(options.env ? { env: options.env } : {}),
      ...(options.onEvaluatorStderr ? { onEvaluatorStderr: options.onEvaluatorStderr } : {}),
    });
    const settings = values.map((value, k) => {
      const last = [...scored.rounds].reverse().find((r) => r.means[k] !== undefined)!;
      return { value, commit: built[k]!.commit, mean: last.means[k]!, examples: last.examples };
    });
    tuning = { param, values, winner: scored.winner, suites: scored.suites, rounds: scored.rounds, settings };
    chosen = built[scored.winner]!.merge;
    message =
      `${describe(chosen.files, { param, value: values[scored.winner]! })}\n\n` +
      `weft merge --tune ${param}: successive halving on ${scored.suites.join(', ')} (scores scaled to [0, 1])\n` +
      settings
        .map(
          (s, k) =>
            `  ${param}=${showParam(s.value)}: mean ${s.mean.toFixed(4)} over ${s.examples} examples` +
            `${k === scored.winner ? ' (chosen)' : ''}`,
        )
        .join('\n');
  }
  const result: MergeBranchesResult = {
    base,
    files: chosen.files,
    conflicts: chosen.conflicts,
    message,
    ...(tuning ? { tuning } : {}),
  };
  if (result.conflicts.length > 0) return result;
  const commit = await commitEntries(ctx, chosen.entries, message);
  await runGit(['merge', '-q', '--ff-only', commit], { cwd: repo.topLevel });
  result.commit = commit;
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
