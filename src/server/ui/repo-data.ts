// What the web UI shows of a hosted bare repository: the first-parent history of main with each version's gate
// and evaluation notes (refs/notes/weft), and a version's per-tensor change against its first parent (the
// library's `diffFile` with stats, reading manifests from git and objects from the repository's `lfs/objects`),
// cached on disk per commit pair. Reads only; never writes to the repository.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CatFileBatch, runGit } from '../../git/run-git.js';
import type { Manifest } from '../../manifest/manifest.js';
import { diffFile, type FileChange, fileVersionOf } from '../../ops/diff.js';
import { WEFT_NOTES_REF } from '../../ops/evaluate.js';
import { manifestOfBlob } from '../../ops/git-manifests.js';
import { ObjectStore } from '../../store/object-store.js';
import { type Heatmap, heatmapOf, layerModuleOf, type TensorChangeCell } from './layer-module.js';

/** Most commits one history request returns (blocks a request walking a huge history at once). */
export const MAX_HISTORY_COMMITS = 500;
/** Largest note read per commit (a note is written by anyone who can push notes: blocks huge JSON parses). */
const MAX_NOTE_CHARS = 1024 * 1024;
/** Largest blob read as a possible manifest (larger ones are not manifests): bounds memory per request. */
const MAX_MANIFEST_BLOB_BYTES = 64 * 1024 * 1024;
/** A commit id as the API accepts it: hex only, so it can never be read as an option or a revision expression. */
export const COMMIT_ID = /^[0-9a-f]{4,64}$/;
/** Version of the diff cache's file format (bumped when the cached shape changes). */
const CACHE_VERSION = 1;

/** One suite's absolute score recorded by `weft eval` (the note's `eval`). */
export interface VersionScore {
  suite: string;
  mean: number;
  lower: number | null;
  upper: number | null;
  n: number | null;
}

/** One suite of the latest gate run recorded on a version (the note's last `gates` entry). */
export interface GateSuiteEvidence {
  name: string;
  role: string | null;
  decision: string | null;
  /** Mean paired difference candidate − baseline. */
  estimate: number;
  lower: number | null;
  upper: number | null;
  threshold: number | null;
  used: number | null;
  available: number | null;
}

export interface VersionGate {
  decision: string;
  baseline: string | null;
  examplesUsed: number | null;
  at: string | null;
  suites: GateSuiteEvidence[];
}

export interface HistoryEntry {
  commit: string;
  parents: string[];
  author: string;
  date: string;
  /** The subject line. */
  message: string;
  scores: VersionScore[];
  gate: VersionGate | null;
  /** The proposal a queue merge came from. */
  proposal: { name: string; head: string | null; base: string | null } | null;
}

