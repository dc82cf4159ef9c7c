// One tensor of a merge under a policy, for the git merge driver and `weft merge`: unchanged or one-sided
// changes are taken whole; a change on several sides uses the policy's method, or becomes a conflict report.
// Pure: arrays in, arrays (or a report) out.

import type { Seed } from '../tensor/rng.js';
import { type ConflictReport, conflictReport } from './conflict-report.js';
import type { Scalar } from './params.js';
import { type MergePolicy, resolveTensorMerge } from './policy.js';
import { getMergeMethod, runMerge } from './registry.js';

/** The outcome for one tensor; a conflict is a value, not an exception. */
export type TensorMergeOutcome =
  | { kind: 'unchanged'; values: Float32Array }
  /** Only model `index` changed it (or every changed model made the same change). */
  | { kind: 'taken'; index: number; values: Float32Array }
  | { kind: 'merged'; values: Float32Array; method: string; params: Record<string, Scalar>; seed: Seed }
  | { kind: 'conflict'; report: ConflictReport; changed: number[] };

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) {
    const x = a[j]!;
    const y = b[j]!;
    if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) return false;
  }
  return true;
}

/**
 * Merges one tensor of `models` (ours, theirs, … — each the whole tensor in float32) against `base` under
 * `policy`. Models equal to the base are unchanged; if the changed ones all agree, that value is taken;
 * otherwise the policy's method for this tensor merges all models, or the outcome is a conflict with the
 * report of the first two changed models. Throws UsageError only for inputs the method rejects.
 *
 * @example
 * const r = mergeTensorWithPolicy({ policy, tensorName: 'fc.weight', shape: [2, 2], base, models: [ours, theirs] });
 * if (r.kind === 'conflict') console.log(r.report.cosine);
 */
export function mergeTensorWithPolicy(options: {
  policy: MergePolicy;
  tensorName: string;
  shape: readonly number[];
  base: Float32Array;
  models: readonly Float32Array[];
  /** Layers in the model (`countLayers` of its tensor names), for gradient parameters. */
  layerCount?: number;
}): TensorMergeOutcome {
  const { base, models } = options;
  const changed = models.map((m, i) => (sameValues(m, base) ? -1 : i)).filter((i) => i >= 0);
  if (changed.length === 0) return { kind: 'unchanged', values: base };
  const first = models[changed[0]!]!;
  if (changed.every((i) => sameValues(models[i]!, first))) return { kind: 'taken', index: changed[0]!, values: first };
  const resolved = resolveTensorMerge(options.policy, options.tensorName, {
    ...(options.layerCount === undefined ? {} : { layerCount: options.layerCount }),
  });
  if (!resolved) {
    return {
      kind: 'conflict',
      report: conflictReport({ base, ours: first, theirs: models[changed[1]!]! }),
      changed,
    };
  }
  const values = runMerge(getMergeMethod(resolved.method)!, {
    tensorName: options.tensorName,
    shape: options.shape,
    base,
    models,
    params: resolved.params,
    seed: resolved.seed,
  });
  return { kind: 'merged', values, method: resolved.method, params: resolved.params, seed: resolved.seed };
}
