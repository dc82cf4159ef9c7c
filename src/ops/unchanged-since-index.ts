// git's racily-clean entries: a file written in the same second as the index that records it cannot be trusted by
// its stat data (Debian's git compares whole seconds), so git runs the clean filter over the whole file to see
// whether it changed — after every checkout of a big model, the next `git status`, `git add` or `git checkout`
// re-reads and re-hashes it. This answers that question the way git built with nanosecond timestamps does: when
// the file's stat data is exactly what the index entry recorded and the file was last changed before the index
// was written (nanoseconds), the file is the index's version, and its manifest is the index's blob.

import { type BigIntStats, lstatSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { runGit } from '../git/run-git.js';
import { looksLikeManifest, parseManifest } from '../manifest/manifest.js';

/** The stat data git keeps in an index entry (`git ls-files --debug`), every field as git stores it. */
export interface IndexStatData {
  mode: string;
  oid: string;
  stage: number;
  ctime: { sec: bigint; nsec: bigint };
  mtime: { sec: bigint; nsec: bigint };
  dev: bigint;
  ino: bigint;
  uid: bigint;
  gid: bigint;
  /** The size modulo 2^32 (git keeps 32 bits). */
  size: bigint;
}

const U32 = 0xffffffffn;
const NS = 1_000_000_000n;

/**
 * The index entry of `pathname` (stage 0) with its stat data, or undefined when there is none or git's output is
 * not the expected shape.
 */
export async function readIndexStat(topLevel: string, pathname: string): Promise<IndexStatData | undefined> {
  const { stdout } = await runGit(['ls-files', '--debug', '-s', '--', `:(literal)${pathname}`], {
    cwd: topLevel,
    allowedExitCodes: [0, 1],
  });
  const text = stdout.toString('utf8');
  const m =
    /^([0-7]{6}) ([0-9a-f]{40,64}) (\d)\t([^\n]*)\n {2}ctime: (\d+):(\d+)\n {2}mtime: (\d+):(\d+)\n {2}dev: (\d+)\tino: (\d+)\n {2}uid: (\d+)\tgid: (\d+)\n {2}size: (\d+)\tflags: [0-9a-f]+\n$/.exec(
      text,
    );
  if (!m || m[4] !== pathname || m[3] !== '0') return undefined;
  const n = (i: number) => BigInt(m[i]!);
  return {
    mode: m[1]!,
    oid: m[2]!,
    stage: 0,
    ctime: { sec: n(5), nsec: n(6) },
    mtime: { sec: n(7), nsec: n(8) },
    dev: n(9),
    ino: n(10),
    uid: n(11),
    gid: n(12),
    size: n(13),
  };
}

/** Whether `file`'s stat data is exactly what git recorded in `entry` (git's own truncations applied). */
export function statMatches(entry: IndexStatData, file: BigIntStats): boolean {
  return (
    file.isFile() &&
    file.mtimeNs === entry.mtime.sec * NS + entry.mtime.nsec &&
    file.ctimeNs === entry.ctime.sec * NS + entry.ctime.nsec &&
    (file.ino & U32) === entry.ino &&
    (file.dev & U32) === entry.dev &&
    (file.uid & U32) === entry.uid &&
    (file.gid & U32) === entry.gid &&
    (file.size & U32) === entry.size
  );
}

/** The index file git uses, per work tree (honours GIT_INDEX_FILE, as `git rev-parse --git-path index` does). */
const indexPaths = new Map<string, Promise<string>>();
function indexPath(topLevel: string): Promise<string> {
  let path = indexPaths.get(topLevel);
  if (!path) {
    path = runGit(['rev-parse', '--git-path', 'index'], { cwd: topLevel }).then(({ stdout }) => {
      const p = stdout.toString('utf8').trim();
      return isAbsolute(p) ? p : join(topLevel, p);
    });
    path.catch(() => indexPaths.delete(topLevel));
    indexPaths.set(topLevel, path);
  }
  return path;
}

/**
 * The index file of a work tree whose git directory (`git rev-parse --absolute-git-dir`) is known, without asking
 * git: `<gitDir>/index`, unless GIT_INDEX_FILE names another (then undefined: ask git, which resolves it).
 */
export function defaultIndexPath(gitDir: string, env: Record<string, string | undefined>): string | undefined {
  return env.GIT_INDEX_FILE ? undefined : join(gitDir, 'index');
}

export interface UnchangedOptions {
  topLevel: string;
  pathname: string;
  /** The index's blob of `pathname` (the caller usually has it at hand), read only when the stat data match. */
  readIndexBlob: (oid: string) => Promise<Uint8Array | undefined>;
  /** The index file, when the caller knows it (see {@link defaultIndexPath}); else git is asked. */
  indexFile?: string;
}

/**
 * The manifest git's index holds for `pathname` when the work-tree file is provably that version: its stat data
 * (nanosecond mtime and ctime, inode, device, owner, size) are those git recorded, both times are before the
 * index file was written, and the manifest describes a file of its exact size. Undefined otherwise (then the
 * file must be cleaned). ctime cannot be set back by any tool, so an edit always shows.
 *
 * @example const manifest = await unchangedSinceIndex({ topLevel, pathname: 'model.safetensors', readIndexBlob });
 */
export async function unchangedSinceIndex(options: UnchangedOptions): Promise<Uint8Array | undefined> {
  const { topLevel, pathname } = options;
  // The file and the index file first (two system calls, made directly: in a filter starting up, libuv's
  // threads are busy loading code and a queued stat waited ~10 ms): a file changed at or after the index was
  // written, as after a `touch`, needs no index entry to be refused, and no git process is started for it.
  let file: BigIntStats;
  let index: BigIntStats;
  try {
    const indexFile = options.indexFile ?? (await indexPath(topLevel));
    file = lstatSync(join(topLevel, pathname), { bigint: true });
    index = statSync(indexFile, { bigint: true });
  } catch {
    return undefined;
  }
  // Racy even at nanoseconds: a change in the same clock tick as the index write would not show in the times.
  if (file.mtimeNs >= index.mtimeNs || file.ctimeNs >= index.mtimeNs) return undefined;
  const entry = await readIndexStat(topLevel, pathname);
  if (!entry || entry.mode === '120000' || entry.mode === '160000') return undefined;
  if (!statMatches(entry, file)) return undefined;
  const blob = await options.readIndexBlob(entry.oid);
  if (!blob || !looksLikeManifest(blob)) return undefined;
  try {
    const manifest = parseManifest(new TextDecoder('utf-8', { fatal: true }).decode(blob), pathname);
    return BigInt(manifest.sizeBytes) === file.size ? blob : undefined;
  } catch {
    return undefined;
  }
}
