// The registry of merge methods and `runMerge`, the one entry point that checks a tensor's inputs against a
// method (base, arity, shapes, parameters) and fills in defaults before merging. Pure.

import { UsageError } from '../errors.js';
import { numelOf } from '../tensor/shape.js';
import { DATA_AWARE_METHODS } from './data-aware.js';
import { INTERPOLATION_METHODS } from './interpolate.js';
import type { MergeInputs, MergeMethod, ResolvedInputs } from './method.js';
import { MERGE_PARAMETERS, type Scalar, scalarProblem, showValue, suggestName } from './params.js';
import { CONSENSUS_METHODS } from './sce-ram.js';
import { TASK_VECTOR_METHODS } from './task-vector.js';

/** Every merge method, by name. */
export const MERGE_METHODS: ReadonlyMap<string, MergeMethod> = new Map(
  [...TASK_VECTOR_METHODS, ...INTERPOLATION_METHODS, ...CONSENSUS_METHODS, ...DATA_AWARE_METHODS].map((m) => [
    m.name,
    m,
  ]),
);

/** The names of every merge method, in registry order. */
export const MERGE_METHOD_NAMES: readonly string[] = [...MERGE_METHODS.keys()];

/**
 * The method called `name`, or undefined.
 *
 * @example getMergeMethod('ties')?.base // 'required'
 */
export function getMergeMethod(name: string): MergeMethod | undefined {
  return MERGE_METHODS.get(name);
}

/**
 * Why `name` is not a merge method (with a "did you mean" hint), or undefined when it is one.
 *
 * @example methodNameProblem('tiess') // 'is not a merge method (did you mean "ties"?)'
 */
export function methodNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string naming a merge method';
  if (MERGE_METHODS.has(name)) return undefined;
  const hint = suggestName(name, MERGE_METHOD_NAMES);
  return `is not a merge method (${hint ? `did you mean ${JSON.stringify(hint)}?` : `one of ${MERGE_METHOD_NAMES.join(', ')}`})`;
}

/** The scope (`model` or `global`) of parameter `name` in `method`. */
export function paramScope(method: MergeMethod, name: string): 'model' | 'global' {
  return method.params[name]?.scope ?? MERGE_PARAMETERS[name]?.scope ?? 'global';
}

/** The parameter names of `method` by scope. */
export function methodParamNames(method: MergeMethod): { model: string[]; global: string[] } {
  const model: string[] = [];
  const global: string[] = [];
  for (const name of Object.keys(method.params)) (paramScope(method, name) === 'model' ? model : global).push(name);
  return { model, global };
}

function fail(tensorName: string, message: string): never {
  throw new UsageError('USAGE', `tensor ${JSON.stringify(tensorName)}: ${message}`, { tensor: tensorName });
}

function fillParams(
  method: MergeMethod,
  names: string[],
  given: Readonly<Record<string, Scalar>> | undefined,
  tensorName: string,
  who: string,
): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const name of names) {
    const v = given?.[name] ?? method.params[name]?.default;
    if (v === undefined) {
      if (method.params[name]?.required) fail(tensorName, `${method.name} needs parameter ${name}${who}`);
      continue;
    }
    const problem = scalarProblem(name, v);
    if (problem) fail(tensorName, `${name}${who} = ${showValue(v)} ${problem}`);
    out[name] = v;
  }
  return out;
}

/**
 * Checks one tensor's inputs against `method` and merges them: the base is present when required, the number of
 * models is within the method's arity, every array holds numel(shape) entries, and every parameter is valid
 * (defaults filled in; parameters the method does not take are ignored). Throws UsageError naming the tensor.
 *
 * @example
 * runMerge(getMergeMethod('linear')!, { tensorName: 'w', shape: [2], models: [a, b],
 *   modelParams: [{ weight: 1 }, { weight: 1 }] }) // the mean of a and b
 */
export function runMerge(method: MergeMethod, inputs: MergeInputs): Float32Array {
  const name = inputs.tensorName;
  const n = inputs.models.length;
  if (n < method.arity.min || n > method.arity.max) {
    const { min, max } = method.arity;
    const want = min === max ? `${min}` : max === Number.POSITIVE_INFINITY ? `at least ${min}` : `${min} … ${max}`;
    fail(name, `${method.name} merges ${want} model${min === 1 && max === 1 ? '' : 's'} (besides a base), got ${n}`);
  }
  if (method.base === 'required' && !inputs.base) fail(name, `${method.name} needs a base model`);
  const numel = numelOf(inputs.shape, { tensor: name });
  const base = method.base === 'none' ? undefined : inputs.base;
  for (const [i, t] of inputs.models.entries()) {
    if (t.length !== numel) fail(name, `model ${i + 1} has ${t.length} values, shape [${inputs.shape}] needs ${numel}`);
  }
  if (base && base.length !== numel)
    fail(name, `the base has ${base.length} values, shape [${inputs.shape}] needs ${numel}`);
  if (inputs.modelParams && inputs.modelParams.length !== n) {
    fail(name, `${inputs.modelParams.length} per-model parameter sets for ${n} models`);
  }
  const filled = checkMergeParams(method, {
    tensorName: name,
    shape: inputs.shape,
    modelCount: n,
    ...(inputs.params ? { params: inputs.params } : {}),
    ...(inputs.modelParams ? { modelParams: inputs.modelParams } : {}),
  });
  const resolved: ResolvedInputs = {
    tensorName: name,
    shape: inputs.shape,
    models: inputs.models,
    params: filled.params,
    modelParams: filled.modelParams,
    seed: inputs.seed ?? 0,
  };
  if (base) resolved.base = base;
  if (inputs.statistics) resolved.statistics = inputs.statistics;
  return method.merge(resolved);
}

/**
 * Fills in defaults and checks one tensor's parameters without its values: required ones present, every value
 * in range, and the method's own per-tensor conditions (della's density ± epsilon, a magnitude density that
 * keeps at least one entry). `mergeFiles` runs it on every tensor before reading any tensor data.
 *
 * @example checkMergeParams(getMergeMethod('ties')!, { tensorName: 'w', shape: [4], modelCount: 2,
 *   params: { weight: 1, density: 0.1 } }) // throws: density 0.1 keeps no entry of 4
 */
export function checkMergeParams(
  method: MergeMethod,
  options: {
    tensorName: string;
    shape: readonly number[];
    modelCount: number;
    params?: Readonly<Record<string, Scalar>>;
    modelParams?: readonly Readonly<Record<string, Scalar>>[];
  },
): { params: Record<string, Scalar>; modelParams: Record<string, Scalar>[] } {
  const name = options.tensorName;
  const { model, global } = methodParamNames(method);
  const params = fillParams(method, global, options.params, name, '');
  const modelParams = Array.from({ length: options.modelCount }, (_, i) =>
    fillParams(method, model, { ...options.params, ...options.modelParams?.[i] }, name, ` of model ${i + 1}`),
  );
  const problem = method.check?.({ tensorName: name, shape: options.shape, params, modelParams });
  if (problem) fail(name, problem);
  return { params, modelParams };
}
