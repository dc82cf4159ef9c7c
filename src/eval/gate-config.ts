// Validates the `[gate]` section (and the `[modules]` patterns a suite may name) of a parsed `.weft/config.toml`
// document. Pure: takes the plain object, returns typed settings or a UsageError CONFIG_INVALID naming the key.

import { UsageError } from '../errors.js';
import type { SuiteRole } from './sequential-suite.js';

const CONFIG_FILE = '.weft/config.toml';

/** More suites than this is a typo or an attack on the Bonferroni split (α would vanish). */
const MAX_SUITES = 64;
/** An evaluator batch bigger than this would hold too many scores per process in memory. */
const MAX_BATCH = 100_000;
/** More examples than this per suite is refused (ids are held in memory). */
export const MAX_EXAMPLES = 10_000_000;
/** A batch may not run longer than a day: a runaway evaluator must not hold CI forever. */
const MAX_TIMEOUT_SECONDS = 86_400;
/** Default per-batch evaluator timeout. */
const DEFAULT_TIMEOUT_SECONDS = 600;

export interface SuiteConfig {
  name: string;
  /** Run with `sh -c` in the repository's top level. */
  command: string;
  /** Ids 0..N−1 (`count`), or a repository-relative file of ids, one per line (`path`). */
  examples: { count: number } | { path: string };
  scoreRange: [number, number];
  role: SuiteRole;
  /** Targets: the improvement the candidate must exceed (default 0). */
  minImprovement: number;
  /** Guards: how much worse the candidate may be (default 0). */
  tolerance: number;
  timeoutSeconds: number;
  /** Names of `[modules.<name>]` this suite covers; empty = the whole model. */
  modules: string[];
}

export interface GateConfig {
  alpha: number;
  batch: number;
  seed: number;
  /** Maximum paired examples per gate, over all suites; undefined = every example if needed. */
  budget: number | undefined;
  suites: SuiteConfig[];
  /** Module name → tensor-name glob patterns (`*` any run of characters, `?` one character). */
  modules: Record<string, string[]>;
}

type Table = Record<string, unknown>;

function invalid(key: string, message: string): UsageError {
  return new UsageError('CONFIG_INVALID', `${CONFIG_FILE}: ${key} ${message}`, { file: CONFIG_FILE });
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function checkKeys(table: Table, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(table)) {
    if (!allowed.includes(k)) throw invalid(`${where}.${k}`, `is not a known key (known: ${allowed.join(', ')})`);
  }
}

function finite(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(key, `must be a number, got ${show(value)}`);
  return value;
}

