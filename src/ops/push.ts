// `weft push` and the pre-push hook: upload every object named by the manifests of the pushed commits that the
// remote lacks — batched existence checks, parallel transfers, resumable (a rerun sends only what is missing).

import { StoreError, UsageError } from '../errors.js';
import { runGit } from '../git/run-git.js';
import { listManifestRefs, type Manifest } from '../manifest/manifest.js';
import { mapLimit, type RemoteObject, type Transport } from '../remote/transport.js';
import type { ObjectId } from '../store/object-codec.js';
import { forEachManifestInRevList, resolveCommit } from './git-manifests.js';
import { isGitRemote as isGitRemoteName, type NotesSyncResult, pushNotes } from './notes-sync.js';
import { defaultRemoteName, resolveRemote } from './remote-config.js';
import type { Repo } from './repo.js';

/** Transfers in flight by default (the figure: enough to fill a link, few enough for memory). */
export const DEFAULT_TRANSFERS = 8;
/** Objects per existence check handed to a transport (LFS batches them by 100 itself). */
const CHECK_CHUNK = 1000;
const ZERO_SHA = /^0{40}(0{24})?$/;

/** Progress of a transfer, in stored bytes and objects. */
export interface TransferProgress {
  doneBytes: number;
  totalBytes: number;
  doneObjects: number;
  totalObjects: number;
}

export interface PushResult {
  remote: string;
  /** Distinct manifests found in the pushed commits. */
  manifests: number;
  /** Distinct objects they name. */
  objects: number;
  /** Objects the remote lacked and that were sent now. */
  uploaded: number;
  uploadedBytes: number;
  /** With `notes`: what happened to refs/notes/weft (absent when the remote is not a git remote). */
  notes?: NotesSyncResult;
}

/** Every object id a manifest names (frames, tensors and their encodings' parameters, parents), without repeats. */
export function objectsOfManifest(manifest: Manifest): ObjectId[] {
  return [...new Set(listManifestRefs(manifest).map((r) => r.id))] as ObjectId[];
}

/**
 * The manifests among the blobs reachable from `include` but not from `exclude` (revision arguments, as for
 * `git rev-list`), found by content like gc does. `onManifest` gets each distinct manifest blob once.
 *
 * @example
 * await forEachManifestInRange({ cwd, include: ['main'], exclude: ['--remotes=origin'] }, ({ manifest }) => …);
 */
export async function forEachManifestInRange(
  options: { cwd: string; include: readonly string[]; exclude: readonly string[] },
  onManifest: (m: { blob: string; manifest: Manifest }) => void,
): Promise<number> {
  if (options.include.length === 0) return 0;
  for (const rev of [...options.include, ...options.exclude]) {
    if (rev.startsWith('-') && !rev.startsWith('--remotes=')) throw new UsageError('USAGE', `not a revision: ${rev}`);
  }
  const args = [...options.include];
  if (options.exclude.length) args.push('--not', ...options.exclude);
  return forEachManifestInRevList(options.cwd, args, onManifest);
}

/**
 * Uploads the objects of `oids` that `transport` lacks, `transfers` at a time, reading each from the local store
 * (verified). STORE_MISSING naming every absent object when the local store lacks some (nothing is sent then).
 *
 * @example
 * const r = await uploadObjects({ repo, transport, oids, onProgress: (p) => bar.update(p.doneBytes, p.totalBytes) });
 */
export async function uploadObjects(options: {
  repo: Repo;
  transport: Transport;
  oids: readonly string[];
  transfers?: number;
  onProgress?: (p: TransferProgress) => void;
}): Promise<{ uploaded: number; uploadedBytes: number }> {
  const { repo, transport } = options;
  const unique = [...new Set(options.oids)];
  const sizes = await mapLimit(unique, 16, (oid) => repo.store.statObject(oid as ObjectId));
  // Objects absent here that the remote already holds need no upload (a partial checkout commits a file whose
  // unselected tensors it never downloaded).
  const notLocal = unique.filter((_, i) => sizes[i] === undefined);
  const absent: string[] = [];
  for (let i = 0; i < notLocal.length; i += CHECK_CHUNK) {
    const chunk = notLocal.slice(i, i + CHECK_CHUNK).map((oid) => ({ oid }));
    for (const o of await transport.listMissing(chunk)) absent.push(o.oid);
  }
  if (absent.length > 0) {
    throw new StoreError(
      'STORE_MISSING',
      `cannot push to ${transport.name}: ${absent.length} object(s) are not in the local store (${absent.slice(0, 3).join(', ')}${absent.length > 3 ? ', …' : ''}); fetch them first (weft fetch <remote> <ref>), or skip this push of model objects with WEFT_SKIP_PUSH=1`,
    );
  }
  const objects: RemoteObject[] = unique.flatMap((oid, i) => {
    const size = sizes[i];
    return size ? [{ oid, size: size.storedBytes }] : [];
  });
  const missing: (RemoteObject & { size: number })[] = [];
  for (let i = 0; i < objects.length; i += CHECK_CHUNK) {
    for (const o of await transport.listMissing(objects.slice(i, i + CHECK_CHUNK))) {
      missing.push(o as RemoteObject & { size: number });
    }
  }
  const progress: TransferProgress = {
    doneBytes: 0,
    totalBytes: missing.reduce((n, o) => n + o.size, 0),
    doneObjects: 0,
    totalObjects: missing.length,
  };
  options.onProgress?.({ ...progress });
  await mapLimit(missing, options.transfers ?? DEFAULT_TRANSFERS, async (o) => {
    const bytes = await repo.store.readStored(o.oid as ObjectId);
    await transport.upload({ oid: o.oid, size: bytes.length }, bytes);
    progress.doneBytes += bytes.length;
    progress.doneObjects++;
    options.onProgress?.({ ...progress });
  });
  return { uploaded: missing.length, uploadedBytes: progress.totalBytes };
}

