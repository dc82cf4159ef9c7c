// Partial checkout (`weft checkout --include/--exclude`): which tensors the work tree materialises (a selection kept
// in git config `weft.include` / `weft.exclude`), the hooks smudge, clean and status use, and the command itself.
// It must never fetch an unselected tensor, nor let a zero-filled tensor read as a change or reach a manifest.

import { createHash } from 'node:crypto';
import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { runGit } from '../git/run-git.js';
import {
  looksLikeManifest,
  type Manifest,
  type ManifestParent,
  type ManifestTensor,
  type TensorEncoding,
} from '../manifest/manifest.js';
import { mapLimit } from '../remote/transport.js';
import type { ObjectStore } from '../store/object-store.js';
import type { FileChange } from './diff.js';
import { listTrackedManifests, type TrackedManifest } from './git-manifests.js';
import type { TransferProgress } from './push.js';
import type { Repo } from './repo.js';
import { compileTensorGlob, objectsOfTensors } from './tensor-glob.js';

/** Git config keys (repository-local, multi-valued) holding the selection. */
export const INCLUDE_KEY = 'weft.include';
export const EXCLUDE_KEY = 'weft.exclude';
export { compileTensorGlob, MAX_GLOB_CHARS } from './tensor-glob.js';
/** Most globs in a selection (each is compiled to a regular expression and tried on every tensor name). */
export const MAX_SELECTION_GLOBS = 256;
/** Zeros written per piece for a tensor that is not materialised (bounded memory for a 10 GiB embedding). */
const ZERO_CHUNK_BYTES = 1024 * 1024;
/** Distinct tensor sizes whose all-zero content id is remembered (a model has few distinct sizes). */
const ZERO_ID_CACHE_ENTRIES = 4096;

/** Which tensors a partial checkout materialises: those matching an include glob (all, if none) and no exclude. */
export interface PartialSelection {
  include: string[];
  exclude: string[];
}

/** Says whether a tensor (by name) is selected. */
export type TensorPredicate = (tensorName: string) => boolean;

/**
 * The predicate of a selection; UsageError (see {@link compileTensorGlob}) for a bad glob or too many.
 *
 * @example
 * selectionPredicate({ include: ['layers.0.*'], exclude: ['*.bias'] })('layers.0.weight') // true
 */
export function selectionPredicate(selection: PartialSelection): TensorPredicate {
  const count = selection.include.length + selection.exclude.length;
  if (count > MAX_SELECTION_GLOBS) {
    throw new UsageError('USAGE', `--include/--exclude: ${count} patterns, at most ${MAX_SELECTION_GLOBS}`);
  }
  const include = selection.include.map((g) => compileTensorGlob(g, '--include'));
  const exclude = selection.exclude.map((g) => compileTensorGlob(g, '--exclude'));
  return (name) => (include.length === 0 || include.some((r) => r.test(name))) && !exclude.some((r) => r.test(name));
}

/** Every value of `weft.include` and of `weft.exclude` (git config), with one git call. */
async function getSelectionKeys(cwd: string): Promise<Map<string, string[]>> {
  // -z: each entry is "key\nvalue\0" (keys in lower case); exit 1 means "none set".
  const r = await runGit(['config', '--local', '-z', '--get-regexp', '^weft\\.(include|exclude)$'], {
    cwd,
    allowedExitCodes: [0, 1],
  });
  const out = new Map<string, string[]>([
    [INCLUDE_KEY, []],
    [EXCLUDE_KEY, []],
  ]);
  for (const entry of r.stdout.toString('utf8').split('\0')) {
    const nl = entry.indexOf('\n');
    if (nl < 0) continue; // a key without a value (`[weft] include`) selects nothing
    const value = entry.slice(nl + 1);
    if (value !== '') out.get(entry.slice(0, nl))?.push(value);
  }
  return out;
}

/**
 * The repository's selection (git config `weft.include` / `weft.exclude`), or undefined when none is set (every
 * tensor is materialised).
 *
 * @example
 * await readPartialSelection({ cwd: repo.topLevel }) // → { include: ['layers.0.*'], exclude: [] }
 */