export interface RepoHistory {
  branch: string;
  /** Newest first. */
  commits: HistoryEntry[];
  truncated: boolean;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const record = (v: unknown): Record<string, unknown> | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** The UI's view of a commit's note: absolute scores, the latest gate run and the proposal (malformed parts dropped). */
export function summariseNote(text: string): Pick<HistoryEntry, 'scores' | 'gate' | 'proposal'> {
  const out: Pick<HistoryEntry, 'scores' | 'gate' | 'proposal'> = { scores: [], gate: null, proposal: null };
  let note: Record<string, unknown> | null = null;
  if (text.length > 0 && text.length <= MAX_NOTE_CHARS) {
    try {
      note = record(JSON.parse(text));
    } catch {
      note = null;
    }
  }
  if (!note) return out;
  for (const [suite, v] of Object.entries(record(note.eval) ?? {})) {
    const e = record(v);
    const mean = num(e?.mean);
    if (e && mean !== null) out.scores.push({ suite, mean, lower: num(e.lower), upper: num(e.upper), n: num(e.n) });
  }
  const gates = Array.isArray(note.gates) ? note.gates : [];
  const last = record(gates[gates.length - 1]);
  if (last && typeof last.decision === 'string') {
    const suites: GateSuiteEvidence[] = [];
    for (const s of Array.isArray(last.suites) ? last.suites : []) {
      const r = record(s);
      const estimate = num(r?.estimate);
      if (!r || typeof r.name !== 'string' || estimate === null) continue;
      suites.push({
        name: r.name,
        role: str(r.role),
        decision: str(r.decision),
        estimate,
        lower: num(r.lower),
        upper: num(r.upper),
        threshold: num(r.threshold),
        used: num(r.used),
        available: num(r.available),
      });
    }
    out.gate = {
      decision: last.decision,
      baseline: str(last.baseline),
      examplesUsed: num(last.examplesUsed),
      at: str(last.at),
      suites,
    };
  }
  const p = record(note.proposal);
  if (p && typeof p.name === 'string') out.proposal = { name: p.name, head: str(p.head), base: str(p.base) };
  return out;
}

/** The branch HEAD names in a bare repository (main when HEAD is detached or unset). */
async function defaultBranch(gitDir: string): Promise<string> {
  const r = await runGit(['symbolic-ref', '-q', 'HEAD'], { cwd: gitDir, allowedExitCodes: [0, 1, 128] });
  const ref = r.stdout.toString('utf8').trim();
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : 'main';
}

/**
 * The first-parent history of a bare repository's default branch, newest first, with each version's notes.
 *
 * @example const { commits } = await readHistory({ gitDir: '/srv/weft/repos/ada/digits.git', limit: 50 });
 */
export async function readHistory(options: { gitDir: string; limit?: number }): Promise<RepoHistory> {
  const { gitDir } = options;
  const limit = Math.max(1, Math.min(options.limit ?? 100, MAX_HISTORY_COMMITS));
  const branch = await defaultBranch(gitDir);
  const tip = await runGit(['rev-parse', '-q', '--verify', `refs/heads/${branch}^{commit}`], {
    cwd: gitDir,
    allowedExitCodes: [0, 1, 128],
  });
  if (tip.code !== 0) return { branch, commits: [], truncated: false };
  const log = await runGit(
    [
      'log',
      '--first-parent',
      `--max-count=${limit + 1}`,
      `--notes=${WEFT_NOTES_REF}`,
      '--format=%H%x1f%P%x1f%an%x1f%aI%x1f%s%x1f%N%x1e',
      tip.stdout.toString('utf8').trim(),
      '--',
    ],
    { cwd: gitDir },
  );
  const commits: HistoryEntry[] = [];
  for (const raw of log.stdout.toString('utf8').split('\x1e')) {
    const fields = raw.replace(/^\n/, '').split('\x1f');
    if (fields.length < 6 || !fields[0]) continue;
    const [commit, parents, author, date, message, note] = fields as [string, string, string, string, string, string];
    commits.push({
      commit,
      parents: parents.split(' ').filter(Boolean),
      author,
      date,
      message,
      ...summariseNote(note.trim()),
    });
  }
  const truncated = commits.length > limit;
  return { branch, commits: commits.slice(0, limit), truncated };
}

/** One tensor of a version's change view. */
export interface TensorRow extends TensorChangeCell {
  path: string;
  layer: string;
  module: string;
  maxAbsDiff: number | null;
  fractionChanged: number | null;
  cosine: number | null;
  storedAs: string | null;
}

export interface CommitDiff {
  commit: string;
  /** The first parent compared against (null for a root commit: everything is added). */
  parent: string | null;
  files: { path: string; change: FileChange['change']; format: string; frameChanged: boolean }[];
  tensors: TensorRow[];
  heatmap: Heatmap;
  /** Why relative changes are missing (objects not on this hub's disk), or null. */
  statsUnavailable: string | null;
}

async function resolveCommit(gitDir: string, rev: string): Promise<string | undefined> {
  const r = await runGit(['rev-parse', '-q', '--verify', `${rev}^{commit}`], {
    cwd: gitDir,
    allowedExitCodes: [0, 1, 128],
  });
  return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
}

/**
 * The Weft manifests of a commit in a bare repository. Attributes come from the commit's own `.gitattributes`
 * (read through a temporary index: a bare repository has no work tree to read them from).
 */
async function manifestsOf(gitDir: string, commit: string, tmpDir: string): Promise<Map<string, Manifest>> {
  const tree = await runGit(['ls-tree', '-r', '-z', '-l', '--full-tree', commit], { cwd: gitDir });
  const entries = new Map<string, { blob: string; size: number }>();
  for (const entry of tree.stdout.toString('utf8').split('\0')) {
    const tab = entry.indexOf('\t');
    if (tab < 0) continue;
    const [, type, blob, size] = entry.slice(0, tab).split(/ +/);
    if (type === 'blob' && blob && size !== '-') entries.set(entry.slice(tab + 1), { blob, size: Number(size) });
  }
  const out = new Map<string, Manifest>();
  if (entries.size === 0) return out;
  await mkdir(tmpDir, { recursive: true });
  const index = join(tmpDir, `index-${randomBytes(8).toString('hex')}`);
  const env = { GIT_INDEX_FILE: index };
  let tracked: Set<string>;
  try {
    await runGit(['read-tree', commit], { cwd: gitDir, env });
    const paths = [...entries.keys()];
    const attrs = await runGit(['check-attr', '--cached', '-z', '--stdin', 'filter'], {
      cwd: gitDir,
      env,
      input: `${paths.join('\0')}\0`,
    });
    const fields = attrs.stdout.toString('utf8').split('\0');
    tracked = new Set();
    for (let i = 0; i + 2 < fields.length; i += 3) if (fields[i + 2] === 'weft') tracked.add(fields[i]!);
  } finally {
    await rm(index, { force: true });
  }
  const batch = new CatFileBatch({ cwd: gitDir });
  try {
    for (const [path, { blob, size }] of entries) {
      if (!tracked.has(path) || size > MAX_MANIFEST_BLOB_BYTES) continue;
      const obj = await batch.read(blob);
      const manifest = obj ? manifestOfBlob(obj.content, path) : undefined;
      if (manifest) out.set(path, manifest);
    }
  } finally {
    await batch.close();
  }
  return out;
}

async function computeDiff(gitDir: string, commit: string, parent: string | null, tmp: string): Promise<CommitDiff> {
  const [before, after] = await Promise.all([
    parent ? manifestsOf(gitDir, parent, tmp) : Promise.resolve(new Map<string, Manifest>()),
    manifestsOf(gitDir, commit, tmp),
  ]);
  // The hub keeps a repository's model objects in git-lfs layout under lfs/objects: the object store's layout.
  const store = new ObjectStore(join(gitDir, 'lfs'), { durable: false });
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const version = (m: Map<string, Manifest>, p: string) => {
    const x = m.get(p);
    return x ? fileVersionOf(store, p, x) : undefined;
  };
  let statsUnavailable: string | null = null;
  const changes: FileChange[] = [];
  for (const p of paths) {
    let c: FileChange | undefined;
    try {
      c = await diffFile(version(before, p), version(after, p), { stat: true });
    } catch (error) {
      // Objects missing from this disk (kept in a bucket): names and kinds of change still show.
      statsUnavailable = error instanceof Error ? error.message : String(error);
      c = await diffFile(version(before, p), version(after, p), { stat: false }).catch(() => undefined);
    }
    if (c) changes.push(c);
  }
  const tensors: TensorRow[] = [];
  for (const f of changes) {
    for (const t of f.tensors) {
      const lm = layerModuleOf({ name: t.name });
      const rel = t.stats?.relativeL2;
      tensors.push({
        path: f.path,
        name: t.name,
        change: t.change,
        relativeL2: rel !== undefined && Number.isFinite(rel) ? rel : null,
        layer: lm.layer,
        module: lm.module,
        maxAbsDiff: t.stats ? t.stats.maxAbsDiff : null,
        fractionChanged: t.stats ? t.stats.fractionChanged : null,
        cosine: t.stats && Number.isFinite(t.stats.cosine) ? t.stats.cosine : null,
        storedAs: t.storedAs ?? null,
      });
    }
  }
  // Unchanged tensors of the new version, so that the heatmap shows the whole model.
  const listed = new Set(tensors.map((t) => `${t.path}\u0000${t.name}`));
  for (const [path, m] of after) {
    for (const t of m.tensors) {
      if (listed.has(`${path}\u0000${t.name}`)) continue;
      const lm = layerModuleOf({ name: t.name });
      tensors.push({
        path,
        name: t.name,
        change: 'unchanged',
        relativeL2: 0,
        layer: lm.layer,
        module: lm.module,
        maxAbsDiff: 0,
        fractionChanged: 0,
        cosine: 1,
        storedAs: null,
      });
    }
  }
  const multiFile = new Set(tensors.map((t) => t.path)).size > 1;
  // With several model files, a tensor's heatmap name carries its file, so that equal names do not merge.
  // Columns and rows in the order the model lists its tensors (removed ones last).
  const position = new Map<string, number>();
  for (const [path, m] of after) {
    m.tensors.forEach((t, i) => {
      position.set(`${path}\u0000${t.name}`, i);
    });
  }
  const at = (t: TensorRow) => position.get(`${t.path}\u0000${t.name}`) ?? Number.MAX_SAFE_INTEGER;
  const heatmap = heatmapOf({
    tensors: [...tensors]
      .sort((a, b) => (a.path === b.path ? at(a) - at(b) : a.path < b.path ? -1 : 1))
      .map((t) => ({ ...t, name: multiFile ? `${t.path}/${t.name}` : t.name })),
  });
  return {
    commit,
    parent,
    files: changes.map((f) => ({ path: f.path, change: f.change, format: f.format, frameChanged: f.frameChanged })),
    tensors,
    heatmap,
    statsUnavailable,
  };
}

/** Diffs being computed, by cache file: concurrent requests for one pair share the work. */
const inFlight = new Map<string, Promise<CommitDiff>>();
/** One diff computed at a time per process: a diff reads whole models (blocks a burst of requests eating memory). */
let queue: Promise<unknown> = Promise.resolve();

/**
 * A version's per-tensor change against its first parent, with relative L2 changes and the layer × module heatmap;
 * cached as JSON under `cacheDir` per commit pair. Undefined when `rev` is not a commit of the repository.
 *
 * @example const diff = await commitDiff({ gitDir, rev: 'a1b2c3d', cacheDir: '/srv/weft/ui-cache/ada/digits' });
 */
export async function commitDiff(options: {
  gitDir: string;
  rev: string;
  cacheDir: string;
}): Promise<CommitDiff | undefined> {
  const { gitDir, cacheDir } = options;
  if (!COMMIT_ID.test(options.rev)) return undefined;
  const commit = await resolveCommit(gitDir, options.rev);
  if (!commit) return undefined;
  const parent = (await resolveCommit(gitDir, `${commit}^1`)) ?? null;
  const file = join(cacheDir, `${parent ?? 'root'}-${commit}.json`);
  try {
    const cached = JSON.parse(await readFile(file, 'utf8')) as { v: number; diff: CommitDiff };
    if (cached.v === CACHE_VERSION) return cached.diff;
  } catch {
    // not cached yet (or unreadable: computed again)
  }
  let pending = inFlight.get(file);
  if (!pending) {
    const run = queue.then(async () => {
      const diff = await computeDiff(gitDir, commit, parent, join(cacheDir, 'tmp'));
      if (diff.statsUnavailable === null) {
        await mkdir(cacheDir, { recursive: true });
        const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
        await writeFile(tmp, JSON.stringify({ v: CACHE_VERSION, diff }));
        await rename(tmp, file);
      }
      return diff;
    });
    pending = run.finally(() => inFlight.delete(file));
    queue = run.catch(() => undefined);
    inFlight.set(file, pending);
  }
  return pending;
}
