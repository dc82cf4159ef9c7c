// The merge policy of `.weft/config.toml`: `[merge]` (method, seed, parameters, first-match `[[merge.rules]]`)
// and `[modules.<name>]` (tensor patterns, owners, their own merge section). Validates the whole document before
// any tensor is read, naming the offending key; resolves a tensor's method and parameters. Pure: no I/O.

import { UsageError } from '../errors.js';
import type { Seed } from '../tensor/rng.js';
import {
  globMatches,
  MERGE_PARAMETERS,
  PARAMETER_NAMES,
  type ParamTable,
  type ParamValue,
  paramValueProblems,
  resolveParameters,
  type Scalar,
  showValue,
  suggestName,
} from './params.js';
import { getMergeMethod, MERGE_METHOD_NAMES, methodNameProblem } from './registry.js';

/** The file errors name. */
const CONFIG_FILE = '.weft/config.toml';
/** A rule's `method = "conflict"` says: never merge these tensors automatically. */
export const CONFLICT_METHOD = 'conflict';
/** Rules, modules and patterns per list: a policy is hand-written settings (CWE-770 against pathological files). */
const MAX_POLICY_ENTRIES = 10_000;

export interface MergeRule {
  /** Globs over the whole tensor name (`*` any run of characters, `?` one). */
  match: string[];
  /** A method name, `conflict`, or undefined (inherit the section's). */
  method?: string;
  parameters: ParamTable;
}

export interface MergeSection {
  method?: string;
  seed?: Seed;
  parameters: ParamTable;
  rules: MergeRule[];
}

export interface ModuleSpec {
  name: string;
  match: string[];
  owners: string[];
  merge?: MergeSection;
}

/** A validated merge policy. */
export interface MergePolicy {
  merge?: MergeSection;
  /** Modules in document order; a tensor belongs to the first whose patterns match it. */
  modules: ModuleSpec[];
}

/** What the policy says for one tensor changed on both sides. */
export interface TensorMerge {
  method: string;
  /** Every parameter the method takes, resolved for this tensor (defaults included). */
  params: Record<string, Scalar>;
  seed: Seed;
  /** The module the tensor belongs to, if any. */
  module?: string;
}

function fail(key: string, message: string): never {
  throw new UsageError('CONFIG_INVALID', `${CONFIG_FILE}: ${key} ${message}`, { file: CONFIG_FILE });
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function checkKeys(table: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(table)) {
    if (allowed.includes(key)) continue;
    const hint = suggestName(key, allowed);
    fail(
      `${where}.${key}`,
      `is not a known key (${hint ? `did you mean ${JSON.stringify(hint)}?` : `expected ${allowed.join(', ')}`})`,
    );
  }
}

function patterns(value: unknown, key: string): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === 'string' && p.length > 0)) {
    fail(key, `= ${showValue(value)} must be a glob or a non-empty list of globs`);
  }
  if (list.length > MAX_POLICY_ENTRIES)
    fail(key, `has ${list.length} patterns, over the limit of ${MAX_POLICY_ENTRIES}`);
  return list as string[];
}

function parseMethod(value: unknown, key: string, allowConflict: boolean): string {
  if (allowConflict && value === CONFLICT_METHOD) return CONFLICT_METHOD;
  const problem = methodNameProblem(value);
  if (problem) fail(key, `= ${showValue(value)} ${problem}`);
  const method = getMergeMethod(value as string)!;
  if (method.arity.max < 2) {
    fail(key, `= ${showValue(value)} merges a single model; merging two sides needs a method that takes two or more`);
  }
  // Data-aware methods need statistics files that a merge inside git cannot reach yet (the driver sees only the
  // three versions of the model): refuse them here rather than fail halfway through a merge.
  if (value === 'fisher' || value === 'regmean') {
    fail(
      key,
      `= ${showValue(value)} needs statistics files; use it with \`weft merge-files\` (not in a repository policy yet)`,
    );
  }
  return value as string;
}

function parseSeed(value: unknown, key: string): Seed {
  if (typeof value === 'bigint' && value >= 0n && value < 1n << 64n) return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(key, `= ${showValue(value)} must be a non-negative integer`);
  }
  return value;
}

function parseParameters(value: unknown, key: string): ParamTable {
  if (value === undefined) return {};
  if (!isTable(value)) fail(key, 'must be a table');
  const out: Record<string, ParamValue> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!MERGE_PARAMETERS[name]) {
      const hint = suggestName(name, PARAMETER_NAMES);
      fail(`${key}.${name}`, `is not a merge parameter${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`);
    }
    const problems = paramValueProblems(name, v);
    if (problems.length > 0) {
      const [suffix, problem] = problems[0]!;
      const at = Array.isArray(v) && suffix ? suffix : '';
      const shown = at ? showValue(pick(v, suffix)) : showValue(v);
      fail(`${key}.${name}${at}`, `= ${shown} ${problem}`);
    }
    out[name] = v as ParamValue;
  }
  return out;
}