export async function readPartialSelection(options: { cwd: string }): Promise<PartialSelection | undefined> {
  const keys = await getSelectionKeys(options.cwd);
  const include = keys.get(INCLUDE_KEY)!;
  const exclude = keys.get(EXCLUDE_KEY)!;
  return include.length + exclude.length === 0 ? undefined : { include, exclude };
}

/**
 * Replaces the repository's selection (undefined or empty clears it: everything is materialised again).
 *
 * @example
 * await writePartialSelection({ cwd, selection: { include: ['layers.0.*'], exclude: [] } });
 */
export async function writePartialSelection(options: {
  cwd: string;
  selection: PartialSelection | undefined;
}): Promise<void> {
  const { cwd, selection } = options;
  for (const key of [INCLUDE_KEY, EXCLUDE_KEY]) {
    await runGit(['config', '--local', '--unset-all', key], { cwd, allowedExitCodes: [0, 5] });
  }
  for (const g of selection?.include ?? []) await runGit(['config', '--local', '--add', INCLUDE_KEY, g], { cwd });
  for (const g of selection?.exclude ?? []) await runGit(['config', '--local', '--add', EXCLUDE_KEY, g], { cwd });
}

/**
 * The objects a checkout of `manifest` under a selection needs: every frame, and the selected tensors' encodings
 * with the parent versions they are stored against (as `weft fetch --include` computes them).
 *
 * @example
 * objectsOfSelection(manifest, (n) => n.startsWith('layers.0.'))
 */
export function objectsOfSelection(manifest: Manifest, selected: TensorPredicate): string[] {
  return objectsOfTensors({ ...manifest, tensors: manifest.tensors.filter((t) => selected(t.name)) }, ['*']);
}

/** Every object a tensor needs to be rebuilt: its encoding's and those of its parent chain. */
function objectsOfTensor(manifest: Manifest, tensor: ManifestTensor): string[] {
  return objectsOfTensors({ ...manifest, frames: [], tensors: [tensor] }, ['*']);
}

/**
 * True when every object a tensor needs (its encoding and its parents') is in the store: smudge can write it.
 *
 * @example
 * await tensorInStore({ store: repo.store, manifest, tensor: manifest.tensors[0]! })
 */
export async function tensorInStore(options: {
  store: ObjectStore;
  manifest: Manifest;
  tensor: ManifestTensor;
}): Promise<boolean> {
  const ids = objectsOfTensor(options.manifest, options.tensor);
  const have = await mapLimit(ids, 16, (id) => options.store.has(id as never));
  return have.every(Boolean);
}

/**
 * For smudge: the names of the tensors written as zeros — not selected, and not (wholly) in the store. Selected
 * tensors and unselected ones the store holds are written for real.
 *
 * @example
 * const zeroFill = await tensorsToZeroFill({ store, manifest, selected });
 */
export async function tensorsToZeroFill(options: {
  store: ObjectStore;
  manifest: Manifest;
  selected: TensorPredicate;
}): Promise<Set<string>> {
  const out = new Set<string>();
  for (const t of options.manifest.tensors) {
    if (t.sizeBytes === 0 || options.selected(t.name)) continue;
    if (!(await tensorInStore({ store: options.store, manifest: options.manifest, tensor: t }))) out.add(t.name);
  }
  return out;
}

/**
 * `n` zero bytes in pieces of at most 1 MiB, each a fresh buffer (the consumer may keep or transfer it).
 *
 * @example
 * for (const piece of zeroPieces(t.sizeBytes)) out.write(piece);
 */
export function* zeroPieces(n: number): Generator<Uint8Array> {
  for (let left = n; left > 0; left -= ZERO_CHUNK_BYTES) yield new Uint8Array(Math.min(left, ZERO_CHUNK_BYTES));
}

/**
 * True when every byte is zero.
 *
 * @example
 * isAllZero(new Uint8Array(8)) // true
 */