/** One line of git's pre-push input: `<local ref> <local sha> <remote ref> <remote sha>`. */
export interface PushedRef {
  localRef: string;
  localSha: string;
  remoteRef: string;
  remoteSha: string;
}

/** Parses the lines git writes to a pre-push hook's stdin. */
export function parsePrePushInput(text: string): PushedRef[] {
  const out: PushedRef[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [localRef, localSha, remoteRef, remoteSha] = line.trim().split(/\s+/);
    if (!localRef || !localSha || !remoteRef || !remoteSha) {
      throw new UsageError('USAGE', `pre-push: cannot read ref line ${JSON.stringify(line.slice(0, 200))}`);
    }
    out.push({ localRef, localSha, remoteRef, remoteSha });
  }
  return out;
}

export interface PushOptions {
  repo: Repo;
  /** Weft remote, git remote or URL (default: see resolveRemote). */
  remote?: string;
  /** Revisions to push (default HEAD). Ignored when `pushedRefs` is given. */
  refs?: readonly string[];
  /** What the pre-push hook received: the commits to push, and what the remote already has. */
  pushedRefs?: readonly PushedRef[];
  /** Check every object of the pushed commits, not only those new since the remote-tracking refs. */
  all?: boolean;
  transfers?: number;
  env?: Record<string, string | undefined>;
  onProgress?: (p: TransferProgress) => void;
  /**
   * Also push refs/notes/weft (evaluation results) when `remote` is a git remote, after merging its notes in
   * (`weft push` does; the pre-push hook must not: it runs inside a `git push`).
   */
  notes?: boolean;
}

/**
 * Pushes the objects of commits to a remote: those named by manifests reachable from the commits and not from
 * what the remote is known to have (its remote-tracking refs, and the remote shas git reports to pre-push).
 *
 * @example
 * const r = await pushObjects({ repo, remote: 'origin', refs: ['main'] });
 * console.log(`${r.uploaded} objects sent to ${r.remote}`);
 */
export async function pushObjects(options: PushOptions): Promise<PushResult> {
  const { repo } = options;
  const cwd = repo.topLevel;
  const include: string[] = [];
  const exclude: string[] = [];
  if (options.pushedRefs) {
    for (const r of options.pushedRefs) {
      if (ZERO_SHA.test(r.localSha)) continue; // a deletion sends nothing
      include.push(r.localSha);
      if (!ZERO_SHA.test(r.remoteSha) && (await commitExists(cwd, r.remoteSha))) exclude.push(r.remoteSha);
    }
  } else {
    for (const ref of options.refs?.length ? options.refs : ['HEAD']) include.push(await resolveCommit(cwd, ref));
  }
  const name = options.remote ?? (await defaultRemoteName({ repo }));
  if (!options.all && /^[A-Za-z0-9._-]+$/.test(name) && (await isGitRemoteName(cwd, name)))
    exclude.push(`--remotes=${name}`);
  const oids = new Set<string>();
  const manifests = await forEachManifestInRange({ cwd, include, exclude }, ({ manifest }) => {
    for (const id of objectsOfManifest(manifest)) oids.add(id);
  });
  const withNotes = async (r: PushResult): Promise<PushResult> => {
    if (!options.notes || options.pushedRefs || !(await isGitRemoteName(cwd, name))) return r;
    return { ...r, notes: await pushNotes({ repo, remote: name }) };
  };
  if (oids.size === 0) return withNotes({ remote: name, manifests, objects: 0, uploaded: 0, uploadedBytes: 0 }); // no contact
  const refName = options.pushedRefs?.find((r) => !ZERO_SHA.test(r.localSha))?.remoteRef;
  const resolved = await resolveRemote({
    repo,
    operation: 'upload',
    remote: name,
    ...(options.env ? { env: options.env } : {}),
    ...(refName ? { refName } : {}),
  });
  try {
    const sent = await uploadObjects({
      repo,
      transport: resolved.transport,
      oids: [...oids],
      ...(options.transfers ? { transfers: options.transfers } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return await withNotes({ remote: resolved.transport.name, manifests, objects: oids.size, ...sent });
  } finally {
    await resolved.transport.close();
  }
}

async function commitExists(cwd: string, sha: string): Promise<boolean> {
  const r = await runGit(['cat-file', '-e', `${sha}^{commit}`], { cwd, allowedExitCodes: [0, 1, 128] });
  return r.code === 0;
}
