// `weft fetch`, `weft pull` and on-demand fetching for smudge: download the objects that commits' manifests name and
// the store lacks, verify each (SHA-256 = oid, header parses) before it enters the store — never a partial object.

import { createHash } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RemoteError, StoreError } from '../errors.js';
import { CatFileBatch, runGit } from '../git/run-git.js';
import { looksLikeManifest, MAX_MANIFEST_BYTES, type Manifest } from '../manifest/manifest.js';
import { type BodyAllocator, mapLimit, type Transport } from '../remote/transport.js';
import { CodecPool } from '../store/codec-pool.js';
import type { ObjectId } from '../store/object-codec.js';
import { listTrackedManifests, manifestOfBlob, resolveCommit } from './git-manifests.js';
import { fetchNotes, isGitRemote, type NotesSyncResult } from './notes-sync.js';
import { DEFAULT_TRANSFERS, objectsOfManifest, type TransferProgress } from './push.js';
import { defaultRemoteName, resolveRemote } from './remote-config.js';
import type { Repo } from './repo.js';
import { objectsOfTensors } from './tensor-glob.js';

export { objectsOfTensors };

/** A download that fails verification is tried this many times in all (a flaky proxy), then reported. */
const CORRUPT_ATTEMPTS = 2;
/**
 * Most downloaded bytes held in memory while they wait for the store (verified, not yet written): bounds memory
 * when the disk is slower than the network.
 */
const WRITE_BACKLOG_BYTES = 256 * 1024 * 1024;

export interface FetchResult {
  remote: string;
  commits: string[];
  /** Objects the commits' manifests name. */
  objects: number;
  /** Objects downloaded now (the rest were already in the store). */
  downloaded: number;
  downloadedBytes: number;
  /** With `notes`: what happened to refs/notes/weft (absent when the remote is not a git remote). */
  notes?: NotesSyncResult;
}

/**
 * Downloads one object and stores it after verifying it: RemoteError REMOTE_CORRUPT naming the oid and the remote
 * when the bytes are not the object (the store is untouched then).
 *
 * @example
 * await downloadObject({ repo, transport, oid });
 */
export async function downloadObject(options: {
  repo: Repo;
  transport: Transport;
  oid: string;
  /** Leave directory fsyncs to one `repo.store.syncDirectories()` the caller awaits after the batch. */
  deferDirectorySync?: boolean;
}): Promise<number> {
  return storeDownloaded({ ...options, got: await downloadOnce(options.transport, options.oid) });
}

/** Downloaded bytes and, when the transport hashed them as they arrived, their SHA-256. */
type Downloaded = { bytes: Uint8Array; sha256?: string };

/**
 * One download. Transports that hash the body as it arrives spare the store a second pass over the bytes; the
 * store still compares that digest with the oid and validates the header before writing.
 */
async function downloadOnce(transport: Transport, oid: string, allocate?: BodyAllocator): Promise<Downloaded> {
  if (transport.downloadHashed) return transport.downloadHashed({ oid }, allocate ? { allocate } : {});
  return { bytes: await transport.download({ oid }) };
}

/** Stores downloaded bytes after verifying them; a corrupt download is fetched again once, then reported. */
async function storeDownloaded(options: {
  repo: Repo;
  transport: Transport;
  oid: string;
  got: Downloaded;
  deferDirectorySync?: boolean;
  /** Memory for bodies (see DownloadOptions), and where each body goes once written or refused. */
  buffers?: { allocate: BodyAllocator; release: (bytes: Uint8Array) => void };
}): Promise<number> {
  const { repo, transport, oid } = options;
  let got = options.got;
  for (let attempt = 1; ; attempt++) {
    const bytes = got.bytes;
    try {
      // putStored checks SHA-256 = oid and the header before writing, and writes temp + rename: never a partial
      // object.
      const put = {
        deferDirectorySync: options.deferDirectorySync === true,
        ...(got.sha256 ? { sha256: got.sha256 } : {}),
      };
      return (await repo.store.putStored(bytes, oid as ObjectId, put)).storedBytes;
    } catch (error) {
      if (!(error instanceof StoreError) || error.code !== 'STORE_CORRUPT') throw error;
      if (attempt < CORRUPT_ATTEMPTS) {
        options.buffers?.release(bytes);
        got = await downloadOnce(transport, oid, options.buffers?.allocate);
        continue;
      }
      const why = `${bytes.length} bytes received: ${error.message}`;
      throw new RemoteError('REMOTE_CORRUPT', `${transport.name}: object ${oid} is corrupt on the remote: ${why}`, {
        cause: error,
      });
    } finally {
      // Written (its memory no longer needed), or refused: either way this body's memory can be reused. A body
      // fetched again is released by its own attempt.
      if (got.bytes === bytes) options.buffers?.release(bytes);
    }
  }
}