function integer(value: unknown, key: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(key, `must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

function show(value: unknown): string {
  return value instanceof Date ? value.toISOString() : JSON.stringify(value);
}

/** A repository-relative path: no absolute paths, no `..`, no NUL (it is read from the work tree). */
function relativePath(value: string, key: string): string {
  if (value === '' || value.startsWith('/') || value.includes('\0') || value.split(/[\\/]/).includes('..')) {
    throw invalid(key, `must be a path inside the repository, got ${show(value)}`);
  }
  return value;
}

/**
 * Reads `[modules.<name>] match = [globs]` (other keys of a module table belong to other features and are
 * left alone here).
 */
function parseModules(doc: Table): Record<string, string[]> {
  const modules = doc.modules;
  if (modules === undefined) return {};
  if (!isTable(modules)) throw invalid('modules', 'must be a table of [modules.<name>] tables');
  const out: Record<string, string[]> = {};
  for (const [name, table] of Object.entries(modules)) {
    if (!isTable(table)) throw invalid(`modules.${name}`, 'must be a table');
    const match = table.match;
    if (!Array.isArray(match) || match.length === 0 || !match.every((m) => typeof m === 'string' && m !== '')) {
      throw invalid(`modules.${name}.match`, 'must be a non-empty array of tensor-name patterns');
    }
    out[name] = match as string[];
  }
  return out;
}

const SUITE_KEYS = [
  'name',
  'command',
  'examples',
  'score_range',
  'role',
  'min_improvement',
  'tolerance',
  'timeout',
  'modules',
] as const;

function parseSuite(raw: unknown, index: number, modules: Record<string, string[]>): SuiteConfig {
  const where = `gate.suites[${index}]`;
  if (!isTable(raw)) throw invalid(where, 'must be a table ([[gate.suites]])');
  checkKeys(raw, SUITE_KEYS, where);
  if (typeof raw.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(raw.name)) {
    throw invalid(`${where}.name`, `must be 1–64 letters, digits, '.', '_' or '-', got ${show(raw.name)}`);
  }
  const name = raw.name;
  const at = `gate.suites[${index}] (${name})`;
  if (typeof raw.command !== 'string' || raw.command.trim() === '') {
    throw invalid(`${at}.command`, 'must be a non-empty shell command');
  }
  let examples: SuiteConfig['examples'];
  if (typeof raw.examples === 'number') examples = { count: integer(raw.examples, `${at}.examples`, 1, MAX_EXAMPLES) };
  else if (typeof raw.examples === 'string') examples = { path: relativePath(raw.examples, `${at}.examples`) };
  else
    throw invalid(
      `${at}.examples`,
      `must be a count of examples or a path to a file of ids, got ${show(raw.examples)}`,
    );
  const range = raw.score_range ?? [0, 1];
  if (!Array.isArray(range) || range.length !== 2) throw invalid(`${at}.score_range`, 'must be [lo, hi]');
  const lo = finite(range[0], `${at}.score_range`);
  const hi = finite(range[1], `${at}.score_range`);
  if (!(hi > lo)) throw invalid(`${at}.score_range`, `must have lo < hi, got [${lo}, ${hi}]`);
  const role = raw.role ?? 'target';
  if (role !== 'target' && role !== 'guard')
    throw invalid(`${at}.role`, `must be "target" or "guard", got ${show(role)}`);
  if (role === 'target' && raw.tolerance !== undefined) throw invalid(`${at}.tolerance`, 'applies to guards only');
  if (role === 'guard' && raw.min_improvement !== undefined) {
    throw invalid(`${at}.min_improvement`, 'applies to targets only');
  }
  const R = hi - lo;
  const minImprovement = raw.min_improvement === undefined ? 0 : finite(raw.min_improvement, `${at}.min_improvement`);
  if (minImprovement <= -R || minImprovement >= R) {
    throw invalid(`${at}.min_improvement`, `must be inside (−${R}, ${R}) for score_range [${lo}, ${hi}]`);
  }
  const tolerance = raw.tolerance === undefined ? 0 : finite(raw.tolerance, `${at}.tolerance`);
  if (tolerance < 0 || tolerance >= R) throw invalid(`${at}.tolerance`, `must be in [0, ${R}), got ${tolerance}`);
  const timeoutSeconds = raw.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : finite(raw.timeout, `${at}.timeout`);
  if (!(timeoutSeconds > 0 && timeoutSeconds <= MAX_TIMEOUT_SECONDS)) {
    throw invalid(`${at}.timeout`, `must be seconds in (0, ${MAX_TIMEOUT_SECONDS}], got ${timeoutSeconds}`);
  }
  const suiteModules = raw.modules ?? [];
  if (!Array.isArray(suiteModules) || !suiteModules.every((m) => typeof m === 'string')) {
    throw invalid(`${at}.modules`, 'must be an array of module names');
  }
  for (const m of suiteModules as string[]) {
    if (!Object.hasOwn(modules, m))
      throw invalid(`${at}.modules`, `names module ${show(m)}, which has no [modules.${m}]`);
  }
  return {
    name,
    command: raw.command,
    examples,
    scoreRange: [lo, hi],
    role,
    minImprovement,
    tolerance,
    timeoutSeconds,
    modules: suiteModules as string[],
  };
}

/**
 * The validated `[gate]` settings of a parsed config document, or `undefined` when it has no `[gate]`.
 * Defaults: alpha 0.05, batch 32, seed 0, no budget; per suite score_range [0, 1], role target,
 * min_improvement 0, tolerance 0, timeout 600 s. Throws UsageError CONFIG_INVALID naming the bad key.
 *
 * @example
 * parseGateConfig({ gate: { suites: [{ name: 'digits', command: 'node eval.mjs', examples: 540 }] } })
 *   ?.suites[0]?.examples // { count: 540 }
 */
export function parseGateConfig(doc: Record<string, unknown>): GateConfig | undefined {
  const gate = doc.gate;
  if (gate === undefined) return undefined;
  if (!isTable(gate)) throw invalid('gate', 'must be a table');
  checkKeys(gate, ['alpha', 'batch', 'seed', 'budget', 'suites'], 'gate');
  const alpha = gate.alpha === undefined ? 0.05 : finite(gate.alpha, 'gate.alpha');
  if (!(alpha > 0 && alpha < 0.5)) throw invalid('gate.alpha', `must be in (0, 0.5), got ${alpha}`);
  const batch = gate.batch === undefined ? 32 : integer(gate.batch, 'gate.batch', 1, MAX_BATCH);
  const seed = gate.seed === undefined ? 0 : integer(gate.seed, 'gate.seed', 0, Number.MAX_SAFE_INTEGER);
  const budget =
    gate.budget === undefined ? undefined : integer(gate.budget, 'gate.budget', 1, Number.MAX_SAFE_INTEGER);
  const modules = parseModules(doc);
  if (!Array.isArray(gate.suites) || gate.suites.length === 0) {
    throw invalid('gate.suites', 'must list at least one [[gate.suites]]');
  }
  if (gate.suites.length > MAX_SUITES)
    throw invalid('gate.suites', `lists ${gate.suites.length} suites; the limit is ${MAX_SUITES}`);
  const suites = gate.suites.map((s, i) => parseSuite(s, i, modules));
  const seen = new Set<string>();
  for (const s of suites) {
    if (seen.has(s.name)) throw invalid('gate.suites', `has two suites named ${show(s.name)}`);
    seen.add(s.name);
  }
  return { alpha, batch, seed, budget, suites, modules };
}

/** Example ids longer than this are refused (they are written to a file per batch and echoed back). */
const MAX_ID_LENGTH = 1024;

/**
 * The example ids of a suite's id file: one per line, surrounding spaces trimmed, blank lines skipped; an
 * empty file, a duplicate, an over-long id or more than MAX_EXAMPLES ids is CONFIG_INVALID naming the line.
 *
 * @example parseExampleIds({ text: 'a\nb\n', path: 'eval/ids.txt' }) // ['a', 'b']
 */
export function parseExampleIds(options: { text: string; path: string }): string[] {
  const { text, path } = options;
  const ids: string[] = [];
  const seen = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const id = lines[i]!.trim();
    if (id === '') continue;
    const where = `${path}: line ${i + 1}`;
    if (id.length > MAX_ID_LENGTH)
      throw new UsageError('CONFIG_INVALID', `${where}: id longer than ${MAX_ID_LENGTH} characters`, { file: path });
    if (seen.has(id))
      throw new UsageError('CONFIG_INVALID', `${where}: duplicate id ${JSON.stringify(id)}`, { file: path });
    if (ids.length >= MAX_EXAMPLES)
      throw new UsageError('CONFIG_INVALID', `${where}: more than ${MAX_EXAMPLES} ids`, { file: path });
    seen.add(id);
    ids.push(id);
  }
  if (ids.length === 0) throw new UsageError('CONFIG_INVALID', `${path}: no example ids`, { file: path });
  return ids;
}

/** The ids of a `count` suite: "0" … "N−1". */
export function countExampleIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(i));
}

/**
 * Whether a tensor name matches a module pattern: `*` matches any run of characters (dots included), `?`
 * one character, everything else itself. (A local matcher, so the gate does not depend on merge policies.)
 *
 * @example matchesPattern('experts.3.*', 'experts.3.w1.weight') // true
 */
export function matchesPattern(pattern: string, name: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(name);
}

/**
 * Which suites a change must run: when every changed tensor belongs to some module, the targets covering
 * one of those modules (or the whole model, `modules = []`) plus every guard; otherwise every suite.
 * `changedTensors = undefined` means the change is not only tensors (files added, frames changed): all suites.
 *
 * @example scopeSuites({ config, changedTensors: ['adapters.math.w'] }).map((s) => s.name)
 */
export function scopeSuites(options: {
  config: GateConfig;
  changedTensors: readonly string[] | undefined;
}): SuiteConfig[] {
  const { config, changedTensors } = options;
  if (changedTensors === undefined) return config.suites;
  const touched = new Set<string>();
  for (const tensor of changedTensors) {
    const owners = Object.entries(config.modules)
      .filter(([, patterns]) => patterns.some((p) => matchesPattern(p, tensor)))
      .map(([name]) => name);
    if (owners.length === 0) return config.suites;
    for (const o of owners) touched.add(o);
  }
  return config.suites.filter(
    (s) => s.role === 'guard' || s.modules.length === 0 || s.modules.some((m) => touched.has(m)),
  );
}
