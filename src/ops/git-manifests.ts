// Finding manifests in git: the tracked files of a commit or of the index, and every manifest reachable from any
// ref, the reflog and the index (for fsck and gc). Reads blobs through one `git cat-file --batch`.

import { GitError } from '../errors.js';
import { CatFileBatch, runGit } from '../git/run-git.js';
import { looksLikeManifest, MAX_MANIFEST_BYTES, type Manifest, parseManifest } from '../manifest/manifest.js';

export interface TrackedManifest {
  path: string;
  /** The git blob holding the manifest. */
  blob: string;
  manifest: Manifest;
}

/** Paths (from `candidates`) whose `filter` attribute is `weft`, by the work tree's .gitattributes. */
export async function filterWeftPaths(cwd: string, candidates: readonly string[]): Promise<Set<string>> {
  if (candidates.length === 0) return new Set();
  const { stdout } = await runGit(['check-attr', '-z', '--stdin', 'filter'], {
    cwd,
    input: `${candidates.join('\0')}\0`,
  });
  const fields = stdout.toString('utf8').split('\0');
  const out = new Set<string>();
  for (let i = 0; i + 2 < fields.length; i += 3) if (fields[i + 2] === 'weft') out.add(fields[i]!);
  return out;
}

/** Lists blobs of a tree-ish (`HEAD`, a commit) as path → blob id. */
async function listTree(cwd: string, rev: string): Promise<Map<string, { blob: string; size: number }>> {
  const { stdout } = await runGit(['ls-tree', '-r', '-z', '-l', '--full-tree', rev], { cwd });
  const out = new Map<string, { blob: string; size: number }>();
  for (const entry of stdout.toString('utf8').split('\0')) {
    if (!entry) continue;
    const tab = entry.indexOf('\t');
    const [, type, blob, size] = entry.slice(0, tab).split(/ +/);
    if (type === 'blob' && blob && size !== '-') out.set(entry.slice(tab + 1), { blob, size: Number(size) });
  }
  return out;
}

/** Lists the index's stage-0 entries as path → blob id. */
async function listIndex(cwd: string): Promise<Map<string, { blob: string; size: number }>> {
  const { stdout } = await runGit(['ls-files', '-s', '-z'], { cwd });
  const out = new Map<string, { blob: string; size: number }>();
  for (const entry of stdout.toString('utf8').split('\0')) {
    if (!entry) continue;
    const tab = entry.indexOf('\t');
    const [, blob, stage] = entry.slice(0, tab).split(' ');
    if (blob && stage === '0') out.set(entry.slice(tab + 1), { blob, size: -1 });
  }
  return out;
}

/** Parses a blob as a manifest, or undefined when it is not one (a file committed before it was tracked). */
export function manifestOfBlob(content: Uint8Array, path: string): Manifest | undefined {
  if (!looksLikeManifest(content) || content.length > MAX_MANIFEST_BYTES) return undefined;
  return parseManifest(new TextDecoder().decode(content), path);
}

/**
 * The manifests of Weft-tracked files in a commit (`rev`), or in the index when `rev` is `:index`. Paths can be
 * limited with `paths` (exact paths or folder prefixes).
 */
export async function listTrackedManifests(
  cwd: string,
  rev: string,
  paths: readonly string[] = [],
): Promise<TrackedManifest[]> {
  const entries = rev === ':index' ? await listIndex(cwd) : await listTree(cwd, rev);
  const wanted = [...entries.keys()].filter(
    (p) => paths.length === 0 || paths.some((q) => p === q || p.startsWith(q.endsWith('/') ? q : `${q}/`)),
  );
  const tracked = await filterWeftPaths(cwd, wanted);
  const batch = new CatFileBatch({ cwd });
  try {
    const out: TrackedManifest[] = [];
    const reads = wanted
      .filter((p) => tracked.has(p))
      .map((p) => ({ path: p, blob: entries.get(p)!.blob, read: batch.read(entries.get(p)!.blob) }));
    for (const r of reads) {
      const obj = await r.read;
      if (!obj) throw new GitError('GIT_FAILED', `${r.path}: blob ${r.blob} is missing from git`);
      const manifest = manifestOfBlob(obj.content, r.path);
      if (manifest) out.push({ path: r.path, blob: r.blob, manifest });
    }
    return out;
  } finally {
    await batch.close();
  }
}

/** Resolves a revision to a commit id; GitError when it does not name a commit. */
export async function resolveCommit(cwd: string, rev: string): Promise<string> {
  const { stdout } = await runGit(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], {
    cwd,
    allowedExitCodes: [0, 1],
  });
  const id = stdout.toString().trim();
  if (!id) throw new GitError('GIT_FAILED', `${rev}: not a commit in this repository`);
  return id;
}

/**
 * Every manifest blob reachable from any ref, the reflog, the index (and other worktrees' indexes), found by
 * content. `onManifest` receives each distinct blob once.
 */
export async function forEachReachableManifest(
  cwd: string,
  onManifest: (m: { blob: string; path: string; manifest: Manifest }) => void | Promise<void>,
): Promise<number> {
  return forEachManifestInRevList(cwd, ['--all', '--reflog', '--indexed-objects'], ({ blob, manifest }) =>
    onManifest({ blob, path: blob, manifest }),
  );
}

/**
 * The manifest blobs among the objects `git rev-list --objects <revListArgs>` lists, found by content (a blob
 * that parses as a manifest): sizes and types are checked first, then only small blobs are read.
 */
export async function forEachManifestInRevList(
  cwd: string,
  revListArgs: readonly string[],
  onManifest: (m: { blob: string; manifest: Manifest }) => void | Promise<void>,
): Promise<number> {
  const { stdout } = await runGit(['rev-list', '--objects', '--no-object-names', ...revListArgs], { cwd });
  const ids = stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  if (ids.length === 0) return 0;
  const check = await runGit(['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'], {
    cwd,
    input: `${ids.join('\n')}\n`,
  });
  const small = check.stdout
    .toString('utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter(([, type, size]) => type === 'blob' && Number(size) <= MAX_MANIFEST_BYTES && Number(size) > 8)
    .map(([id]) => id!);
  const batch = new CatFileBatch({ cwd });
  let count = 0;
  try {
    const reads = small.map((id) => ({ id, read: batch.read(id) }));
    for (const r of reads) {
      const obj = await r.read;
      if (!obj) continue;
      let manifest: Manifest | undefined;
      try {
        manifest = manifestOfBlob(obj.content, r.id);
      } catch {
        manifest = undefined; // looks like a manifest but is not one: an ordinary file, not Weft's business
      }
      if (manifest) {
        count++;
        await onManifest({ blob: r.id, manifest });
      }
    }
  } finally {
    await batch.close();
  }
  return count;
}