/**
 * Downloads the objects of `oids` the store lacks, `transfers` at a time.
 *
 * @example
 * await downloadObjects({ repo, transport, oids: ['ab…'] });
 */
export async function downloadObjects(options: {
  repo: Repo;
  transport: Transport;
  oids: readonly string[];
  transfers?: number;
  onProgress?: (p: TransferProgress) => void;
}): Promise<{ downloaded: number; downloadedBytes: number }> {
  const { repo, transport } = options;
  const unique = [...new Set(options.oids)];
  const have = await mapLimit(unique, 16, (oid) => repo.store.has(oid as ObjectId));
  const missing = unique.filter((_, i) => !have[i]);
  // Stored sizes are not in manifests: bytes are counted as they arrive, the total estimated.
  const progress: TransferProgress = { doneBytes: 0, totalBytes: 0, doneObjects: 0, totalObjects: missing.length };
  options.onProgress?.({ ...progress });
  if (missing.length > 1) await transport.prepareDownloads?.(missing.map((oid) => ({ oid })));
  // Downloads and store writes overlap: a transfer slot is free again once its bytes are verified in memory and
  // handed to the store, so the next download starts while the store writes (and fsyncs) the previous one. Bytes
  // waiting for the store are bounded by WRITE_BACKLOG_BYTES.
  const writes = new Set<Promise<void>>();
  // Bodies are read into 8 MiB slots the codec pool lends and recycles (fresh memory faults in page by page).
  const lender = CodecPool.shared();
  const buffers = lender
    ? { allocate: (n: number) => lender.takeSlot(n), release: (b: Uint8Array) => lender.release(b) }
    : undefined;
  let backlog = 0;
  let writeFailed: { error: unknown } | undefined;
  const stored = (n: number) => {
    progress.doneBytes += n;
    progress.doneObjects++;
    // Sizes are known only on arrival: estimate the total from the mean so far (exact at the end).
    progress.totalBytes =
      progress.doneObjects === progress.totalObjects
        ? progress.doneBytes
        : Math.round((progress.doneBytes / progress.doneObjects) * progress.totalObjects);
    options.onProgress?.({ ...progress });
  };
  try {
    await mapLimit(missing, options.transfers ?? DEFAULT_TRANSFERS, async (oid) => {
      if (writeFailed) throw writeFailed.error;
      while (backlog > WRITE_BACKLOG_BYTES && writes.size > 0) await Promise.race(writes);
      const got = await downloadOnce(transport, oid, buffers?.allocate);
      const size = got.bytes.length;
      backlog += size;
      const write = storeDownloaded({
        repo,
        transport,
        oid,
        got,
        deferDirectorySync: true,
        ...(buffers ? { buffers } : {}),
      }).then(
        (n) => stored(n),
        (error: unknown) => {
          writeFailed ??= { error };
        },
      );
      const tracked = write.finally(() => {
        backlog -= size;
        writes.delete(tracked);
      });
      writes.add(tracked);
    });
    await Promise.all(writes);
    if (writeFailed) throw writeFailed.error;
  } catch (error) {
    await Promise.allSettled(writes); // no write outlives the call
    // The objects written before the failure are whole and verified: make them durable too, report the failure.
    await repo.store.syncDirectories().catch(() => undefined);
    throw error;
  }
  // One fsync per fan-out directory for the whole batch, not one per object.
  await repo.store.syncDirectories();
  return { downloaded: missing.length, downloadedBytes: progress.doneBytes };
}

