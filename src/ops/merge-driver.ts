// `weft merge-driver %O %A %B %P`: git's merge driver for tracked models. Per tensor: changed on one side only →
// that side; identical on both → it; changed differently on both → a conflict (merge methods build on this).
// Writes the merged manifest over %A only when the merge is clean.

import { readFile, rename, writeFile } from 'node:fs/promises';
import {
  looksLikeManifest,
  type Manifest,
  type ManifestTensor,
  parseManifest,
  printManifest,
} from '../manifest/manifest.js';

export interface MergeConflict {
  tensor?: string;
  reason: string;
}

export interface MergeDriverResult {
  clean: boolean;
  conflicts: MergeConflict[];
  /** Tensors taken from the other side. */
  takenFromTheirs: string[];
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

/**
 * Runs git's merge driver on the files git names; writes the merge over `ours` when clean.
 * @example await runMergeDriver({ base: '%O', ours: '%A', theirs: '%B', path: '%P' });
 */
export async function runMergeDriver(options: {
  base: string;
  ours: string;
  theirs: string;
  path: string;
}): Promise<MergeDriverResult> {
  const [base, ours, theirs] = await Promise.all([
    readManifestFile(options.base, `${options.path} (base)`),
    readManifestFile(options.ours, `${options.path} (ours)`),
    readManifestFile(options.theirs, `${options.path} (theirs)`),
  ]);
  if (!ours || !theirs) {
    return { clean: false, conflicts: [{ reason: 'one side is not a Weft manifest' }], takenFromTheirs: [] };
  }
  const merged = mergeManifests(base, ours, theirs);
  if (merged.result) {
    const tmp = `${options.ours}.weft-merge.tmp`;
    await writeFile(tmp, printManifest(merged.result));
    await rename(tmp, options.ours);
  }
  const { result: _, ...rest } = merged;
  return rest;
}