/** The value at an error suffix such as `[1].value[0]`, for messages. */
function pick(v: unknown, suffix: string): unknown {
  let cur: unknown = v;
  for (const m of suffix.matchAll(/\[(\d+)\]|\.(\w+)/g)) {
    if (cur === undefined || cur === null) return cur;
    cur = m[1] !== undefined ? (cur as unknown[])[Number(m[1])] : (cur as Record<string, unknown>)[m[2]!];
  }
  return cur;
}

function parseSection(value: unknown, key: string): MergeSection {
  if (!isTable(value)) fail(key, 'must be a table');
  checkKeys(value, ['method', 'seed', 'parameters', 'rules'], key);
  const section: MergeSection = { parameters: parseParameters(value.parameters, `${key}.parameters`), rules: [] };
  if (value.method !== undefined) section.method = parseMethod(value.method, `${key}.method`, true);
  if (value.seed !== undefined) section.seed = parseSeed(value.seed, `${key}.seed`);
  if (value.rules !== undefined) {
    if (!Array.isArray(value.rules)) fail(`${key}.rules`, 'must be an array of tables ([[merge.rules]])');
    if (value.rules.length > MAX_POLICY_ENTRIES) {
      fail(`${key}.rules`, `has ${value.rules.length} rules, over the limit of ${MAX_POLICY_ENTRIES}`);
    }
    value.rules.forEach((rule: unknown, i: number) => {
      const at = `${key}.rules[${i}]`;
      if (!isTable(rule)) fail(at, 'must be a table');
      checkKeys(rule, ['match', 'method', 'parameters'], at);
      if (rule.match === undefined) fail(`${at}.match`, 'is missing');
      const parsed: MergeRule = {
        match: patterns(rule.match, `${at}.match`),
        parameters: parseParameters(rule.parameters, `${at}.parameters`),
      };
      if (rule.method !== undefined) parsed.method = parseMethod(rule.method, `${at}.method`, true);
      section.rules.push(parsed);
    });
  }
  return section;
}

/** Parameters must belong to some method that can apply where they are written, and required ones be given. */
function checkSectionParams(
  section: MergeSection,
  key: string,
  inherited: MergeSection | undefined,
  alsoServes: readonly (string | undefined)[],
): void {
  const real = (list: readonly (string | undefined)[]) => list.filter((m): m is string => !!m && m !== CONFLICT_METHOD);
  const named = (s: MergeSection | undefined) => real([s?.method, ...(s?.rules.map((r) => r.method) ?? [])]);
  const reachable = [...new Set([...named(section), ...named(inherited), ...real(alsoServes)])];
  const takes = (methods: string[], p: string) => methods.some((m) => getMergeMethod(m)!.params[p] !== undefined);
  const check = (table: ParamTable, methods: string[], where: string) => {
    if (methods.length === 0) return;
    for (const p of Object.keys(table)) {
      if (!takes(methods, p)) fail(`${where}.${p}`, `is not a parameter of ${methods.join(' or ')}`);
    }
  };
  check(section.parameters, reachable, `${key}.parameters`);
  for (const [i, r] of section.rules.entries()) {
    check(
      r.parameters,
      r.method && r.method !== CONFLICT_METHOD ? [r.method] : reachable,
      `${key}.rules[${i}].parameters`,
    );
  }
  const given = (p: string, rule?: MergeRule) =>
    rule?.parameters[p] !== undefined ||
    section.parameters[p] !== undefined ||
    inherited?.parameters[p] !== undefined ||
    (inherited?.rules.some((r) => r.parameters[p] !== undefined) ?? false);
  const requireFor = (m: string | undefined, where: string, rule?: MergeRule) => {
    if (!m || m === CONFLICT_METHOD) return;
    for (const [p, spec] of Object.entries(getMergeMethod(m)!.params)) {
      if (spec.required && !given(p, rule))
        fail(where, `= ${JSON.stringify(m)} needs parameter ${p} (add ${p} to the parameters)`);
    }
  };
  requireFor(section.method, `${key}.method`);
  for (const [i, r] of section.rules.entries()) {
    requireFor(r.method ?? section.method ?? inherited?.method, `${key}.rules[${i}].method`, r);
  }
}

/**
 * Validates the `[merge]` and `[modules.*]` sections of a parsed `.weft/config.toml` and returns the policy.
 * Other sections are left to their own features. Throws UsageError CONFIG_INVALID naming the first bad key.
 *
 * @example
 * parseMergePolicy({ merge: { method: 'tiess' } })
 * // throws: .weft/config.toml: merge.method = "tiess" is not a merge method (did you mean "ties"?)
 */