export interface FetchOptions {
  repo: Repo;
  remote?: string;
  /** Revisions whose tracked files' objects are wanted (default HEAD). */
  refs?: readonly string[];
  /** Only these paths (exact or folder prefixes). */
  paths?: readonly string[];
  /**
   * Only the tensors whose names match one of these globs (`*` any run of characters, dots included; `?` one
   * character): their objects, the parent versions their encodings need, and every file's frame (headers), not
   * the other tensors' data. A later checkout of such a file fetches the rest on demand from the default remote,
   * or, with WEFT_SKIP_SMUDGE=1 or no remote, leaves the manifest and names the first tensor whose objects are
   * missing.
   */
  include?: readonly string[];
  /**
   * Only the tensors this predicate selects (a partial checkout's selection: `selectionPredicate` of
   * `readPartialSelection`), like `include`; `include` wins when both are given.
   */
  select?: (tensorName: string) => boolean;
  transfers?: number;
  env?: Record<string, string | undefined>;
  onProgress?: (p: TransferProgress) => void;
  /** Also fetch and merge refs/notes/weft (evaluation results) when the remote is a git remote. */
  notes?: boolean;
}

/**
 * Fetches the objects the tracked files of commits need.
 *
 * @example
 * const r = await fetchObjects({ repo, remote: 'origin', refs: ['main'] });
 */
