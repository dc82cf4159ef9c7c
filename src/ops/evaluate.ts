// `weft eval` and `weft gate`: score model versions with the repository's evaluators (cached per model content,
// suite definition and example id), decide gates sequentially, and record results as notes under refs/notes/weft.

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { EmpiricalBernsteinCS } from '../eval/confidence-sequence.js';
import {
  countExampleIds,
  type GateConfig,
  parseExampleIds,
  parseGateConfig,
  type SuiteConfig,
  scopeSuites,
} from '../eval/gate-config.js';
import { permuteIds } from '../eval/permutation.js';
import { type GateOutcome, runSequentialGate } from '../eval/run-gate.js';
import type { GateDecision, SuiteSummary } from '../eval/sequential-suite.js';
import { type HalvingRound, successiveHalving } from '../eval/successive-halving.js';
import { runGit } from '../git/run-git.js';
import {
  listChangedTensors,
  type MaterializedModel,
  type ModelVersion,
  materializeModel,
  resolveModelVersion,
} from './eval-model.js';
import { runEvaluatorBatch } from './eval-runner.js';
import { ScoreCache } from './eval-score-cache.js';
import type { Repo } from './repo.js';
import { readWeftConfig, WEFT_CONFIG_PATH } from './weft-config.js';

/** The notes ref holding evaluation results (pushed and fetched like any ref: `git push origin refs/notes/weft`). */
export const WEFT_NOTES_REF = 'refs/notes/weft';
/** Gate records kept per commit note; older ones are dropped (a note is rewritten whole on every gate). */
const MAX_GATES_PER_NOTE = 20;

/**
 * The identity of a suite for the score cache: its command, examples and score range. Changing any of these
 * (e.g. adding `--v2` to the command after editing the evaluator) starts a fresh cache.
 */
export function suiteDefinitionHash(suite: SuiteConfig): string {
  const definition = { command: suite.command, examples: suite.examples, scoreRange: suite.scoreRange };
  return createHash('sha256').update(JSON.stringify(definition)).digest('hex').slice(0, 32);
}

/** Reads and validates `[gate]` from the work tree's `.weft/config.toml`; UsageError when there is none. */
export async function readGateConfig(options: { repo: Repo }): Promise<GateConfig> {
  const config = parseGateConfig(await readWeftConfig({ topLevel: options.repo.topLevel }));
  if (!config) {
    throw new UsageError(
      'CONFIG_INVALID',
      `${WEFT_CONFIG_PATH}: no [gate] section; see 'weft gate --help' for an example`,
      {
        file: WEFT_CONFIG_PATH,
      },
    );
  }
  return config;
}

/** A suite's example ids: 0..N−1, or the ids file (read from the work tree). */
async function readSuiteIds(repo: Repo, suite: SuiteConfig): Promise<string[]> {
  if ('count' in suite.examples) return countExampleIds(suite.examples.count);
  const path = suite.examples.path;
  let text: string;
  try {
    text = await readFile(join(repo.topLevel, path), 'utf8');
  } catch (error) {
    throw new UsageError(
      'CONFIG_INVALID',
      `${WEFT_CONFIG_PATH}: suite ${suite.name}: cannot read examples file ${path}: ${(error as Error).message}`,
      {
        file: path,
        cause: error,
      },
    );
  }
  return parseExampleIds({ text, path });
}

/** Progress of an evaluation: after every batch scored or read from the cache. */
export type EvalProgress =
  | { kind: 'gate'; suite: SuiteSummary }
  | { kind: 'eval'; suite: string; model: string; done: number; total: number };

/** A model version materialised on first need and removed at the end. */
class LazyModel {
  private materialized: Promise<MaterializedModel> | undefined;
  constructor(
    private readonly repo: Repo,
    readonly version: ModelVersion,
  ) {}
  path(): Promise<string> {
    this.materialized ??= materializeModel({ repo: this.repo, version: this.version });
    return this.materialized.then((m) => m.modelPath);
  }
  async remove(): Promise<void> {
    if (this.materialized) await (await this.materialized.catch(() => undefined))?.remove();
  }
}

