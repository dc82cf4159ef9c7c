// One merge-queue job, in a private temp folder: clone the hub's bare repository, merge a proposal onto main with
// the repository's policy (git's merge + Weft's driver), gate the result against main with main's evaluators, and
// on accept fast-forward main (objects first, then main and the evidence note in one atomic push). No DB access.

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { WeftError } from '../../errors.js';
import { runGit } from '../../git/run-git.js';
import { type GateReport, gateCandidate, readWeftNote, WEFT_NOTES_REF } from '../../ops/evaluate.js';
import { fetchObjects } from '../../ops/fetch.js';
import { initRepo } from '../../ops/init.js';
import { fetchNotes } from '../../ops/notes-sync.js';
import { forEachManifestInRange, objectsOfManifest, pushObjects } from '../../ops/push.js';
import { openRepo, type Repo } from '../../ops/repo.js';
import { listConflictedModels } from '../../ops/resolve.js';
import { configTable, readWeftConfig, writeWeftConfig } from '../../ops/weft-config.js';
import type { ObjectId } from '../../store/object-codec.js';

/** The branch proposals merge into. */
export const MAIN_BRANCH = 'main';
/** Proposal branches: `refs/heads/proposals/<name>`. */
export const PROPOSAL_PREFIX = 'refs/heads/proposals/';
/** Attempts to push the evidence note when someone else's note push races ours (main unchanged). */
const NOTE_PUSH_ATTEMPTS = 3;
/** Files a proposal may not change: they hold the gate that judges it and the merge policy that merges it. */
const PROTECTED_PATHS = ['.weft/config.toml'];
/** Variables the evaluator inherits from the server; nothing else (tokens, S3 keys) reaches repository code. */
const EVALUATOR_ENV_KEYS = ['PATH', 'LANG', 'LC_ALL', 'TZ'] as const;

/** Thrown inside a job when the queue is stopping; the job goes back to the queue. */
export class JobCancelled extends Error {
  constructor() {
    super('the merge queue is stopping');
  }
}

export interface MergeJobOptions {
  /** The hub's bare repository. */
  gitDir: string;
  proposal: string;
  /** The proposal branch's commit to merge. */
  head: string;
  /** A folder for this job's temp clone (created, and removed at the end). */
  workRoot: string;
  /** Shell command line running Weft (the merge driver and filter in the temp clone). */
  selfCommand: string;
  /** Upper bound of one evaluator call, whatever the suite's own `timeout` says. */
  evaluatorTimeoutMs: number;
  /** A persistent folder for the gate's score cache (main's scores are then computed once per version). */
  scoresDir?: string;
  /** Polled between steps and after every gate batch; true → the job throws JobCancelled. */
  isCancelled: () => boolean;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * Runs the ref update (the push to main and the notes) under the server's per-repository lock, so that the
   * server never sees the queue's ref change as part of a client's push (default: no lock; git's lease suffices).
   */
  withRefLock?: <T>(gitDir: string, fn: () => Promise<T>) => Promise<T>;
}

/** What a job decided. `retry`: main moved before the push; run the job again against the new main. */
export type MergeJobResult =
  | {
      kind: 'merged';
      baseCommit: string;
      mergedCommit: string;
      evidence: Record<string, unknown> | null;
      message?: string;
      bytesAdded: number;
      mergeBytes: number;
    }
  | {
      kind: 'rejected' | 'inconclusive';
      baseCommit: string;
      mergedCommit: string;
      evidence: Record<string, unknown>;
      bytesAdded: number;
      mergeBytes: number;
    }
  | { kind: 'conflicted'; baseCommit: string; conflicts: unknown[]; message: string; bytesAdded: number }
  | { kind: 'retry'; baseCommit: string; message: string }
  | { kind: 'error'; message: string; baseCommit?: string };

/** git's environment for the job: none of the caller's GIT_* redirections, manifests left as they are. */
function gitEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {
    WEFT_SKIP_SMUDGE: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Weft merge queue',
    GIT_AUTHOR_EMAIL: 'merge-queue@weft.invalid',
    GIT_COMMITTER_NAME: 'Weft merge queue',
    GIT_COMMITTER_EMAIL: 'merge-queue@weft.invalid',
  };
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('GIT_') && !(key in env)) env[key] = undefined;
  }
  return env;
}