export function parseMergePolicy(document: Readonly<Record<string, unknown>>): MergePolicy {
  const policy: MergePolicy = { modules: [] };
  if (document.merge !== undefined) {
    policy.merge = parseSection(document.merge, 'merge');
  }
  const modules = document.modules;
  if (modules !== undefined) {
    if (!isTable(modules)) fail('modules', 'must be a table of [modules.<name>] sections');
    const names = Object.keys(modules);
    if (names.length > MAX_POLICY_ENTRIES)
      fail('modules', `has ${names.length} modules, over the limit of ${MAX_POLICY_ENTRIES}`);
    for (const name of names) {
      const key = `modules.${name}`;
      const m = modules[name];
      if (!isTable(m)) fail(key, 'must be a table');
      checkKeys(m, ['match', 'owners', 'merge', 'description'], key);
      if (m.match === undefined) fail(`${key}.match`, 'is missing (a list of tensor-name globs)');
      const spec: ModuleSpec = { name, match: patterns(m.match, `${key}.match`), owners: [] };
      if (m.owners !== undefined) {
        if (!Array.isArray(m.owners) || !m.owners.every((o) => typeof o === 'string')) {
          fail(`${key}.owners`, `= ${showValue(m.owners)} must be a list of strings`);
        }
        spec.owners = m.owners as string[];
      }
      if (m.description !== undefined && typeof m.description !== 'string')
        fail(`${key}.description`, 'must be a string');
      if (m.merge !== undefined) {
        spec.merge = parseSection(m.merge, `${key}.merge`);
      }
      policy.modules.push(spec);
    }
  }
  // Checked once the modules are known: top-level parameters may serve a module's method too.
  const moduleMethods = policy.modules.flatMap((m) => [
    m.merge?.method,
    ...(m.merge?.rules.map((r) => r.method) ?? []),
  ]);
  if (policy.merge) checkSectionParams(policy.merge, 'merge', undefined, moduleMethods);
  for (const m of policy.modules) if (m.merge) checkSectionParams(m.merge, `modules.${m.name}.merge`, policy.merge, []);
  return policy;
}

/**
 * The module a tensor belongs to: the first module (in document order) with a pattern matching the whole name.
 *
 * @example moduleOf(policy, 'vision.encoder.0.weight')?.name // 'vision'
 */
export function moduleOf(policy: MergePolicy, tensorName: string): ModuleSpec | undefined {
  return policy.modules.find((m) => m.match.some((p) => globMatches(p, tensorName)));
}

function firstRule(section: MergeSection | undefined, tensorName: string): MergeRule | undefined {
  return section?.rules.find((r) => r.match.some((p) => globMatches(p, tensorName)));
}

/**
 * The method and parameters for a tensor changed on both sides, or undefined when the policy names none (or
 * `conflict`): the tensor is then a conflict. Precedence: the module's matching rule, the module's section,
 * the top-level matching rule, the top-level section, then the method's defaults. Gradients need `layerCount`
 * (see `countLayers`); without it they are read at t = 0.
 *
 * @example resolveTensorMerge(parseMergePolicy({ merge: { method: 'linear', parameters: { weight: 1 } } }), 'w')
 * // { method: 'linear', params: { weight: 1, normalize: true }, seed: 0 }
 */
export function resolveTensorMerge(
  policy: MergePolicy,
  tensorName: string,
  options: { layerCount?: number } = {},
): TensorMerge | undefined {
  const module = moduleOf(policy, tensorName);
  const modSection = module?.merge;
  const top = policy.merge;
  const modRule = firstRule(modSection, tensorName);
  const topRule = firstRule(top, tensorName);
  const method = modRule?.method ?? modSection?.method ?? topRule?.method ?? top?.method;
  if (method === undefined || method === CONFLICT_METHOD) return undefined;
  const spec = getMergeMethod(method)!;
  const defaults: Record<string, Scalar> = {};
  for (const [p, s] of Object.entries(spec.params)) if (s.default !== undefined) defaults[p] = s.default;
  const params = resolveParameters({
    tensorName,
    layerCount: options.layerCount ?? 0,
    names: Object.keys(spec.params),
    levels: [modRule?.parameters, modSection?.parameters, topRule?.parameters, top?.parameters],
    defaults,
  });
  const result: TensorMerge = { method, params, seed: modSection?.seed ?? top?.seed ?? 0 };
  if (module) result.module = module.name;
  return result;
}

/** Every method name a policy may use (for help texts). */
export const POLICY_METHOD_NAMES: readonly string[] = MERGE_METHOD_NAMES.filter(
  (n) => getMergeMethod(n)!.arity.max >= 2,
);
