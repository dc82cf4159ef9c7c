// `weft log` and `weft du --by-commit`: per commit, what changed in the tracked models (tensors added, removed,
// changed, with their encodings) and how many bytes the commit added to the store. Manifests only.

import { runGit } from '../git/run-git.js';
import { listEncodingRefs, type Manifest } from '../manifest/manifest.js';
import type { ObjectId } from '../store/object-codec.js';
import { diffFile, type FileChange, type FileVersion, moduleScope, scopeChanges } from './diff.js';
import { listTrackedManifests } from './git-manifests.js';
import type { Repo } from './repo.js';

export interface CommitSummary {
  commit: string;
  parents: string[];
  author: string;
  date: string;
  subject: string;
  files: FileChange[];
  /** Bytes of store objects first named by this commit (no earlier commit in history order names them). */
  storedBytesAdded: number;
  /** `storedBytesAdded` split by what stores it: "frame", "dense", "delta", "lowrank", "scale". */
  storedBytesByEncoding: Record<string, number>;
  /** Sum of the sizes of the tracked files at this commit (what a whole-file store would hold for it). */
  logicalBytes: number;
}

function versionOf(path: string, manifest: Manifest): FileVersion {
  return {
    path,
    format: manifest.format,
    sizeBytes: manifest.sizeBytes,
    tensors: manifest.tensors,
    load: () => Promise.reject(new Error('not loaded in history')),
    // Frame identity by object names: identical bytes always encode to identical objects.
    frameDigest: async () =>
      manifest.frames.map((f) => f.refs.map((r) => `${r.id}:${r.start}-${r.end}`).join(',')).join(';'),
  };
}

/** Every object the manifests name, with what names it first: "frame" or a tensor encoding kind. */
function objectIds(manifests: Map<string, Manifest>): Map<string, string> {
  const ids = new Map<string, string>();
  const add = (id: string, kind: string) => {
    if (!ids.has(id)) ids.set(id, kind);
  };
  for (const m of manifests.values()) {
    for (const f of m.frames) for (const r of f.refs) add(r.id, 'frame');
    for (const t of m.tensors) for (const r of listEncodingRefs(t.encoding)) add(r.id, t.encoding.kind);
    for (const p of m.parents ?? []) for (const r of listEncodingRefs(p.encoding)) add(r.id, p.encoding.kind);
  }
  return ids;
}

async function manifestsAt(
  repo: Repo,
  commit: string,
  paths: readonly string[],
  cache: Map<string, Map<string, Manifest>>,
) {
  let m = cache.get(commit);
  if (!m) {
    m = new Map((await listTrackedManifests(repo.topLevel, commit, paths)).map((t) => [t.path, t.manifest]));
    cache.set(commit, m);
  }
  return m;
}

export interface LogOptions {
  repo: Repo;
  rev?: string;
  paths?: string[];
  maxCount?: number;
  /** Include commits that changed no tracked model. */
  all?: boolean;
  /** Oldest first (for du --by-commit). */
  reverse?: boolean;
  /** Only commits that changed the tensors of this module (`[modules.<name>]` in `.weft/config.toml`), and only those tensors. */
  module?: string;
}

/**
 * Commits that changed tracked models, newest first, with tensor-level changes and store growth.
 * @example for (const c of await logHistory({ repo })) console.log(c.subject, c.storedBytesAdded);
 */