export function isAllZero(bytes: Uint8Array): boolean {
  const words =
    bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2) : undefined;
  let i = 0;
  if (words) {
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length << 2;
  }
  for (; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

const zeroIds = new Map<number, string>();

/**
 * The content id (SHA-256) of `sizeBytes` zero bytes, remembered per size.
 *
 * @example
 * zeroContentId(0) // 'e3b0c442…'
 */
export function zeroContentId(sizeBytes: number): string {
  const known = zeroIds.get(sizeBytes);
  if (known) return known;
  const h = createHash('sha256');
  const zeros = new Uint8Array(Math.min(sizeBytes, ZERO_CHUNK_BYTES));
  for (let left = sizeBytes; left > 0; left -= zeros.length) h.update(zeros.subarray(0, Math.min(left, zeros.length)));
  const id = h.digest('hex');
  if (zeroIds.size >= ZERO_ID_CACHE_ENTRIES) zeroIds.clear();
  zeroIds.set(sizeBytes, id);
  return id;
}

function sameLayout(a: ManifestTensor, b: ManifestTensor): boolean {
  return (
    a.dtype === b.dtype &&
    a.offsetBytes === b.offsetBytes &&
    a.sizeBytes === b.sizeBytes &&
    a.shape.length === b.shape.length &&
    a.shape.every((d, i) => d === b.shape[i])
  );
}

/**
 * The previous entry of a tensor that was not materialised: unselected, all zeros now (`contentId` is the zero
 * content id), the previous version has it with the same dtype, shape and offset, and its objects are not in the
 * store. Undefined otherwise (then the zeros are a real change).
 */
async function unmaterialisedEntry(
  store: ObjectStore,
  previous: Manifest,
  previousByName: Map<string, ManifestTensor>,
  tensor: Pick<ManifestTensor, 'name' | 'dtype' | 'shape' | 'offsetBytes' | 'sizeBytes' | 'contentId'>,
  selected: TensorPredicate,
): Promise<ManifestTensor | undefined> {
  if (selected(tensor.name) || tensor.sizeBytes === 0) return undefined;
  const prev = previousByName.get(tensor.name);
  if (!prev || prev.contentId === tensor.contentId || !sameLayout(prev, tensor as ManifestTensor)) return undefined;
  if (tensor.contentId !== zeroContentId(tensor.sizeBytes)) return undefined;
  return (await tensorInStore({ store, manifest: previous, tensor: prev })) ? undefined : prev;
}

/**
 * For clean: the manifest with every tensor that was not materialised (see the partial checkout: unselected, all
 * zeros, absent from the store, same layout in `previous`) given back its previous entry, and the parent lines
 * recomputed as clean computes them; undefined when no tensor is such. The caveat: an unselected tensor the user
 * deliberately set to all zeros while it was not materialised reads as unchanged.
 *
 * @example
 * const kept = await keepUnmaterialised({ store, manifest, previous, selected }); // → Manifest | undefined
 */
export async function keepUnmaterialised(options: {
  store: ObjectStore;
  manifest: Manifest;
  previous: Manifest;
  selected: TensorPredicate;
}): Promise<Manifest | undefined> {
  const { store, manifest, previous, selected } = options;
  const previousByName = new Map(previous.tensors.map((t) => [t.name, t]));
  let replaced = 0;
  const tensors: ManifestTensor[] = [];
  for (const t of manifest.tensors) {
    const prev = await unmaterialisedEntry(store, previous, previousByName, t, selected);
    if (prev) replaced++;
    tensors.push(prev ? { ...t, contentId: prev.contentId, encoding: prev.encoding } : t);
  }
  if (replaced === 0) return undefined;
  const out: Manifest = { ...manifest, tensors };
  const parents = parentLinesOf(tensors, [manifest, previous]);
  if (parents.length > 0) out.parents = parents;
  else delete out.parents;
  return out;
}

/**
 * The parent lines a manifest with these tensors needs, in clean's order (tensor by tensor, following each chain,
 * each parent once, none that is a tensor of the file), found in the parent lines and tensors of `sources`.
 */
function parentLinesOf(tensors: readonly ManifestTensor[], sources: readonly Manifest[]): ManifestParent[] {
  const known = new Map<string, ManifestParent>();
  for (const m of [...sources].reverse()) {
    for (const t of m.tensors)
      known.set(t.contentId, { contentId: t.contentId, sizeBytes: t.sizeBytes, encoding: t.encoding });
    for (const p of m.parents ?? []) known.set(p.contentId, p);
  }
  const listed = new Set<string>(tensors.map((t) => t.contentId));
  const out: ManifestParent[] = [];
  for (const t of tensors) {
    let enc: TensorEncoding = t.encoding;
    for (let links = 0; enc.kind !== 'dense' && enc.params.parent !== undefined && links < 64; links++) {
      const p = known.get(enc.params.parent);
      if (!p) break; // cannot happen for entries taken from a parsed manifest; clean reports a broken chain
      if (!listed.has(p.contentId)) {
        listed.add(p.contentId);
        out.push(p);
      }
      enc = p.encoding;
    }
  }
  return out;
}

/** A tracked file whose work tree leaves some tensors not materialised (zeros standing in for them). */
export interface PartialFile {
  path: string;
  tensors: number;
  /** Names of the tensors that are not materialised. */
  notMaterialised: string[];
}

/** True when the bytes `[offset, offset + size)` of an open file are all zero. */
async function rangeIsZero(handle: Awaited<ReturnType<typeof open>>, offset: number, size: number): Promise<boolean> {
  const buffer = new Uint8Array(Math.min(size, ZERO_CHUNK_BYTES));
  for (let at = 0; at < size; ) {
    const n = Math.min(buffer.length, size - at);
    const { bytesRead } = await handle.read(buffer, 0, n, offset + at);
    if (bytesRead !== n || !isAllZero(buffer.subarray(0, n))) return false;
    at += n;
  }
  return true;
}

/**
 * For status: the tracked files (manifests of the index) whose work-tree copy leaves tensors not materialised
 * under the repository's selection — unselected, absent from the store, and all zeros in the file. Empty when no
 * selection is set.
 *
 * @example
 * const partial = await listPartialFiles({ repo, files: await listTrackedManifests(cwd, ':index') });
 */
export async function listPartialFiles(options: {
  repo: Repo;
  files: readonly TrackedManifest[];
}): Promise<PartialFile[]> {
  const { repo } = options;
  const selection = await readPartialSelection({ cwd: repo.topLevel });
  if (!selection) return [];
  const selected = selectionPredicate(selection);
  const out: PartialFile[] = [];
  for (const f of options.files) {
    const zeroFill = await tensorsToZeroFill({ store: repo.store, manifest: f.manifest, selected });
    if (zeroFill.size === 0) continue;
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(join(repo.topLevel, f.path), 'r');
    } catch {
      continue; // absent: git reports it
    }
    const notMaterialised: string[] = [];
    try {
      if ((await handle.stat()).size === f.manifest.sizeBytes) {
        for (const t of f.manifest.tensors) {
          if (zeroFill.has(t.name) && (await rangeIsZero(handle, t.offsetBytes, t.sizeBytes)))
            notMaterialised.push(t.name);
        }
      }
    } finally {
      await handle.close();
    }
    if (notMaterialised.length > 0) out.push({ path: f.path, tensors: f.manifest.tensors.length, notMaterialised });
  }
  return out;
}