/** Scores of models on suites through the cache; runs the evaluator only on ids never scored for that model. */
class Scorer {
  evaluatorCalls = 0;
  private readonly cache: ScoreCache;
  private readonly known = new Map<string, Map<string, number>>();
  private readonly batches = new Map<string, number>();

  constructor(
    private readonly repo: Repo,
    private readonly config: GateConfig,
    private readonly tempDir: string,
    private readonly env: Record<string, string | undefined>,
    private readonly onStderr?: ((text: string) => void) | undefined,
  ) {
    this.cache = new ScoreCache(repo.weftDir);
  }

  private async scoresOf(model: LazyModel, hash: string): Promise<Map<string, number>> {
    const key = `${model.version.key}/${hash}`;
    let map = this.known.get(key);
    if (!map) {
      map = await this.cache.read(model.version.key, hash);
      this.known.set(key, map);
    }
    return map;
  }

  /** The model's scores for `ids` on `suite`, in order. */
  async score(model: LazyModel, suite: SuiteConfig, ids: readonly string[]): Promise<number[]> {
    const hash = suiteDefinitionHash(suite);
    const known = await this.scoresOf(model, hash);
    const missing = ids.filter((id) => !known.has(id));
    for (let at = 0; at < missing.length; at += this.config.batch) {
      const batchIds = missing.slice(at, at + this.config.batch);
      const batchNumber = (this.batches.get(suite.name) ?? 0) + 1;
      this.batches.set(suite.name, batchNumber);
      const scores = await runEvaluatorBatch({
        suite,
        batchNumber,
        ids: batchIds,
        modelPath: await model.path(),
        cwd: this.repo.topLevel,
        tempDir: this.tempDir,
        env: this.env,
        onStderr: this.onStderr,
      });
      this.evaluatorCalls++;
      await this.cache.append(model.version.key, hash, batchIds, scores);
      for (let i = 0; i < batchIds.length; i++) known.set(batchIds[i]!, scores[i]!);
    }
    return ids.map((id) => known.get(id)!);
  }
}

async function withWorkspace<T>(repo: Repo, models: LazyModel[], body: (tempDir: string) => Promise<T>): Promise<T> {
  const root = join(repo.weftDir, 'tmp');
  await mkdir(root, { recursive: true });
  const tempDir = await mkdtemp(join(root, 'eval-ids-'));
  try {
    return await body(tempDir);
  } finally {
    for (const m of models) await m.remove();
    await rm(tempDir, { recursive: true, force: true });
  }
}

