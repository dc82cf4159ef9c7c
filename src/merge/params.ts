// Merge parameters: the catalogue of every parameter a method may take (scope, type, valid range), the value
// forms a config may use (scalar, layer gradient, {filter, value} rules) and their resolution for one tensor.
// Pure: no I/O.

import { UsageError } from '../errors.js';

/** A resolved parameter value for one tensor. */
export type Scalar = number | boolean | string;

/** One `{filter, value}` rule: the first rule whose filter is absent, `*`, a substring or a matching glob wins. */
export interface ParamRule {
  filter?: string;
  value: Scalar | readonly number[];
}

/** A parameter as written in a config: a scalar, a gradient over the layer index, or a list of rules. */
export type ParamValue = Scalar | readonly number[] | readonly ParamRule[];

/** Where a parameter applies: to each contributing model (weight, density…) or once per merge (lambda…). */
export type ParamScope = 'model' | 'global';

export interface ParamSpec {
  scope: ParamScope;
  kind: 'number' | 'integer' | 'boolean' | 'choice';
  /** For `choice`: the accepted strings (`rescale` also accepts booleans). */
  choices?: readonly string[];
  /** Returns why a number is out of range (`is outside (0, 1]`), or undefined when it is fine. */
  check?: (value: number) => string | undefined;
  summary: string;
}

const finite = (v: number) => (Number.isFinite(v) ? undefined : 'is not a finite number');
const openClosedUnit = (v: number) => (v > 0 && v <= 1 ? undefined : 'is outside (0, 1]');
const closedUnit = (v: number) => (v >= 0 && v <= 1 ? undefined : 'is outside [0, 1]');
const halfOpenUnit = (v: number) => (v >= 0 && v < 1 ? undefined : 'is outside [0, 1)');
const nonNegative = (v: number) => (Number.isFinite(v) && v >= 0 ? undefined : 'must be a finite number ≥ 0');
const positive = (v: number) => (Number.isFinite(v) && v > 0 ? undefined : 'must be a finite number > 0');

/** Every parameter any merge method takes. One name means one thing (and one valid range) in every method. */
export const MERGE_PARAMETERS: Readonly<Record<string, ParamSpec>> = {
  weight: { scope: 'model', kind: 'number', check: finite, summary: 'weight of the model (λ_i for fisher)' },
  density: { scope: 'model', kind: 'number', check: openClosedUnit, summary: 'fraction of the task vector kept' },
  gamma: { scope: 'model', kind: 'number', check: halfOpenUnit, summary: 'breadcrumbs: fraction of top outliers cut' },
  epsilon: {
    scope: 'model',
    kind: 'number',
    check: nonNegative,
    summary: 'della: spread of keep probabilities; ram: threshold for a changed entry',
  },
  scale: { scope: 'model', kind: 'number', check: finite, summary: 'passthrough: factor applied to the tensor' },
  lambda: { scope: 'global', kind: 'number', check: finite, summary: 'scale of the merged task vector' },
  normalize: { scope: 'global', kind: 'boolean', summary: 'divide by the sum of weights' },
  rescale: {
    scope: 'global',
    kind: 'choice',
    choices: ['inverse_density'],
    summary: 'after sparsifying: true = keep the L1 norm (mergekit), inverse_density = divide by density (DARE)',
  },
  sign_vote: {
    scope: 'global',
    kind: 'choice',
    choices: ['weighted', 'unweighted'],
    summary: 'sign election on weighted deltas (mergekit) or unweighted with a count divisor (TIES paper)',
  },
  int8_mask: { scope: 'global', kind: 'boolean', summary: 'accepted for mergekit configs; has no effect' },
  t: { scope: 'global', kind: 'number', check: finite, summary: 'slerp: interpolation factor; nearswap: threshold' },
  nuslerp_flatten: { scope: 'global', kind: 'boolean', summary: 'nuslerp: slerp whole tensors' },
  nuslerp_row_wise: { scope: 'global', kind: 'boolean', summary: 'nuslerp: slerp rows (else columns) when not flat' },
  normalize_weights: { scope: 'global', kind: 'boolean', summary: 'multislerp: weights sum to 1' },
  eps: { scope: 'global', kind: 'number', check: positive, summary: 'multislerp: smallest norm treated as non-zero' },
  max_iter: {
    scope: 'global',
    kind: 'integer',
    check: (v) => (v >= 1 && v <= 1000 ? undefined : 'is outside 1 … 1000'),
    summary: 'karcher: iteration limit',
  },
  tol: { scope: 'global', kind: 'number', check: positive, summary: 'karcher: convergence tolerance' },
  filter_wise: { scope: 'global', kind: 'boolean', summary: 'model_stock: one interpolation factor per row' },
  select_topk: {
    scope: 'global',
    kind: 'number',
    check: openClosedUnit,
    summary: 'sce: fraction of highest-variance entries kept',
  },
  alpha: {
    scope: 'global',
    kind: 'number',
    check: closedUnit,
    summary: 'regmean: off-diagonal scale of Gram matrices',
  },
};

