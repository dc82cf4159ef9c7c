// `weft merge-driver %O %A %B %P`: git's merge driver for tracked models. Per tensor: changed on one side only →
// that side; identical on both → it; changed differently on both → the policy's merge method, or a conflict
// recorded as data. Writes the merged manifest over %A only when the merge is clean.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import {
  looksLikeManifest,
  type Manifest,
  type ManifestTensor,
  parseManifest,
  printManifest,
} from '../manifest/manifest.js';
import { type MergePolicy, parseMergePolicy } from '../merge/policy.js';
import { mergeModelVersions, readMergePolicy, type TensorConflict } from './merge-models.js';
import { openRepo, type Repo } from './repo.js';

export interface MergeConflict {
  tensor?: string;
  reason: string;
}

export interface MergeDriverResult {
  clean: boolean;
  conflicts: MergeConflict[];
  /** Tensors taken from the other side. */
  takenFromTheirs: string[];
  /** Tensors merged by a method. */
  merged?: { tensor: string; method: string }[];
}

function sameTensor(a: ManifestTensor | undefined, b: ManifestTensor | undefined): boolean {
  if (!a || !b) return a === b;
  return a.contentId === b.contentId && a.dtype === b.dtype && a.shape.join(',') === b.shape.join(',');
}

function frameKey(m: Manifest): string {
  return JSON.stringify([
    m.format,
    m.sizeBytes,
    m.frames,
    m.tensors.map((t) => [t.name, t.dtype, t.shape, t.offsetBytes]),
  ]);
}

/** Merges three manifests; returns the merged manifest when clean. Pure. */
export function mergeManifests(
  base: Manifest | undefined,
  ours: Manifest,
  theirs: Manifest,
): { result?: Manifest } & MergeDriverResult {
  const out: MergeDriverResult = { clean: true, conflicts: [], takenFromTheirs: [] };
  const layoutOurs = frameKey(ours);
  const layoutTheirs = frameKey(theirs);
  if (layoutOurs !== layoutTheirs) {
    const layoutBase = base && frameKey(base);
    if (layoutBase === layoutOurs) {
      // Only theirs changed the layout (tensors added/removed/reshaped, metadata): fine if ours changed nothing.
      if (base && ours.tensors.every((t, i) => sameTensor(t, base.tensors[i]))) return { ...out, result: theirs };
    } else if (layoutBase === layoutTheirs) {
      if (base && theirs.tensors.every((t, i) => sameTensor(t, base.tensors[i]))) return { ...out, result: ours };
    }
    return {
      clean: false,
      conflicts: [
        { reason: 'both sides changed the file, and its layout (tensor names, dtypes, shapes or metadata) differs' },
      ],
      takenFromTheirs: [],
    };
  }
  const baseByName = new Map((base?.tensors ?? []).map((t) => [t.name, t]));
  const result: Manifest = { ...ours, tensors: [] };
  for (let i = 0; i < ours.tensors.length; i++) {
    const o = ours.tensors[i]!;
    const t = theirs.tensors[i]!;
    const b = baseByName.get(o.name);
    if (sameTensor(o, t) || sameTensor(t, b)) result.tensors.push(o);
    else if (sameTensor(o, b)) {
      result.tensors.push(t);
      out.takenFromTheirs.push(o.name);
    } else {
      result.tensors.push(o);
      out.clean = false;
      out.conflicts.push({ tensor: o.name, reason: 'changed on both sides (no merge method configured)' });
    }
  }
  return out.clean ? { ...out, result } : out;
}

async function readManifestFile(path: string, label: string): Promise<Manifest | undefined> {
  const bytes = await readFile(path);
  if (bytes.length === 0) return undefined;
  if (!looksLikeManifest(bytes)) return undefined;
  return parseManifest(bytes.toString('utf8'), label);
}

/** Where the driver leaves a conflicted merge's per-tensor report, for `weft status` and `weft resolve`. */
export function conflictStatePath(repo: Repo, path: string): string {
  return join(repo.gitDir, 'weft-merge', `${createHash('sha256').update(path).digest('hex').slice(0, 32)}.json`);
}

