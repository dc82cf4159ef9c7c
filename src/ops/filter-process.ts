// `weft filter-process`: the long-running filter git starts once per command (filter.weft.process), serving
// clean (git add) and smudge (git checkout) for every tracked file.

import { createWriteStream, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { UsageError, WeftError } from '../errors.js';
import { serveFilterProcess } from '../git/filter-process.js';
import { growPipes } from '../git/pipe-size.js';
import { CONTENT_CHUNK_BYTES } from '../git/pkt-line.js';
import { CatFileBatch } from '../git/run-git.js';
import {
  listManifestRefs,
  looksLikeManifest,
  type Manifest,
  parseManifest,
  printManifest,
} from '../manifest/manifest.js';
import { CodecPool } from '../store/codec-pool.js';
import { nativeKernels } from '../store/native-kernels.js';
import type { ObjectId } from '../store/object-codec.js';
import type { ObjectStore } from '../store/object-store.js';
import { BufferPool } from './buffer-pool.js';
import { concatBytes } from './byte-stream.js';
import type { cleanFile as CleanFile } from './clean.js';
import { manifestOfBlob } from './git-manifests.js';
import {
  keepUnmaterialised,
  objectsOfSelection,
  readPartialSelection,
  selectionPredicate,
  type TensorPredicate,
  tensorsToZeroFill,
} from './partial.js';
import { openRepoAtTopLevel, type Repo } from './repo.js';
import type { smudgeFile as SmudgeFile } from './smudge.js';
import { DEFAULT_MAX_CHAIN, MAX_DECODE_DEPTH } from './tensor-decode.js';
import { defaultIndexPath, unchangedSinceIndex } from './unchanged-since-index.js';
import { configTable, readWeftConfig, WEFT_CONFIG_PATH, type WeftConfigDocument } from './weft-config.js';

/** Files from this size on are first checked against their index entry's stat data (unchanged-since-index.ts). */
const UNCHANGED_CHECK_MIN_BYTES = 16 * 1024 * 1024;

/** Idle 1 MiB content buffers kept for reuse (bounds what the pool holds between files). */
const POOL_IDLE_BUFFERS = 64;

export interface FilterProcessOptions {
  cwd: string;
  input: Readable | { fd: number };
  /** Where answers go; with `growStdioPipes` (and only then) it may be left out: fd 1 is written directly. */
  output?: Writable;
  /** One-line messages for the user (git shows the filter's stderr). */
  warn: (message: string) => void;
  /**
   * input/output are this process's fds 0 and 1: enlarge those pipes (much faster transfers on Linux) and write
   * fd 1 asynchronously.
   */
  growStdioPipes?: boolean;
  /** Environment: WEFT_SKIP_SMUDGE=1 leaves manifests in the work tree (like GIT_LFS_SKIP_SMUDGE); remote settings. */
  env?: Record<string, string | undefined>;
}

/** The size of the work-tree file (a direct `stat`: see unchangedSinceIndex), or undefined. */
function sizeOf(path: string): number | undefined {
  try {
    const s = statSync(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** Partial checkout: the tensors of a manifest smudge writes as zeros (undefined when `input` is no manifest). */
async function zeroFillOf(
  store: ObjectStore,
  input: Uint8Array,
  pathname: string,
  selected: TensorPredicate,
): Promise<Set<string> | undefined> {
  if (!looksLikeManifest(input)) return undefined;
  try {
    const manifest = parseManifest(new TextDecoder().decode(input), pathname);
    return await tensorsToZeroFill({ store, manifest, selected });
  } catch {
    return undefined; // smudge reports the bad manifest
  }
}

/**
 * Serves git's filter protocol on `input`/`output` until git closes it.
 * @example await runFilterProcess({ cwd, input: process.stdin, output: process.stdout, warn: console.error });
 */
export async function runFilterProcess(options: FilterProcessOptions): Promise<void> {
  // Clean and smudge are loaded apart from the filter's start-up: smudge with its first request (it is small);
  // clean, the bigger (formats, encoders), in the background from the start (below).
  let cleanModule: Promise<{ cleanFile: typeof CleanFile }> | undefined;
  let smudgeModule: Promise<{ smudgeFile: typeof SmudgeFile }> | undefined;
  const loadClean = () => (cleanModule ??= import('./clean.js'));
  const loadSmudge = () => (smudgeModule ??= import('./smudge.js'));
  // The worker threads (hashing, encoding, decoding) start now, loading while git and this process shake hands:
  // the first clean hashes on them, the first smudge decodes on them. First of all: a Worker builds process.stdout
  // (to pass its output on), which makes fd 1 non-blocking, and the pipes are made blocking below.
  const codecs = CodecPool.shared();
  codecs?.start();
  let output: Writable;
  if (!options.growStdioPipes) {
    if (!options.output) throw new TypeError('runFilterProcess: no output (give one, or growStdioPipes)');
    output = options.output;
  } else {
    // Blocking descriptors, 1 MiB pipes: two system calls each with the native addon; with perl, in the background.
    void growPipes();
    // process.stdout writes to a pipe synchronously on Linux: while git drains a checkout, the thread that hashes
    // and schedules decoding would sit blocked. Writes through an fs stream on fd 1 run on libuv's pool instead.
    output = createWriteStream('', { fd: 1, autoClose: false, highWaterMark: 4 * 1024 * 1024 });
  }
  // The clean code (formats, encoders: ~15 ms to load) loads while git and this process shake hands, the same
  // way: a re-clean reads git's content as soon as the request comes. A checkout does not wait for it.
  loadClean().catch(() => {}); // a clean request awaits it and reports its failure
  // The handshake does not wait for the repository and its settings either: requests do.
  let repo!: Repo;
  let selected: TensorPredicate | undefined;
  let maxChain = DEFAULT_MAX_CHAIN;
  let autoLowRank = true;
  // Clean needs only the repository to begin (its index entry, its previous version); the settings come later.
  // git runs the filter in the work tree's top level: the plain layout is read there without starting git.
  const repoReady = openRepoAtTopLevel({ cwd: options.cwd, env: options.env ?? process.env }).then((opened) => {
    repo = opened;
  });
  repoReady.catch(() => {}); // each request awaits it and reports its failure
  const ready = (async () => {
    await repoReady;
    // Partial checkout (partial.ts): the selection in git config weft.include/weft.exclude; a bad one is ignored.
    const [selection, config] = await Promise.allSettled([
      readPartialSelection({ cwd: repo.topLevel }),
      readWeftConfig({ topLevel: repo.topLevel }),
    ]);
    if (selection.status === 'fulfilled') selected = selection.value ? selectionPredicate(selection.value) : undefined;
    else if (selection.reason instanceof UsageError) {
      options.warn(`git config weft.include/weft.exclude: ${selection.reason.message}; checking out every tensor`);
    } else throw selection.reason;
    try {
      if (config.status === 'rejected') throw config.reason;
      maxChain = resolveMaxChain(config.value);
      autoLowRank = configTable(config.value, 'encoding', '[encoding]')?.auto_low_rank !== false;
    } catch (e) {
      // A bad setting must not stop checkouts: say so and use the default.
      if (!(e instanceof UsageError)) throw e;
      options.warn(`${e.message}; using max_chain = ${DEFAULT_MAX_CHAIN}`);
    }
  })();
  ready.catch(() => {}); // each request awaits it and reports its failure
  let catFile: CatFileBatch | undefined;
  /** The version of `pathname` in the index (or HEAD): the parent of the version being cleaned. */
  const previousOf = async (pathname: string): Promise<Manifest | undefined> => {
    catFile ??= new CatFileBatch({ cwd: repo.topLevel });
    for (const rev of [`:${pathname}`, `HEAD:${pathname}`]) {
      let found: Awaited<ReturnType<CatFileBatch['read']>>;
      try {
        found = await catFile.read(rev);
      } catch {
        return undefined; // no HEAD yet, or git cannot answer: clean without a parent
      }
      if (found?.type !== 'blob') continue;
      try {
        return manifestOfBlob(found.content, pathname);
      } catch {
        return undefined; // a damaged manifest in the index: clean without a parent
      }
    }
    return undefined;
  };
  /** The objects a manifest names that the store lacks (none for a non-manifest or a bad one: smudge reports it). */
  const missingObjects = async (input: Uint8Array, pathname: string): Promise<string[]> => {
    if (!looksLikeManifest(input)) return [];
    let ids: string[];
    try {
      const manifest = parseManifest(new TextDecoder().decode(input), pathname);
      // Partial checkout (partial.ts): only the frames and the selected tensors' objects are fetched.
      ids = selected ? objectsOfSelection(manifest, selected) : listManifestRefs(manifest).map((r) => r.id);
    } catch {
      return [];
    }
    const present = await Promise.all(ids.map((id) => repo.store.has(id as ObjectId)));
    return ids.filter((_, i) => !present[i]);
  };
  /** Downloads the objects a manifest names that the store lacks, from the default remote (if there is one). */
  const fetchMissing = async (input: Uint8Array, pathname: string): Promise<void> => {
    const ids = await missingObjects(input, pathname);
    if (ids.length === 0) return;
    try {
      // Loaded only when something is missing: a filter start does without the remote machinery.
      const { fetchMissingObjects } = await import('./fetch.js');
      const r = await fetchMissingObjects({ repo, oids: ids, ...(options.env ? { env: options.env } : {}) });
      if (r.downloaded > 0) options.warn(`${pathname}: downloaded ${r.downloaded} object(s) from the remote`);
    } catch (e) {
      if (!(e instanceof WeftError)) throw e;
      options.warn(`${pathname}: could not download its missing objects: ${e.message}`);
    }
  };
  // Content buffers circulate: git's stream → hashing thread → compression thread → back to the pool.
  const pool = new BufferPool(CONTENT_CHUNK_BYTES, POOL_IDLE_BUFFERS);
  if (codecs) codecs.recycle = (buffer) => pool.give(buffer);
  /**
   * git's `delay`: a checkout file whose objects must be downloaded answers "later", its download starts at once,
   * and git goes on to the next file — so the downloads of a checkout run side by side, not file after file.
   */
  const delayed = new Map<string, { content: Uint8Array; download: Promise<void>; done: boolean; reported: boolean }>();
  const delay = {
    begin: async ({ pathname, content }: { pathname: string; content: Uint8Array }) => {
      if (options.env?.WEFT_SKIP_SMUDGE === '1') return false;
      await ready;
      if ((await missingObjects(content, pathname)).length === 0) return false;
      const entry = { content, download: Promise.resolve(), done: false, reported: false };
      entry.download = fetchMissing(content, pathname)
        .catch(() => {}) // smudge then names what is still missing
        .finally(() => {
          entry.done = true;
        });
      delayed.set(pathname, entry);
      return true;
    },
    available: async () => {
      const pending = [...delayed.values()].filter((e) => !e.reported);
      if (pending.length === 0) return [];
      // git waits on this answer: block until at least one download has ended.
      if (!pending.some((e) => e.done)) await Promise.race(pending.map((e) => e.download));
      const ready = [...delayed.entries()].filter(([, e]) => e.done && !e.reported);
      for (const [, e] of ready) e.reported = true;
      return ready.map(([path]) => path);
    },
  };
  await serveFilterProcess({
    allocateContent: (bytes) => pool.take(bytes),
    // Smudge's large pieces are decoded into memory lent by the codec pool: it is reused once git has the bytes.
    ...(codecs ? { releaseResponse: (chunk: Uint8Array) => codecs.release(chunk) } : {}),
    input: options.input,
    output,
    onError: (error) => options.warn(error instanceof Error ? error.message : String(error)),
    handlers: {
      delay,
      async clean(request) {
        const cleanModuleP = loadClean(); // loads while git and the file system answer the lookups below
        cleanModuleP.catch(() => {}); // awaited below
        await repoReady;
        // git waits with the content in the pipe until this reads it: what can run side by side does.
        const previousP = previousOf(request.pathname);
        previousP.catch(() => {}); // awaited below
        const sizeHint = sizeOf(join(repo.topLevel, request.pathname));
        if (sizeHint !== undefined && sizeHint >= UNCHANGED_CHECK_MIN_BYTES) {
          // A big file git asks about only because its entry is racily clean: answered without hashing it.
          const indexFile = options.env ? defaultIndexPath(repo.gitDir, options.env) : undefined;
          const unchanged = await unchangedSinceIndex({
            topLevel: repo.topLevel,
            pathname: request.pathname,
            ...(indexFile ? { indexFile } : {}),
            readIndexBlob: async (oid) => {
              catFile ??= new CatFileBatch({ cwd: repo.topLevel });
              const found = await catFile.read(oid);
              return found?.type === 'blob' ? found.content : undefined;
            },
          });
          if (unchanged) return unchanged; // git's content is drained, unread
        }
        const { cleanFile } = await cleanModuleP;
        // The content is read and hashed while the previous version and the settings are looked up.
        const maxChainP = ready.then(() => maxChain);
        const autoLowRankP = ready.then(() => autoLowRank);
        maxChainP.catch(() => {}); // a failure reaches clean through them, and the request below
        autoLowRankP.catch(() => {});
        const result = await cleanFile({
          previous: previousP,
          maxChain: maxChainP,
          autoLowRank: autoLowRankP,
          repo,
          pathname: request.pathname,
          content: request.content,
          ...(sizeHint === undefined ? {} : { sizeHint }),
          recycle: (buffer) => pool.give(buffer),
          warn: options.warn,
        });
        await ready;
        const previous = await previousP;
        // Partial checkout (partial.ts): tensors that were never materialised keep their previous entries.
        const kept =
          selected && previous && result.manifest
            ? await keepUnmaterialised({ store: repo.store, manifest: result.manifest, previous, selected })
            : undefined;
        return kept ? new TextEncoder().encode(printManifest(kept)) : result.output;
      },
      async smudge(request) {
        const smudgeModuleP = loadSmudge(); // loads while the manifest arrives
        smudgeModuleP.catch(() => {}); // awaited below
        await ready;
        const parts: Uint8Array[] = [];
        for await (const p of request.content) parts.push(p);
        // A delayed file is asked for again with no content: its manifest was kept when the download began.
        const kept = parts.length === 0 ? delayed.get(request.pathname) : undefined;
        if (kept) delayed.delete(request.pathname);
        const input = kept ? kept.content : concatBytes(parts);
        if (kept) await kept.download;
        if (options.env?.WEFT_SKIP_SMUDGE === '1') return input;
        await fetchMissing(input, request.pathname);
        // Partial checkout (partial.ts): unselected tensors the store lacks are written as zeros.
        const zeroFill = selected ? await zeroFillOf(repo.store, input, request.pathname, selected) : undefined;
        const { smudgeFile } = await smudgeModuleP;
        return smudgeFile({
          store: repo.store,
          pathname: request.pathname,
          input,
          keyframes: repo.keyframes,
          ...(zeroFill ? { zeroFill } : {}),
        });
      },
    },
  });
  await catFile?.close();
}

/**
 * What a filter process runs with: its codec worker threads and the native byte-plane kernels, found from the build
 * root (src/build-root.ts). Both are optional at run time (the work then stays on one thread, in JavaScript): the
 * tests check that the built filter, bundled or not, finds them.
 */
export function filterRuntime(): { codecWorkers: boolean; nativeKernels: boolean } {
  return { codecWorkers: CodecPool.shared() !== undefined, nativeKernels: nativeKernels() !== undefined };
}

/** `[encoding] max_chain` of `.weft/config.toml` (1–64), or the default. */
export function resolveMaxChain(config: WeftConfigDocument): number {
  const section = configTable(config, 'encoding', '[encoding]');
  const value = section?.max_chain;
  if (value === undefined) return DEFAULT_MAX_CHAIN;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_DECODE_DEPTH) {
    throw new UsageError(
      'CONFIG_INVALID',
      `${WEFT_CONFIG_PATH}: encoding.max_chain = ${JSON.stringify(value)} must be a whole number from 1 to ${MAX_DECODE_DEPTH}`,
      { file: WEFT_CONFIG_PATH },
    );
  }
  return value;
}