/** The names of every parameter, for "did you mean" suggestions. */
export const PARAMETER_NAMES: readonly string[] = Object.keys(MERGE_PARAMETERS);

/**
 * Why `value` is not a valid scalar for parameter `name`, or undefined when it is.
 *
 * @example scalarProblem('density', 2) // 'is outside (0, 1]'
 */
export function scalarProblem(name: string, value: unknown): string | undefined {
  const spec = MERGE_PARAMETERS[name];
  if (!spec) return 'is not a merge parameter';
  switch (spec.kind) {
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'choice':
      if (name === 'rescale' && typeof value === 'boolean') return undefined;
      return typeof value === 'string' && spec.choices?.includes(value)
        ? undefined
        : `must be ${name === 'rescale' ? 'true, false or ' : ''}${spec.choices?.map((c) => JSON.stringify(c)).join(' or ')}`;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer';
      return spec.check?.(value);
    default:
      if (typeof value !== 'number') return 'must be a number';
      return spec.check?.(value);
  }
}

/** A short rendering of a value for error messages (`2`, `"tiess"`, `[0.1, 0.9]`). */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(showValue).join(', ')}]`;
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/**
 * Why a parameter value as written in a config (scalar, gradient, or rule list) is invalid: a list of
 * `[keySuffix, problem]` (empty when valid). `keySuffix` locates the bad entry, e.g. `[1].value`.
 *
 * @example paramValueProblems('density', [0.5, 2]) // [['[1]', 'is outside (0, 1]']]
 */
export function paramValueProblems(name: string, value: unknown): [string, string][] {
  const spec = MERGE_PARAMETERS[name];
  if (!spec) return [['', 'is not a merge parameter']];
  if (!Array.isArray(value)) {
    const p = scalarProblem(name, value);
    return p ? [['', p]] : [];
  }
  if (value.length === 0) return [['', 'is an empty list']];
  const problems: [string, string][] = [];
  if (value.every((v) => typeof v === 'number')) {
    if (spec.kind !== 'number' && spec.kind !== 'integer') return [['', 'cannot be a gradient (it is not a number)']];
    value.forEach((v, i) => {
      const p = scalarProblem(name, v);
      if (p) problems.push([`[${i}]`, p]);
    });
    return problems;
  }
  value.forEach((rule, i) => {
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
      problems.push([`[${i}]`, 'must be a number (a gradient) or a {filter, value} table']);
      return;
    }
    const r = rule as Record<string, unknown>;
    for (const key of Object.keys(r)) {
      if (key !== 'filter' && key !== 'value') problems.push([`[${i}].${key}`, 'is not filter or value']);
    }
    if (r.filter !== undefined && typeof r.filter !== 'string') problems.push([`[${i}].filter`, 'must be a string']);
    if (r.value === undefined) problems.push([`[${i}]`, 'has no value']);
    else if (Array.isArray(r.value)) {
      if (r.value.length === 0 || !r.value.every((v) => typeof v === 'number')) {
        problems.push([`[${i}].value`, 'must be a scalar or a list of numbers']);
      } else {
        r.value.forEach((v, j) => {
          const p = scalarProblem(name, v);
          if (p) problems.push([`[${i}].value[${j}]`, p]);
        });
      }
    } else {
      const p = scalarProblem(name, r.value);
      if (p) problems.push([`[${i}].value`, p]);
    }
  });
  return problems;
}

/**
 * The layer index of a tensor: the first dot-separated component that is a number
 * (`model.layers.12.mlp.up_proj.weight` → 12), or undefined for tensors outside numbered layers.
 *
 * @example layerIndexOf('encoder.layer.3.attention.weight') // 3
 */
export function layerIndexOf(tensorName: string): number | undefined {
  const m = /(?:^|\.)(\d+)(?:\.|$)/.exec(tensorName);
  return m ? Number(m[1]) : undefined;
}

/**
 * The number of layers of a model, from its tensor names: 1 + the largest layer index (0 when none).
 *
 * @example countLayers(['emb', 'layers.0.w', 'layers.11.w']) // 12
 */
export function countLayers(tensorNames: Iterable<string>): number {
  let count = 0;
  for (const name of tensorNames) {
    const i = layerIndexOf(name);
    if (i !== undefined && i + 1 > count) count = i + 1;
  }
  return count;
}

/**
 * True when a glob matches the whole tensor name: `*` any run of characters (dots included), `?` one character.
 *
 * @example globMatches('*.bias', 'layers.0.bias') // true
 */
export function globMatches(glob: string, name: string): boolean {
  let re = globCache.get(glob);
  if (!re) {
    const body = glob.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
    re = new RegExp(`^${body}$`, 's');
    if (globCache.size > 1000) globCache.clear();
    globCache.set(glob, re);
  }
  return re.test(name);
}
const globCache = new Map<string, RegExp>();

/**
 * mergekit's filter rule, plus globs: absent or `*` matches everything; a filter with `*` or `?` is a glob over
 * the whole name; otherwise a substring.
 *
 * @example filterMatches('mlp', 'layers.0.mlp.weight') // true
 */
export function filterMatches(filter: string | undefined, name: string): boolean {
  if (filter === undefined || filter === '*') return true;
  if (/[*?]/.test(filter)) return globMatches(filter, name);
  return name.includes(filter);
}

/** Linear interpolation of a gradient at t ∈ [0, 1] (mergekit: np.interp over evenly spaced anchors). */
export function gradientAt(gradient: readonly number[], t: number): number {
  const n = gradient.length;
  if (n === 1) return gradient[0]!;
  const pos = Math.min(Math.max(t, 0), 1) * (n - 1);
  const i = Math.min(Math.floor(pos), n - 2);
  const frac = pos - i;
  const a = gradient[i]!;
  const b = gradient[i + 1]!;
  return frac === 0 ? a : a + (b - a) * frac;
}

/**
 * A config value for one tensor: rule lists pick their first matching rule (undefined when none matches),
 * gradients are read at t = layer / (layers − 1) (t = 0 outside numbered layers).
 *
 * @example valueForTensor([0, 1], 'layers.1.w', 3) // 0.5
 */
export function valueForTensor(value: ParamValue, tensorName: string, layerCount: number): Scalar | undefined {
  if (!Array.isArray(value)) return value as Scalar;
  if (value.length > 0 && typeof value[0] === 'object') {
    for (const rule of value as readonly ParamRule[]) {
      if (filterMatches(rule.filter, tensorName)) return valueForTensor(rule.value, tensorName, layerCount);
    }
    return undefined;
  }
  const gradient = value as readonly number[];
  if (gradient.length === 1) return gradient[0]!;
  const layer = layerIndexOf(tensorName);
  const t = layer === undefined || layerCount <= 1 ? 0 : layer / (layerCount - 1);
  return gradientAt(gradient, t);
}

/** Parameter values as written at one level of precedence (per-model, per-module, top level). */
export type ParamTable = Readonly<Record<string, ParamValue>>;

/**
 * Resolves the value of every parameter `names` lists for one tensor. `levels` go from highest precedence
 * (per-model) to lowest (top level); a rule list with no matching rule falls through to the next level, and
 * `defaults` come last. A parameter with no value anywhere is left out (the method decides if that is an error).
 *
 * @example
 * resolveParameters({ tensorName: 'layers.0.w', layerCount: 2, names: ['density'],
 *   levels: [{}, { density: [{ filter: 'layers', value: 0.3 }] }], defaults: { density: 1 } }) // { density: 0.3 }
 */
export function resolveParameters(options: {
  tensorName: string;
  layerCount: number;
  names: Iterable<string>;
  levels: readonly (ParamTable | undefined)[];
  defaults?: Readonly<Record<string, Scalar>>;
}): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const name of options.names) {
    let found: Scalar | undefined;
    for (const level of options.levels) {
      const v = level?.[name];
      if (v === undefined) continue;
      found = valueForTensor(v, options.tensorName, options.layerCount);
      if (found !== undefined) break;
    }
    found ??= options.defaults?.[name];
    if (found !== undefined) out[name] = found;
  }
  return out;
}

/**
 * The closest name to `word` among `candidates` (edit distance ≤ 2, or a prefix), for "did you mean" hints.
 *
 * @example suggestName('tiess', ['ties', 'linear']) // 'ties'
 */
export function suggestName(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** A UsageError CONFIG_INVALID with `where: message` (where = the config file, or a CLI flag). */
export function configError(where: string, message: string): UsageError {
  return new UsageError('CONFIG_INVALID', `${where}: ${message}`, { file: where });
}
