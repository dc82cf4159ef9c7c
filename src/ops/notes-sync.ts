// Evaluation notes (refs/notes/weft) travel with the repository: `weft fetch` brings a git remote's notes in and
// merges them, `weft push` merges then pushes ours. Only for git remotes; never from inside a git hook.

import { runGit } from '../git/run-git.js';
import type { Repo } from './repo.js';

/** = evaluate.ts's WEFT_NOTES_REF (not imported: push and fetch must not load the evaluation modules). */
const WEFT_NOTES_REF = 'refs/notes/weft';

/** Where a remote's notes are fetched to before they are merged (one ref per remote, overwritten each time). */
export const REMOTE_NOTES_PREFIX = 'refs/notes/weft-remote/';

/** What happened to the notes. */
export interface NotesSyncResult {
  /** 'absent': the remote has no notes; 'up-to-date', 'fast-forward' or 'merged' for fetch; 'pushed' for push. */
  state: 'absent' | 'up-to-date' | 'fast-forward' | 'merged' | 'pushed' | 'skipped';
  /** Commits whose notes existed on both sides with different contents and were merged key by key. */
  mergedNotes?: number;
}

/**
 * Whether `name` is a configured git remote (notes move only over git, so a Weft-only remote such as an S3
 * bucket has no notes).
 *
 * @example
 * if (await isGitRemote(repo.topLevel, 'origin')) await fetchNotes({ repo, remote: 'origin' });
 */
export async function isGitRemote(cwd: string, name: string): Promise<boolean> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return false;
  const r = await runGit(['config', '--get', `remote.${name}.url`], { cwd, allowedExitCodes: [0, 1] });
  return r.code === 0;
}

/**
 * Fetches a git remote's refs/notes/weft into refs/notes/weft-remote/<remote> and merges it into ours: a
 * fast-forward when one side contains the other, else `git notes merge -s ours` followed by a key-by-key merge of
 * the JSON notes both sides wrote for the same commit (nested objects merged, our value kept where both set one
 * key differently), so that no side's results are lost and every note stays one JSON object.
 *
 * @example
 * const r = await fetchNotes({ repo, remote: 'origin' }); // r.state → 'fast-forward'
 */
export async function fetchNotes(options: { repo: Repo; remote: string }): Promise<NotesSyncResult> {
  const cwd = options.repo.topLevel;
  const tracking = `${REMOTE_NOTES_PREFIX}${options.remote}`;
  const listed = await runGit(['ls-remote', '--refs', options.remote, WEFT_NOTES_REF], { cwd });
  if (!listed.stdout.toString('utf8').trim()) return { state: 'absent' };
  await runGit(['fetch', '--quiet', '--no-tags', options.remote, `+${WEFT_NOTES_REF}:${tracking}`], { cwd });
  const theirs = await revParse(cwd, tracking);
  const ours = await revParse(cwd, WEFT_NOTES_REF);
  if (theirs === undefined) return { state: 'absent' };
  if (ours === theirs || (ours !== undefined && (await isAncestor(cwd, theirs, ours)))) return { state: 'up-to-date' };
  if (ours === undefined || (await isAncestor(cwd, ours, theirs))) {
    const args = ['update-ref', '-m', `weft fetch: notes from ${options.remote}`, WEFT_NOTES_REF, theirs];
    await runGit(ours === undefined ? args : [...args, ours], { cwd });
    return { state: 'fast-forward' };
  }
  const before = await listNotes(cwd, WEFT_NOTES_REF);
  const remote = await listNotes(cwd, tracking);
  await runGit(['notes', '--ref', WEFT_NOTES_REF, 'merge', '--quiet', '-s', 'ours', tracking], { cwd });
  let mergedNotes = 0;
  for (const [commit, theirBlob] of remote) {
    const ourBlob = before.get(commit);
    if (ourBlob === undefined || ourBlob === theirBlob) continue;
    const merged = mergeJson(await readJson(cwd, ourBlob), await readJson(cwd, theirBlob));
    if (merged === undefined) continue; // one side is not JSON: ours was kept
    await runGit(['notes', '--ref', WEFT_NOTES_REF, 'add', '-f', '-F', '-', commit], {
      cwd,
      input: `${JSON.stringify(merged)}\n`,
    });
    mergedNotes++;
  }
  return { state: 'merged', mergedNotes };
}

/**
 * Pushes refs/notes/weft to a git remote after merging the remote's notes in (so the push is a fast-forward).
 * Runs `git push --no-verify`: the pre-push hook uploads model objects, and notes hold none.
 *
 * @example
 * await pushNotes({ repo, remote: 'origin' }); // → { state: 'pushed' }
 */
export async function pushNotes(options: { repo: Repo; remote: string }): Promise<NotesSyncResult> {
  const cwd = options.repo.topLevel;
  if ((await revParse(cwd, WEFT_NOTES_REF)) === undefined) return { state: 'skipped' };
  const fetched = await fetchNotes(options);
  await runGit(['push', '--quiet', '--no-verify', options.remote, `${WEFT_NOTES_REF}:${WEFT_NOTES_REF}`], { cwd });
  return { state: 'pushed', ...(fetched.mergedNotes ? { mergedNotes: fetched.mergedNotes } : {}) };
}

/**
 * Merges two JSON values: objects key by key (recursively), anything else keeps `ours`.
 *
 * @example
 * mergeJson({ eval: { a: 1 } }, { eval: { b: 2 } }) // → { eval: { a: 1, b: 2 } }
 */
export function mergeJson(ours: unknown, theirs: unknown): unknown {
  if (!isRecord(ours) || !isRecord(theirs)) return ours;
  const out: Record<string, unknown> = { ...theirs };
  for (const [k, v] of Object.entries(ours)) out[k] = k in theirs ? mergeJson(v, theirs[k]) : v;
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readJson(cwd: string, blob: string): Promise<unknown> {
  const r = await runGit(['cat-file', 'blob', blob], { cwd });
  try {
    return JSON.parse(r.stdout.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** commit → note blob of a notes ref. */
async function listNotes(cwd: string, ref: string): Promise<Map<string, string>> {
  const r = await runGit(['notes', '--ref', ref, 'list'], { cwd });
  const out = new Map<string, string>();
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const [blob, commit] = line.trim().split(' ');
    if (blob && commit) out.set(commit, blob);
  }
  return out;
}

async function revParse(cwd: string, ref: string): Promise<string | undefined> {
  const r = await runGit(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd, allowedExitCodes: [0, 1] });
  return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
}

async function isAncestor(cwd: string, a: string, b: string): Promise<boolean> {
  const r = await runGit(['merge-base', '--is-ancestor', a, b], { cwd, allowedExitCodes: [0, 1] });
  return r.code === 0;
}