/**
 * Work-tree changes without the tensors that are only not materialised (a file left with no change is dropped).
 *
 * @example
 * dropUnmaterialised(changes, await listPartialFiles({ repo, files }))
 */
export function dropUnmaterialised(changes: readonly FileChange[], partial: readonly PartialFile[]): FileChange[] {
  const byPath = new Map(partial.map((p) => [p.path, new Set(p.notMaterialised)]));
  const out: FileChange[] = [];
  for (const c of changes) {
    const skip = byPath.get(c.path);
    if (!skip || c.change !== 'modified') {
      out.push(c);
      continue;
    }
    const tensors = c.tensors.filter((t) => !(t.change === 'changed' && !t.dtype && !t.shape && skip.has(t.name)));
    if (tensors.length > 0 || c.frameChanged || c.sizeBytes.before !== c.sizeBytes.after) out.push({ ...c, tensors });
  }
  return out;
}

export interface PartialCheckoutOptions {
  repo: Repo;
  /** Replace the selection with these globs (with `exclude`); neither → keep the current selection. */
  include?: readonly string[];
  exclude?: readonly string[];
  /** Clear the selection: materialise every tensor. */
  all?: boolean;
  /** Only these tracked paths (exact or folder prefixes); the selection itself applies to every file. */
  paths?: readonly string[];
  remote?: string;
  transfers?: number;
  env?: Record<string, string | undefined>;
  onProgress?: (p: TransferProgress) => void;
}