/** Reads the JSON note of a commit under refs/notes/weft (an empty record when there is none or it is not JSON). */
export async function readWeftNote(options: { repo: Repo; commit: string }): Promise<Record<string, unknown>> {
  const r = await runGit(['notes', '--ref', WEFT_NOTES_REF, 'show', options.commit], {
    cwd: options.repo.topLevel,
    allowedExitCodes: [0, 1],
  });
  if (r.code !== 0) return {};
  try {
    const value = JSON.parse(r.stdout.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

async function updateWeftNote(
  repo: Repo,
  commit: string,
  update: (note: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const note = update(await readWeftNote({ repo, commit }));
  await runGit(['notes', '--ref', WEFT_NOTES_REF, 'add', '-f', '-F', '-', commit], {
    cwd: repo.topLevel,
    input: `${JSON.stringify(note)}\n`,
  });
}

export interface EvalSuiteResult {
  suite: string;
  /** Mean score over all examples. */
  mean: number;
  /** A (1 − alpha) confidence interval for the suite's population mean (empirical-Bernstein CS at n). */
  lower: number;
  upper: number;
  n: number;
  alpha: number;
  scoreRange: [number, number];
  /** Evaluator processes run for this suite (0 when every score came from the cache). */
  evaluatorCalls: number;
}

export interface EvalResult {
  rev: string;
  commit: string;
  modelKey: string;
  suites: EvalSuiteResult[];
  seconds: number;
}

/**
 * Scores a model version on every example of every suite (or the one named), through the cache, and writes the
 * summary (mean, interval, n per suite) into the commit's note under refs/notes/weft.
 *
 * @example const result = await evaluateRevision({ repo, rev: 'HEAD' });
 */
export async function evaluateRevision(options: {
  repo: Repo;
  rev: string;
  /** Only these suites (default: all). */
  suites?: string[] | undefined;
  env?: Record<string, string | undefined>;
  onProgress?: (p: EvalProgress) => void;
  /** Receives the evaluators' stderr as it arrives. */
  onEvaluatorStderr?: (text: string) => void;
}): Promise<EvalResult> {
  const { repo } = options;
  const started = performance.now();
  const config = await readGateConfig({ repo });
  const suites = selectSuites(config.suites, options.suites);
  const model = new LazyModel(repo, await resolveModelVersion({ repo, rev: options.rev }));
  const results = await withWorkspace(repo, [model], async (tempDir) => {
    const scorer = new Scorer(repo, config, tempDir, options.env ?? process.env, options.onEvaluatorStderr);
    const out: EvalSuiteResult[] = [];
    for (const suite of suites) {
      const before = scorer.evaluatorCalls;
      const ids = permuteIds({ ids: await readSuiteIds(repo, suite), seed: config.seed });
      const [lo, hi] = suite.scoreRange;
      const cs = new EmpiricalBernsteinCS({ alpha: config.alpha });
      let sum = 0;
      for (let at = 0; at < ids.length; at += config.batch) {
        const scores = await scorer.score(model, suite, ids.slice(at, at + config.batch));
        for (const s of scores) {
          sum += s;
          cs.push((s - lo) / (hi - lo));
        }
        options.onProgress?.({
          kind: 'eval',
          suite: suite.name,
          model: options.rev,
          done: Math.min(at + config.batch, ids.length),
          total: ids.length,
        });
      }
      out.push({
        suite: suite.name,
        mean: sum / ids.length,
        lower: lo + cs.lower * (hi - lo),
        upper: lo + cs.upper * (hi - lo),
        n: ids.length,
        alpha: config.alpha,
        scoreRange: [lo, hi],
        evaluatorCalls: scorer.evaluatorCalls - before,
      });
    }
    return out;
  });
  const { commit, key } = model.version;
  const at = new Date().toISOString();
  await updateWeftNote(repo, commit, (note) => {
    const evals = { ...((note.eval as Record<string, unknown> | undefined) ?? {}) };
    for (const r of results) {
      evals[r.suite] = {
        mean: r.mean,
        lower: r.lower,
        upper: r.upper,
        n: r.n,
        alpha: r.alpha,
        model: key,
        suiteHash: suiteDefinitionHash(suites.find((s) => s.name === r.suite)!),
        at,
      };
    }
    return { ...note, weft: 1, eval: evals };
  });
  return { rev: options.rev, commit, modelKey: key, suites: results, seconds: (performance.now() - started) / 1000 };
}

function selectSuites(suites: SuiteConfig[], wanted: string[] | undefined): SuiteConfig[] {
  if (wanted === undefined || wanted.length === 0) return suites;
  for (const n of wanted) {
    if (!suites.some((s) => s.name === n)) {
      throw new UsageError(
        'USAGE_NOT_FOUND',
        `${WEFT_CONFIG_PATH}: no suite named ${JSON.stringify(n)} (suites: ${suites.map((s) => s.name).join(', ')})`,
      );
    }
  }
  return suites.filter((s) => wanted.includes(s.name));
}

export interface TuneScoresResult {
  /** Index into `candidates` of the best setting. */
  winner: number;
  /** Successive-halving rounds: examples per surviving setting, mean scores (scaled to [0, 1]), kept settings. */
  rounds: HalvingRound[];
  /** The target suites the settings were scored on. */
  suites: string[];
  evaluatorCalls: number;
}

/**
 * Picks the best of several candidate commits by the gate's target suites, by successive halving (EVALUATION.md):
 * the suites' ids (each in the gate's seeded order) are interleaved, every score is scaled to [0, 1] by its
 * suite's range, and scores go through the same cache as `weft eval` (per model content, suite and id). Notes
 * are not written: the candidates are usually unreferenced commits. UsageError when the gate has no target.
 *
 * @example const { winner } = await scoreCandidatesByHalving({ repo, candidates: [commitA, commitB] });
 */
export async function scoreCandidatesByHalving(options: {
  repo: Repo;
  /** Revisions (commit ids work, referenced or not). */
  candidates: readonly string[];
  env?: Record<string, string | undefined>;
  onEvaluatorStderr?: (text: string) => void;
}): Promise<TuneScoresResult> {
  const { repo } = options;
  const config = await readGateConfig({ repo });
  const targets = config.suites.filter((s) => s.role === 'target');
  if (targets.length === 0) {
    throw new UsageError('CONFIG_INVALID', `${WEFT_CONFIG_PATH}: [gate] has no target suite to tune by`, {
      file: WEFT_CONFIG_PATH,
    });
  }
  const models = await Promise.all(
    options.candidates.map(async (rev) => new LazyModel(repo, await resolveModelVersion({ repo, rev }))),
  );
  const perSuite = await Promise.all(
    targets.map(async (s) => permuteIds({ ids: await readSuiteIds(repo, s), seed: config.seed })),
  );
  // Round-robin over the suites, so every prefix weighs them alike; an id names its suite by index.
  const ids: string[] = [];
  for (let i = 0; perSuite.some((l) => i < l.length); i++) {
    perSuite.forEach((l, k) => {
      if (i < l.length) ids.push(`${k}\0${l[i]}`);
    });
  }
  return withWorkspace(repo, models, async (tempDir) => {
    const scorer = new Scorer(repo, config, tempDir, options.env ?? process.env, options.onEvaluatorStderr);
    const halving = await successiveHalving({
      settings: models.length,
      ids,
      initialExamples: config.batch,
      score: async (k, chosen) => {
        const out = new Array<number>(chosen.length);
        for (let s = 0; s < targets.length; s++) {
          const at = chosen.flatMap((id, i) => (id.startsWith(`${s}\0`) ? [i] : []));
          if (at.length === 0) continue;
          const suite = targets[s]!;
          const [lo, hi] = suite.scoreRange;
          const scores = await scorer.score(
            models[k]!,
            suite,
            at.map((i) => chosen[i]!.slice(chosen[i]!.indexOf('\0') + 1)),
          );
          at.forEach((i, j) => {
            out[i] = (scores[j]! - lo) / (hi - lo);
          });
        }
        return out;
      },
    });
    return { ...halving, suites: targets.map((s) => s.name), evaluatorCalls: scorer.evaluatorCalls };
  });
}

export interface GateReport extends GateOutcome {
  candidate: { rev: string; commit: string };
  baseline: { rev: string; commit: string };
  alpha: number;
  seed: number;
  batch: number;
  budget: number | undefined;
  /** Suites left out because the change touches none of their modules. */
  skipped: string[];
  evaluatorCalls: number;
  seconds: number;
}

/**
 * Gates a candidate against a baseline (default: the candidate's first parent): paired scores on the same
 * examples in one seeded order per suite, decided by anytime-valid confidence sequences (EVALUATION.md);
 * suites scoped by the modules the change touches. The decision and evidence are appended to the candidate's
 * note under refs/notes/weft. An evaluator failure throws (EVALUATOR_FAILED) and records nothing.
 *
 * @example const report = await gateCandidate({ repo, candidate: 'HEAD', baseline: 'main' }); report.decision
 */
export async function gateCandidate(options: {
  repo: Repo;
  candidate: string;
  baseline?: string | undefined;
  budget?: number | undefined;
  suites?: string[] | undefined;
  env?: Record<string, string | undefined>;
  onProgress?: (p: EvalProgress) => void;
  /** Receives the evaluators' stderr as it arrives. */
  onEvaluatorStderr?: (text: string) => void;
}): Promise<GateReport> {
  const { repo } = options;
  const started = performance.now();
  const config = await readGateConfig({ repo });
  const baselineRev = options.baseline ?? `${options.candidate}^`;
  const [candVersion, baseVersion] = await Promise.all([
    resolveModelVersion({ repo, rev: options.candidate }),
    resolveModelVersion({ repo, rev: baselineRev }),
  ]);
  const chosen = selectSuites(config.suites, options.suites);
  const scoped = scopeSuites({
    config: { ...config, suites: chosen },
    changedTensors: listChangedTensors(baseVersion, candVersion),
  });
  const budget = options.budget ?? config.budget;
  const candidate = new LazyModel(repo, candVersion);
  const baseline = new LazyModel(repo, baseVersion);
  let evaluatorCalls = 0;
  const outcome = await withWorkspace(repo, [candidate, baseline], async (tempDir) => {
    const scorer = new Scorer(repo, config, tempDir, options.env ?? process.env, options.onEvaluatorStderr);
    const plans = await Promise.all(
      scoped.map(async (s) => ({
        name: s.name,
        role: s.role,
        threshold: s.role === 'target' ? s.minImprovement : -s.tolerance,
        scoreRange: s.scoreRange,
        ids: permuteIds({ ids: await readSuiteIds(repo, s), seed: config.seed }),
      })),
    );
    const byName = new Map(scoped.map((s) => [s.name, s]));
    try {
      return await runSequentialGate({
        suites: plans,
        alpha: config.alpha,
        batch: config.batch,
        budget,
        scorePairs: async (plan, ids) => {
          const suite = byName.get(plan.name)!;
          const baselineScores = await scorer.score(baseline, suite, ids);
          const candidateScores = await scorer.score(candidate, suite, ids);
          return { candidate: candidateScores, baseline: baselineScores };
        },
        onBatch: (suite) => options.onProgress?.({ kind: 'gate', suite }),
      });
    } finally {
      evaluatorCalls = scorer.evaluatorCalls;
    }
  });
  const report: GateReport = {
    ...outcome,
    candidate: { rev: options.candidate, commit: candVersion.commit },
    baseline: { rev: baselineRev, commit: baseVersion.commit },
    alpha: config.alpha,
    seed: config.seed,
    batch: config.batch,
    budget,
    skipped: chosen.filter((s) => !scoped.includes(s)).map((s) => s.name),
    evaluatorCalls,
    seconds: (performance.now() - started) / 1000,
  };
  await updateWeftNote(repo, candVersion.commit, (note) => {
    const gates = Array.isArray(note.gates) ? note.gates : [];
    const record = { ...gateRecord(report), at: new Date().toISOString() };
    return { ...note, weft: 1, gates: [...gates, record].slice(-MAX_GATES_PER_NOTE) };
  });
  return report;
}

function gateRecord(r: GateReport): Record<string, unknown> {
  return {
    decision: r.decision satisfies GateDecision,
    baseline: r.baseline.commit,
    candidate: r.candidate.commit,
    alpha: r.alpha,
    seed: r.seed,
    batch: r.batch,
    budget: r.budget ?? null,
    method:
      'predictable plug-in empirical-Bernstein confidence sequence (Waudby-Smith & Ramdas 2024, Thm. 2), Bonferroni over suites',
    suites: r.suites,
    skipped: r.skipped,
    examplesUsed: r.examplesUsed,
    evaluatorCalls: r.evaluatorCalls,
    seconds: Math.round(r.seconds * 1000) / 1000,
  };
}