/** What the merge driver recorded about a conflicted path. */
export interface ConflictState {
  path: string;
  conflicts: TensorConflict[];
}

/** The virtual merge base of a criss-cross merge: tensors changed on both sides are averaged (MERGING.md). */
const AVERAGE_POLICY = parseMergePolicy({ merge: { method: 'linear', parameters: { weight: 1 } } });

/**
 * The inner merge git runs (through `merge.weft.recursive`) to build a virtual merge base when there are several
 * merge bases: tensors changed on both sides are averaged (linear, weights 1, 1); a tensor that cannot be
 * averaged (not a float, or only one side's layout) keeps ours. Always clean, records no conflict state: the
 * result is only ever a base for the real merge.
 */
async function mergeVirtualBase(
  repo: Repo,
  options: { ours: string; path: string },
  base: Manifest | undefined,
  ours: Manifest,
  theirs: Manifest,
): Promise<MergeDriverResult> {
  const sides = [ours, theirs];
  let merged = await mergeModelVersions({ repo, path: options.path, base, sides, policy: AVERAGE_POLICY });
  if (!merged.manifest && merged.conflicts.every((c) => c.tensor)) {
    const resolutions = new Map(merged.conflicts.map((c) => [c.tensor, { kind: 'side', side: 'ours' } as const]));
    merged = await mergeModelVersions({ repo, path: options.path, base, sides, policy: AVERAGE_POLICY, resolutions });
  }
  if (merged.manifest) {
    const tmp = `${options.ours}.weft-merge.tmp`;
    await writeFile(tmp, printManifest(merged.manifest));
    await rename(tmp, options.ours);
  }
  return { clean: true, conflicts: [], takenFromTheirs: merged.taken, merged: merged.merged };
}

/**
 * Runs git's merge driver on the files git names: merges the model versions by the repository's policy
 * (`.weft/config.toml`), writes the merged manifest over `ours` when clean; on conflict leaves `ours` (a valid
 * manifest, so the work tree still holds a usable model) and records the per-tensor report.
 * @example await runMergeDriver({ cwd, base: '%O', ours: '%A', theirs: '%B', path: '%P' });
 */
export async function runMergeDriver(options: {
  base: string;
  ours: string;
  theirs: string;
  path: string;
  cwd?: string;
  /** Git's inner merge of several merge bases (`merge-driver --recursive`): average, never conflict. */
  virtualBase?: boolean;
}): Promise<MergeDriverResult> {
  const [base, ours, theirs] = await Promise.all([
    readManifestFile(options.base, `${options.path} (base)`),
    readManifestFile(options.ours, `${options.path} (ours)`),
    readManifestFile(options.theirs, `${options.path} (theirs)`),
  ]);
  if (!ours || !theirs) {
    return { clean: false, conflicts: [{ reason: 'one side is not a Weft manifest' }], takenFromTheirs: [] };
  }
  const repo = await openRepo({ cwd: options.cwd ?? process.cwd() });
  if (options.virtualBase) return mergeVirtualBase(repo, options, base, ours, theirs);
  let policy: MergePolicy;
  try {
    policy = await readMergePolicy(repo);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return { clean: false, conflicts: [{ reason: `${e.message} (fix it, then merge again)` }], takenFromTheirs: [] };
  }
  const merged = await mergeModelVersions({ repo, path: options.path, base, sides: [ours, theirs], policy });
  const statePath = conflictStatePath(repo, options.path);
  if (merged.manifest) {
    const tmp = `${options.ours}.weft-merge.tmp`;
    await writeFile(tmp, printManifest(merged.manifest));
    await rename(tmp, options.ours);
    await rm(statePath, { force: true });
  } else {
    await mkdir(dirname(statePath), { recursive: true });
    const state: ConflictState = { path: options.path, conflicts: merged.conflicts };
    await writeFile(statePath, JSON.stringify(state));
  }
  return {
    clean: merged.manifest !== undefined,
    conflicts: merged.conflicts.map((c) => ({ ...(c.tensor ? { tensor: c.tensor } : {}), reason: c.reason })),
    takenFromTheirs: merged.taken,
    merged: merged.merged,
  };
}