export interface PartialCheckoutResult {
  /** The selection now in effect (undefined: every tensor). */
  selection?: PartialSelection;
  /** Objects the tracked files need under the selection, and those downloaded now. */
  objects: number;
  downloaded: number;
  downloadedBytes: number;
  /** The remote downloaded from, when something was missing. */
  remote?: string;
  /**
   * Tracked files matching the index, with how many of their tensors are not materialised (zeros), and whether
   * they were rewritten (a file already as the selection wants it is left as it is).
   */
  files: { path: string; tensors: number; notMaterialised: number; rewritten: boolean }[];
  /** Files left alone because their work-tree copy differs from the index. */
  skipped: { path: string; reason: string }[];
}

/** Paths among `paths` whose work-tree copy differs from the index (cleaned under the selection in effect now). */
async function modifiedPaths(cwd: string, paths: readonly string[]): Promise<Set<string>> {
  if (paths.length === 0) return new Set();
  const r = await runGit(['diff', '--name-only', '-z', '--no-renames', '--', ...paths], { cwd });
  return new Set(r.stdout.toString('utf8').split('\0').filter(Boolean));
}

async function sizeOfFile(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The tensors a materialised work-tree copy leaves out under the selection it was written with: unselected, all
 * zeros in the file though their content is not. Undefined when the file is not a materialised copy of the
 * manifest (absent, another size, or the manifest itself).
 */
async function zeroedInFile(
  path: string,
  manifest: Manifest,
  selected: TensorPredicate,
): Promise<Set<string> | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    if ((await handle.stat()).size !== manifest.sizeBytes) return undefined;
    const head = new Uint8Array(Math.min(64, manifest.sizeBytes));
    await handle.read(head, 0, head.length, 0);
    if (looksLikeManifest(head)) return undefined;
    const out = new Set<string>();
    for (const t of manifest.tensors) {
      if (selected(t.name) || t.sizeBytes === 0) continue;
      if ((await rangeIsZero(handle, t.offsetBytes, t.sizeBytes)) && t.contentId !== zeroContentId(t.sizeBytes)) {
        out.add(t.name);
      }
    }
    return out;
  } finally {
    await handle.close();
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/**
 * `weft checkout`: sets the selection (or keeps it, or clears it with `all`), fetches only the objects the
 * selected tensors need, and rewrites the tracked files whose work-tree copy matches the index, through git (so
 * the index's stat data is fresh). UsageError when nothing is tracked, or an include glob matches no tensor of
 * the tracked files (the selection is not changed then). A file with local changes is left alone and reported.
 *
 * @example
 * const r = await checkoutPartial({ repo, include: ['model.layers.0.*'] }); // r.files[0].notMaterialised → 290
 */
export async function checkoutPartial(options: PartialCheckoutOptions): Promise<PartialCheckoutResult> {
  // Loaded here, not with this module: the filter process imports it for the selection alone, and starts faster
  // without the diff, fetch and remote machinery.
  const [{ diffVersions }, { downloadObjects }, { objectsOfManifest }, { resolveRemote }] = await Promise.all([
    import('./diff.js'),
    import('./fetch.js'),
    import('./push.js'),
    import('./remote-config.js'),
  ]);
  const { repo } = options;
  const cwd = repo.topLevel;
  const include = [...(options.include ?? [])];
  const exclude = [...(options.exclude ?? [])];
  if (options.all && include.length + exclude.length > 0) {
    throw new UsageError('USAGE', '--all materialises every tensor: it cannot be combined with --include/--exclude');
  }
  const paths = options.paths ?? [];
  const tracked = await listTrackedManifests(cwd, ':index', paths);
  if (tracked.length === 0) {
    const where = paths.length > 0 ? ` under ${paths.join(', ')}` : '';
    throw new UsageError(
      'USAGE_NOT_FOUND',
      `no tracked model files${where} in the index: track some with 'weft track <pattern>' and commit them`,
    );
  }
  const before = await readPartialSelection({ cwd });
  const selection: PartialSelection | undefined = options.all
    ? undefined
    : include.length + exclude.length > 0
      ? { include, exclude }
      : before;
  const selected: TensorPredicate = selection ? selectionPredicate(selection) : () => true;
  for (const g of include) {
    const re = compileTensorGlob(g, '--include');
    if (!tracked.some((t) => t.manifest.tensors.some((x) => re.test(x.name)))) {
      throw new UsageError(
        'USAGE_NOT_FOUND',
        `--include ${JSON.stringify(g)} matches no tensor in the ${tracked.length} tracked file(s) (${tracked
          .slice(0, 3)
          .map((t) => t.path)
          .join(', ')}${tracked.length > 3 ? ', …' : ''}); the selection is unchanged`,
      );
    }
  }
  // Which files may be rewritten is decided under the selection and store that produced them: once the selection
  // changes or objects arrive, a zero-filled tensor would read as a change.
  const modified = await modifiedPaths(
    cwd,
    tracked.map((t) => t.path),
  );
  const selectedBefore = before ? selectionPredicate(before) : () => true;
  // A file git calls modified only because tensors it left out have arrived in the store since (weft fetch) is
  // not: its zeros are still "not materialised".
  const changes =
    modified.size > 0
      ? await diffVersions({ repo, before: { kind: 'index' }, after: { kind: 'worktree' }, paths: [...modified] })
      : [];
  for (const path of modified) {
    const t = tracked.find((x) => x.path === path);
    const zeros = t ? await zeroedInFile(join(cwd, t.path), t.manifest, selectedBefore) : undefined;
    const left = changes.filter((c) => c.path === path);
    if (zeros && dropUnmaterialised(left, [{ path, tensors: 0, notMaterialised: [...zeros] }]).length === 0) {
      modified.delete(path);
    }
  }
  const oids = new Set<string>();
  for (const t of tracked) {
    for (const id of selection ? objectsOfSelection(t.manifest, selected) : objectsOfManifest(t.manifest)) oids.add(id);
  }
  const have = await mapLimit([...oids], 16, (id) => repo.store.has(id as never));
  const missing = [...oids].filter((_, i) => !have[i]);
  let fetched = { downloaded: 0, downloadedBytes: 0 };
  let remote: string | undefined;
  if (missing.length > 0) {
    const resolved = await resolveRemote({
      repo,
      operation: 'download',
      ...(options.remote !== undefined ? { remote: options.remote } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    try {
      remote = resolved.transport.name;
      fetched = await downloadObjects({
        repo,
        transport: resolved.transport,
        oids: missing,
        ...(options.transfers ? { transfers: options.transfers } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
    } finally {
      await resolved.transport.close();
    }
  }
  // Written once the objects are here: a failed download leaves the selection as it was.
  if (options.all || include.length + exclude.length > 0) await writePartialSelection({ cwd, selection });
  const redo: TrackedManifest[] = [];
  const files: PartialCheckoutResult['files'] = [];
  const skipped: PartialCheckoutResult['skipped'] = [];
  for (const t of tracked) {
    const size = await sizeOfFile(join(cwd, t.path));
    if (modified.has(t.path) && size !== undefined) {
      skipped.push({ path: t.path, reason: 'local changes (commit or discard them first)' });
      continue;
    }
    const zero = selection
      ? await tensorsToZeroFill({ store: repo.store, manifest: t.manifest, selected })
      : new Set<string>();
    // A materialised copy whose zero-filled tensors stay the same is already what a checkout would write.
    const now = size === undefined ? undefined : await zeroedInFile(join(cwd, t.path), t.manifest, selectedBefore);
    const same = now !== undefined && sameSet(zero, now);
    if (!same) redo.push(t);
    files.push({ path: t.path, tensors: t.manifest.tensors.length, notMaterialised: zero.size, rewritten: !same });
  }
  // git rewrites only entries whose stat data says they changed: remove the files so every one is written again.
  for (const t of redo) await unlink(join(cwd, t.path)).catch(() => undefined);
  if (redo.length > 0) {
    await runGit(['checkout', '--', ...redo.map((t) => t.path)], {
      cwd,
      env: { WEFT_SKIP_SMUDGE: undefined, GIT_LFS_SKIP_SMUDGE: undefined },
    });
  }
  return {
    ...(selection ? { selection } : {}),
    objects: oids.size,
    ...fetched,
    ...(remote !== undefined ? { remote } : {}),
    files,
    skipped,
  };
}