export async function fetchObjects(options: FetchOptions): Promise<FetchResult> {
  const { repo } = options;
  const cwd = repo.topLevel;
  const commits: string[] = [];
  for (const ref of options.refs?.length ? options.refs : ['HEAD']) commits.push(await resolveCommit(cwd, ref));
  const oids = new Set<string>();
  for (const commit of new Set(commits)) {
    for (const t of await listManifestsInTree(cwd, commit, options.paths ?? [])) {
      const select = options.select;
      const ids = options.include?.length
        ? objectsOfTensors(t.manifest, options.include)
        : select
          ? objectsOfTensors({ ...t.manifest, tensors: t.manifest.tensors.filter((x) => select(x.name)) }, ['*'])
          : objectsOfManifest(t.manifest);
      for (const id of ids) oids.add(id);
    }
  }
  const resolved = await resolveRemote({
    repo,
    operation: 'download',
    ...(options.remote !== undefined ? { remote: options.remote } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  try {
    const r = await downloadObjects({
      repo,
      transport: resolved.transport,
      oids: [...oids],
      ...(options.transfers ? { transfers: options.transfers } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const result: FetchResult = { remote: resolved.transport.name, commits, objects: oids.size, ...r };
    if (options.notes) {
      const name = options.remote ?? (await defaultRemoteName({ repo }));
      if (await isGitRemote(cwd, name)) result.notes = await fetchNotes({ repo, remote: name });
    }
    return result;
  } finally {
    await resolved.transport.close();
  }
}

/** A tensor-name glob as an anchored regular expression: `*` any run of characters, `?` one, the rest literal. */

/**
 * For smudge: downloads the given objects the store lacks from the default remote (or `remote`). Resolves the
 * numbers fetched; rejects with a RemoteError naming the oid when one cannot be had.
 *
 * @example
 * await fetchMissingObjects({ repo, oids: refs.map((r) => r.id) });
 */
export async function fetchMissingObjects(options: {
  repo: Repo;
  oids: readonly string[];
  remote?: string;
  env?: Record<string, string | undefined>;
  transfers?: number;
}): Promise<{ downloaded: number; downloadedBytes: number }> {
  const { repo } = options;
  const unique = [...new Set(options.oids)];
  const have = await mapLimit(unique, 16, (oid) => repo.store.has(oid as ObjectId));
  const missing = unique.filter((_, i) => !have[i]);
  if (missing.length === 0) return { downloaded: 0, downloadedBytes: 0 };
  const resolved = await resolveRemote({
    repo,
    operation: 'download',
    ...(options.remote !== undefined ? { remote: options.remote } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  try {
    return await downloadObjects({
      repo,
      transport: resolved.transport,
      oids: missing,
      ...(options.transfers ? { transfers: options.transfers } : {}),
    });
  } finally {
    await resolved.transport.close();
  }
}

export interface PullResult extends FetchResult {
  /** Work-tree files rewritten from their manifests. */
  checkedOut: string[];
}

/**
 * `weft pull`: fetches HEAD's objects (like git-lfs pull, it does not run `git pull`), then materialises tracked
 * files that are still manifests in the work tree (a clone made with WEFT_SKIP_SMUDGE=1 or before the objects
 * were reachable) or missing. A file the user changed is never touched: only one whose bytes are exactly the
 * committed manifest, or that is absent, is checked out again.
 *
 * @example
 * const r = await pullObjects({ repo }); // r.checkedOut → ['model.safetensors']
 */
export async function pullObjects(options: Omit<FetchOptions, 'refs'>): Promise<PullResult> {
  const { repo } = options;
  const cwd = repo.topLevel;
  const fetched = await fetchObjects({ ...options, refs: ['HEAD'] });
  const tracked = await listTrackedManifests(cwd, 'HEAD', options.paths ?? []);
  const index = await indexBlobs(cwd);
  const redo: string[] = [];
  for (const t of tracked) {
    if (index.get(t.path) !== t.blob) continue; // staged changes: leave the file alone
    const state = await workTreeState(join(cwd, t.path), t.blob);
    if (state === 'manifest') await unlink(join(cwd, t.path));
    if (state !== 'other') redo.push(t.path);
  }
  if (redo.length > 0) {
    await runGit(['checkout', '--', ...redo], {
      cwd,
      env: { WEFT_SKIP_SMUDGE: undefined, GIT_LFS_SKIP_SMUDGE: undefined },
    });
  }
  return { ...fetched, checkedOut: redo };
}

/**
 * The manifests in a commit's tree, found by content (as git-lfs finds pointers), so that a repository with no
 * work tree or index yet (a bare fetch before checkout) still knows what to fetch.
 */
async function listManifestsInTree(
  cwd: string,
  commit: string,
  paths: readonly string[],
): Promise<{ path: string; blob: string; manifest: Manifest }[]> {
  const { stdout } = await runGit(['ls-tree', '-r', '-z', '-l', '--full-tree', commit], { cwd });
  const wanted: { path: string; blob: string }[] = [];
  for (const entry of stdout.toString('utf8').split('\0')) {
    const tab = entry.indexOf('\t');
    if (tab < 0) continue;
    const [, type, blob, size] = entry.slice(0, tab).split(/ +/);
    const path = entry.slice(tab + 1);
    if (type !== 'blob' || !blob || size === '-' || Number(size) > MAX_MANIFEST_BYTES || Number(size) <= 8) continue;
    if (paths.length > 0 && !paths.some((q) => path === q || path.startsWith(q.endsWith('/') ? q : `${q}/`))) continue;
    wanted.push({ path, blob });
  }
  const batch = new CatFileBatch({ cwd });
  const out: { path: string; blob: string; manifest: Manifest }[] = [];
  try {
    const reads = wanted.map((w) => ({ ...w, read: batch.read(w.blob) }));
    for (const r of reads) {
      const obj = await r.read;
      if (!obj) continue;
      let manifest: Manifest | undefined;
      try {
        manifest = manifestOfBlob(obj.content, r.path);
      } catch {
        manifest = undefined; // looks like a manifest but is not one: an ordinary file
      }
      if (manifest) out.push({ path: r.path, blob: r.blob, manifest });
    }
  } finally {
    await batch.close();
  }
  return out;
}

async function indexBlobs(cwd: string): Promise<Map<string, string>> {
  const { stdout } = await runGit(['ls-files', '-s', '-z'], { cwd });
  const out = new Map<string, string>();
  for (const entry of stdout.toString('utf8').split('\0')) {
    const tab = entry.indexOf('\t');
    if (tab < 0) continue;
    const [, blob, stage] = entry.slice(0, tab).split(' ');
    if (blob && stage === '0') out.set(entry.slice(tab + 1), blob);
  }
  return out;
}

/** Whether a work-tree file is the committed manifest itself (`blob`), absent, or anything else. */
async function workTreeState(path: string, blob: string): Promise<'manifest' | 'absent' | 'other'> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_MANIFEST_BYTES) return 'other';
    const bytes = await handle.readFile();
    if (!looksLikeManifest(bytes)) return 'other';
    // git's blob id of these bytes: SHA-1 of "blob <size>\0" + bytes (a SHA-256 repository uses SHA-256).
    const algo = blob.length === 64 ? 'sha256' : 'sha1';
    const id = createHash(algo).update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    return id === blob ? 'manifest' : 'other';
  } finally {
    await handle.close();
  }
}
