// The interface every merge method implements: its name, the parameters it takes (with defaults), whether it
// needs a base, how many models it merges, the laws it obeys, and a pure tensor-by-tensor `merge`.

import type { Seed } from '../tensor/rng.js';
import type { Scalar } from './params.js';

/** One tensor's inputs to a merge. Arrays are read, never written. */
export interface MergeInputs {
  tensorName: string;
  shape: readonly number[];
  /** The base (merge base, or `base_model`); required or ignored according to the method's `base`. */
  base?: Float32Array;
  /** The contributing models' tensors (the base is not one of them). */
  models: readonly Float32Array[];
  /** Global parameters, resolved for this tensor; missing ones take the method's defaults. */
  params?: Readonly<Record<string, Scalar>>;
  /** Per-model parameters (same order as `models`), resolved for this tensor. */
  modelParams?: readonly Readonly<Record<string, Scalar>>[];
  /** Seed of the random sparsifiers (default 0). */
  seed?: Seed;
  /**
   * Per-model statistics for the data-aware methods: `fisher` takes the diagonal Fisher (same shape as the
   * tensor); `regmean` takes the input Gram matrix XᵀX/n ([in, in] for a [out, in] weight), or undefined
   * for tensors that are not linear weights.
   */
  statistics?: readonly (Float32Array | undefined)[];
}

/** Inputs after `runMerge` has checked them and filled in every default. */
export interface ResolvedInputs extends MergeInputs {
  params: Readonly<Record<string, Scalar>>;
  modelParams: readonly Readonly<Record<string, Scalar>>[];
  seed: Seed;
}

/** A parameter a method takes: its default, or `required`. Range and type come from MERGE_PARAMETERS. */
export interface MethodParam {
  default?: Scalar;
  required?: boolean;
  /** Overrides the catalogue's scope (ram's `epsilon` is global, della's per model). */
  scope?: 'model' | 'global';
}

export interface MergeMethod {
  readonly name: string;
  readonly summary: string;
  /** Whether a base is needed (`required`), may be given (`optional`), or is not used (`none`). */
  readonly base: 'required' | 'optional' | 'none';
  /** How many contributing models, base excluded. */
  readonly arity: { min: number; max: number };
  readonly params: Readonly<Record<string, MethodParam>>;
  /** Statistics the method needs per model. */
  readonly statistics?: 'fisher' | 'gram';
  /** The laws of MERGING.md this method obeys, checked by the shared law tests. */
  readonly laws: {
    /** merge(x, x, …) = x (with base x when one is needed). */
    idempotent: boolean;
    /** A model equal to the base changes nothing: merge(B; A, B) = merge(B; A). */
    unchangedSideNoop: boolean;
  };
  /**
   * Per-tensor conditions on resolved parameters that do not need the values (della's density ± epsilon):
   * returns the problem, or undefined. Checked before any tensor data is read.
   */
  check?(x: {
    tensorName: string;
    shape: readonly number[];
    params: Readonly<Record<string, Scalar>>;
    modelParams: readonly Readonly<Record<string, Scalar>>[];
  }): string | undefined;
  /** Merges one tensor; `runMerge` validates and fills defaults before calling this. */
  merge(inputs: ResolvedInputs): Float32Array;
}