async function git(cwd: string, args: string[], allowedExitCodes: number[] = [0]) {
  const r = await runGit(args, { cwd, env: gitEnv(), allowedExitCodes });
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

async function revParse(cwd: string, rev: string): Promise<string | undefined> {
  const r = await git(cwd, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], [0, 1, 128]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * Stored bytes of the objects named by manifests reachable from `include` and by none reachable from `exclude`:
 * sizes in the local store (`repo`) or in the hub's bare repository (`gitDir`, its `lfs/objects`).
 */
async function bytesOfRange(options: {
  cwd: string;
  include: string[];
  exclude: string[];
  repo?: Repo;
  gitDir?: string;
}): Promise<number> {
  const excluded = new Set<string>();
  if (options.exclude.length > 0) {
    await forEachManifestInRange({ cwd: options.cwd, include: options.exclude, exclude: [] }, ({ manifest }) => {
      for (const id of objectsOfManifest(manifest)) excluded.add(id);
    });
  }
  const ids = new Set<ObjectId>();
  await forEachManifestInRange(
    { cwd: options.cwd, include: options.include, exclude: options.exclude },
    ({ manifest }) => {
      for (const id of objectsOfManifest(manifest)) if (!excluded.has(id)) ids.add(id);
    },
  );
  let total = 0;
  for (const id of ids) {
    if (options.repo) total += (await options.repo.store.statObject(id))?.storedBytes ?? 0;
    else if (options.gitDir) {
      const file = join(options.gitDir, 'lfs', 'objects', id.slice(0, 2), id.slice(2, 4), id);
      total += await stat(file).then(
        (st) => st.size,
        () => 0,
      );
    }
  }
  return total;
}

/**
 * A hash of the checked-out commit's files that are not Weft-tracked models (evaluators, data, config): what,
 * besides the models, decides a score.
 */
async function judgeTreeHash(work: string): Promise<string> {
  const entries = (await git(work, ['ls-files', '-s', '-z'])).stdout.split('\0').filter(Boolean);
  const paths = entries.map((e) => e.slice(e.indexOf('\t') + 1));
  const attrs = await runGit(['check-attr', '-z', '--stdin', 'filter'], {
    cwd: work,
    env: gitEnv(),
    input: paths.map((p) => `${p}\0`).join(''),
  });
  const fields = attrs.stdout.toString('utf8').split('\0');
  const models = new Set<string>();
  for (let i = 0; i + 2 < fields.length; i += 3) if (fields[i + 2] === 'weft') models.add(fields[i]!);
  const hash = createHash('sha256');
  for (let i = 0; i < entries.length; i++) if (!models.has(paths[i]!)) hash.update(`${entries[i]}\n`);
  return hash.digest('hex').slice(0, 16);
}

/**
 * Caps every suite's per-batch `timeout` in the temp clone's (uncommitted) config at the queue's limit, so that
 * a hung evaluator is killed (with its process group) by the gate's own timeout handling.
 */
async function capEvaluatorTimeouts(repo: Repo, limitMs: number): Promise<void> {
  const config = await readWeftConfig({ topLevel: repo.topLevel });
  const gate = configTable(config, 'gate', '.weft/config.toml');
  const suites = gate?.suites;
  if (!Array.isArray(suites)) return;
  const limit = Math.max(1, Math.floor(limitMs / 1000));
  for (const suite of suites) {
    if (typeof suite !== 'object' || suite === null) continue;
    const s = suite as Record<string, unknown>;
    s.timeout = typeof s.timeout === 'number' ? Math.min(s.timeout, limit) : limit;
  }
  await writeWeftConfig({ topLevel: repo.topLevel, config });
}

function evaluatorEnv(home: string): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { HOME: home };
  for (const key of EVALUATOR_ENV_KEYS) if (process.env[key] !== undefined) env[key] = process.env[key];
  return env;
}

/** The gate report as stored evidence (JSON-safe; what the API and the note show). */
function evidenceOf(report: GateReport): Record<string, unknown> {
  return JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
}

/** The conflict report of a failed merge: per model file, per tensor; other files by path. */
async function conflictReport(repo: Repo): Promise<unknown[]> {
  const models = await listConflictedModels({ repo, withReports: true });
  const out: unknown[] = models.map((m) => ({ path: m.path, conflicts: m.conflicts }));
  const unmerged = (await git(repo.topLevel, ['diff', '--name-only', '--diff-filter=U'])).stdout
    .split('\n')
    .filter(Boolean);
  const modelPaths = new Set(models.map((m) => m.path));
  for (const path of unmerged) {
    if (!modelPaths.has(path)) out.push({ path, conflicts: [{ reason: 'file changed on both sides (not a model)' }] });
  }
  return out;
}

/**
 * Moves main to the merged commit and pushes the notes, in one atomic push leased on `baseCommit`. Undefined when
 * pushed; a `retry` result when main moved; an error when the notes push keeps failing.
 */
async function pushMain(
  work: string,
  repo: Repo,
  baseCommit: string,
  mergedCommit: string,
): Promise<MergeJobResult | undefined> {
  for (let attempt = 1; ; attempt++) {
    await fetchNotes({ repo, remote: 'origin' });
    const push = await git(
      work,
      [
        'push',
        '--quiet',
        '--atomic',
        '--no-verify',
        `--force-with-lease=refs/heads/${MAIN_BRANCH}:${baseCommit}`,
        'origin',
        `${mergedCommit}:refs/heads/${MAIN_BRANCH}`,
        `${WEFT_NOTES_REF}:${WEFT_NOTES_REF}`,
      ],
      [0, 1, 128],
    );
    if (push.code === 0) return undefined;
    const now = (await git(work, ['ls-remote', 'origin', `refs/heads/${MAIN_BRANCH}`])).stdout.split(/\s/)[0];
    if (now !== baseCommit) {
      return { kind: 'retry', baseCommit, message: `${MAIN_BRANCH} moved to ${now} during the job` };
    }
    if (attempt >= NOTE_PUSH_ATTEMPTS) {
      return { kind: 'error', baseCommit, message: `push to ${MAIN_BRANCH} failed: ${push.stderr.trim()}` };
    }
  }
}

/**
 * Runs one job to its outcome. Never throws for the proposal's own problems (bad config, evaluator failure,
 * timeout, conflict): they are outcomes. Throws JobCancelled when `isCancelled()` turned true before the push.
 *
 * @example
 * const r = await runMergeJob({ gitDir, proposal: 'better', head, workRoot, selfCommand, evaluatorTimeoutMs: 60_000,
 *   isCancelled: () => false });
 */
export async function runMergeJob(options: MergeJobOptions): Promise<MergeJobResult> {
  await mkdir(options.workRoot, { recursive: true });
  const temp = await mkdtemp(join(options.workRoot, 'job-'));
  try {
    return await runInTemp(options, temp);
  } catch (error) {
    if (error instanceof JobCancelled) throw error;
    const message = error instanceof WeftError || error instanceof Error ? error.message : String(error);
    return { kind: 'error', message };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

async function runInTemp(options: MergeJobOptions, temp: string): Promise<MergeJobResult> {
  const { proposal, head } = options;
  const checkpoint = () => {
    if (options.isCancelled()) throw new JobCancelled();
  };
  const log = options.log ?? (() => {});
  const work = join(temp, 'work');
  await git(temp, ['clone', '--quiet', '--no-tags', '--', options.gitDir, work]);
  const baseCommit = await revParse(work, `refs/remotes/origin/${MAIN_BRANCH}`);
  if (!baseCommit) return { kind: 'error', message: `the repository has no ${MAIN_BRANCH} branch to merge into` };
  if (!(await revParse(work, head))) {
    return { kind: 'error', baseCommit, message: `proposal ${proposal}: commit ${head} is not in the repository` };
  }
  const mergeBase = (await git(work, ['merge-base', baseCommit, head], [0, 1])).stdout.trim();
  const touched = (
    await git(work, ['diff', '--name-only', mergeBase || baseCommit, head, '--', ...PROTECTED_PATHS])
  ).stdout
    .split('\n')
    .filter(Boolean);
  if (touched.length > 0) {
    return {
      kind: 'error',
      baseCommit,
      message: `proposal ${proposal} changes ${touched.join(', ')} (the gate and merge policy judge proposals, so a proposal may not change them; push that change to ${MAIN_BRANCH} directly)`,
    };
  }
  if ((await git(work, ['merge-base', '--is-ancestor', head, baseCommit], [0, 1])).code === 0) {
    return {
      kind: 'merged',
      baseCommit,
      mergedCommit: baseCommit,
      evidence: null,
      message: `${head} is already in ${MAIN_BRANCH}`,
      bytesAdded: 0,
      mergeBytes: 0,
    };
  }
  await git(work, ['checkout', '--quiet', '-B', MAIN_BRANCH, baseCommit]);
  await initRepo({ cwd: work, selfCommand: options.selfCommand });
  const repo = await openRepo({ cwd: work });
  if (options.scoresDir) {
    // Scores are cached by model content and suite command, not by the evaluator's code: key the folder by
    // main's other files too, so that a new evaluator (or data) on main starts a fresh cache.
    const scores = join(options.scoresDir, await judgeTreeHash(work));
    await mkdir(scores, { recursive: true });
    await symlink(scores, join(repo.weftDir, 'scores'), 'dir');
  }
  checkpoint();
  // The merge base's objects too: a tensor changed on both sides is merged from the three versions.
  await fetchObjects({ repo, remote: 'origin', refs: mergeBase ? [baseCommit, head, mergeBase] : [baseCommit, head] });
  const bytesAdded = await bytesOfRange({ cwd: work, include: [head], exclude: [baseCommit], gitDir: options.gitDir });
  checkpoint();

  const merge = await git(
    work,
    ['merge', '--no-edit', '-m', `Merge proposal '${proposal}' (${head.slice(0, 12)})`, head],
    [0, 1, 2, 128],
  );
  if (merge.code !== 0) {
    const conflicts = await conflictReport(repo);
    if (conflicts.length === 0) {
      return { kind: 'error', baseCommit, message: `git merge failed: ${merge.stderr.trim() || merge.stdout.trim()}` };
    }
    log('merge conflicted', { proposal, files: conflicts.length });
    const text = `${merge.stdout}\n${merge.stderr}`.trim().split('\n').slice(-20).join('\n');
    return { kind: 'conflicted', baseCommit, conflicts, message: text, bytesAdded };
  }
  const mergedCommit = (await revParse(work, 'HEAD'))!;
  const mergeBytes =
    mergedCommit === head
      ? 0
      : await bytesOfRange({ cwd: work, include: [mergedCommit], exclude: [baseCommit, head], repo });
  checkpoint();

  // The gate runs in main's work tree: main's config and evaluators judge the proposal, never its own.
  await git(work, ['checkout', '--quiet', '--detach', baseCommit]);
  await capEvaluatorTimeouts(repo, options.evaluatorTimeoutMs);
  const home = join(temp, 'home');
  await mkdir(home);
  let report: GateReport;
  try {
    report = await gateCandidate({
      repo,
      candidate: mergedCommit,
      baseline: baseCommit,
      env: evaluatorEnv(home),
      onProgress: checkpoint,
    });
  } catch (error) {
    if (error instanceof JobCancelled) throw error;
    return { kind: 'error', baseCommit, message: `gate: ${(error as Error).message}` };
  }
  const evidence = evidenceOf(report);
  log('gate decided', { proposal, decision: report.decision, examples: report.examplesUsed });
  if (report.decision !== 'accept') {
    const kind = report.decision === 'reject' ? 'rejected' : 'inconclusive';
    return { kind, baseCommit, mergedCommit, evidence, bytesAdded, mergeBytes };
  }
  // Record which proposal the merged commit came from beside the gate's record, in the same note.
  const note = await readWeftNote({ repo, commit: mergedCommit });
  note.proposal = { name: proposal, head, base: baseCommit };
  await git(work, ['notes', '--ref', WEFT_NOTES_REF, 'add', '-f', '-m', JSON.stringify(note), mergedCommit]);
  checkpoint();

  await pushObjects({ repo, remote: 'origin', refs: [mergedCommit] });
  const lock = options.withRefLock ?? (<T>(_gitDir: string, fn: () => Promise<T>) => fn());
  const pushed = await lock(options.gitDir, () => pushMain(work, repo, baseCommit, mergedCommit));
  if (pushed) return pushed;
  log('merged', { proposal, mergedCommit });
  return { kind: 'merged', baseCommit, mergedCommit, evidence, bytesAdded, mergeBytes };
}