export async function logHistory(options: LogOptions): Promise<CommitSummary[]> {
  const { repo } = options;
  const paths = options.paths ?? [];
  // Patterns from the current work tree's config: the module as it is defined now, applied to all history.
  const scope = options.module !== undefined ? await moduleScope({ repo, module: options.module }) : undefined;
  const args = ['log', '-z', '--format=%H%x1f%P%x1f%an%x1f%aI%x1f%s'];
  if (options.reverse) args.push('--reverse');
  args.push(options.rev ?? 'HEAD', '--');
  const { stdout } = await runGit(args, { cwd: repo.topLevel });
  const commits = stdout
    .toString('utf8')
    .split('\0')
    .filter((r) => r.trim().length > 0)
    .map((r) => {
      const [commit, parents, author, date, subject] = r.replace(/^\n/, '').split('\x1f');
      return {
        commit: commit!,
        parents: parents ? parents.split(' ') : [],
        author: author!,
        date: date!,
        subject: subject!,
      };
    });
  const cache = new Map<string, Map<string, Manifest>>();
  const growth = new Map(
    (await storeGrowthByCommit({ repo, ...(options.rev ? { rev: options.rev } : {}), cache })).map((g) => [
      g.commit,
      g,
    ]),
  );
  const out: CommitSummary[] = [];
  for (const c of commits) {
    const now = await manifestsAt(repo, c.commit, paths, cache);
    const parent = c.parents[0] ? await manifestsAt(repo, c.parents[0], paths, cache) : new Map<string, Manifest>();
    let files: FileChange[] = [];
    for (const p of [...new Set([...parent.keys(), ...now.keys()])].sort()) {
      const a = parent.get(p);
      const b = now.get(p);
      const change = await diffFile(a && versionOf(p, a), b && versionOf(p, b));
      if (change) files.push(change);
    }
    if (scope) files = scopeChanges(files, scope);
    if (files.length === 0 && !options.all) continue;
    const g = growth.get(c.commit);
    out.push({
      ...c,
      files,
      storedBytesAdded: g?.storedBytes ?? 0,
      storedBytesByEncoding: g?.byEncoding ?? {},
      logicalBytes: g?.logicalBytes ?? 0,
    });
    if (options.maxCount !== undefined && out.length >= options.maxCount) break;
  }
  return out;
}

export interface CommitGrowth {
  commit: string;
  subject: string;
  /** Sum of the sizes of the tracked files at this commit. */
  logicalBytes: number;
  /** Bytes of objects first named (in history order) by this commit. */
  storedBytes: number;
  /** Objects first named by this commit. */
  objects: number;
  /** `storedBytes` split by what named each object first: "frame", "dense", "delta", "lowrank", "scale". */
  byEncoding: Record<string, number>;
}

/** Store growth per commit of `rev`'s history, oldest first: what each commit cost to store. */
export async function storeGrowthByCommit(options: {
  repo: Repo;
  rev?: string;
  /** Manifests per commit, shared with a caller that reads the same history. */
  cache?: Map<string, Map<string, Manifest>>;
}): Promise<CommitGrowth[]> {
  const { repo } = options;
  const { stdout } = await runGit(
    ['log', '-z', '--reverse', '--topo-order', '--format=%H%x1f%s', options.rev ?? 'HEAD'],
    {
      cwd: repo.topLevel,
    },
  );
  const seen = new Set<string>();
  const cache = options.cache ?? new Map<string, Map<string, Manifest>>();
  const out: CommitGrowth[] = [];
  for (const rec of stdout.toString('utf8').split('\0')) {
    if (!rec.trim()) continue;
    const [commit, subject] = rec.replace(/^\n/, '').split('\x1f');
    const manifests = await manifestsAt(repo, commit!, [], cache);
    const g: CommitGrowth = {
      commit: commit!,
      subject: subject ?? '',
      logicalBytes: 0,
      storedBytes: 0,
      objects: 0,
      byEncoding: {},
    };
    for (const m of manifests.values()) g.logicalBytes += m.sizeBytes;
    for (const [id, kind] of objectIds(manifests)) {
      if (seen.has(id)) continue;
      seen.add(id);
      g.objects++;
      const bytes = (await repo.store.statObject(id as ObjectId))?.storedBytes ?? 0;
      g.storedBytes += bytes;
      g.byEncoding[kind] = (g.byEncoding[kind] ?? 0) + bytes;
    }
    out.push(g);
  }
  return out;
}
