// Rebuilding one tensor version's bytes from the store: dense objects, or an update encoding applied to its
// parent (found among the manifest's parent lines), following at most MAX_DECODE_DEPTH links; a version with a
// local keyframe override (`weft repack`) is read densely from it, which ends the chain there.

import { decodeUpdate, type PayloadKey, type Payloads } from '../encode/update-encoding.js';
import { StoreError } from '../errors.js';
import {
  type ContentId,
  type Manifest,
  type ManifestParent,
  type ObjectRef,
  parseEncoding,
  parseRefList,
  type TensorEncoding,
} from '../manifest/manifest.js';
import type { ObjectStore } from '../store/object-store.js';
import type { Dtype } from '../tensor/dtype.js';
import { concatBytes } from './byte-stream.js';

/**
 * Parent links followed at most while decoding, whatever a manifest says (a hostile manifest could name a cycle).
 * Clean writes chains of at most `max_chain` (default 8) links.
 */
export const MAX_DECODE_DEPTH = 64;

/** Default for `[encoding] max_chain`: decoding a version never follows more parent links than this. */
export const DEFAULT_MAX_CHAIN = 8;

/**
 * Keyframe overrides written by `weft repack`: content id → `dense <refs>`, a local dense copy of a tensor version
 * (a ContentIndex rooted at `.git/weft/repack`). A hint like the content index: a missing or damaged override, or
 * one whose objects are gone, falls back to the parent chain; callers verify content ids as always.
 */
export interface KeyframeSource {
  lookup(contentId: string): Promise<string | undefined>;
}

/** The dense encoding an override records for `contentId`, or undefined (none, or not a dense encoding). */
export async function keyframeOf(keyframes: KeyframeSource, contentId: string): Promise<TensorEncoding | undefined> {
  const text = await keyframes.lookup(contentId);
  const encoding = text === undefined ? undefined : parseEncoding(text);
  return encoding?.kind === 'dense' && encoding.refs.length > 0 ? encoding : undefined;
}

/** Bytes of a version's override when it has one whose objects are present and of the right size. */
async function readKeyframe(
  store: ObjectStore,
  keyframes: KeyframeSource,
  contentId: string,
  sizeBytes: number,
): Promise<Uint8Array | undefined> {
  const encoding = await keyframeOf(keyframes, contentId);
  if (!encoding) return undefined;
  try {
    const bytes = await readRefsCopy(store, encoding.refs);
    return bytes.length === sizeBytes ? bytes : undefined;
  } catch (e) {
    if (e instanceof StoreError) return undefined; // gone or damaged: the chain still decodes it
    throw e;
  }
}

/** Finds the encoding of a parent tensor version by content id. */
export type ParentLookup = (contentId: string) => ManifestParent | undefined;

/** Parent lookup over a manifest's parent lines (and its tensors, which may be parents of each other). */
export function parentLookupOf(manifest: Manifest): ParentLookup {
  const map = new Map<string, ManifestParent>();
  for (const t of manifest.tensors)
    map.set(t.contentId, { contentId: t.contentId, sizeBytes: t.sizeBytes, encoding: t.encoding });
  for (const p of manifest.parents ?? []) map.set(p.contentId, p);
  return (cid) => map.get(cid);
}

/** The bytes a reference list names, concatenated into one buffer the caller owns. */
export async function readRefsCopy(store: ObjectStore, refs: readonly ObjectRef[]): Promise<Uint8Array> {
  const parts = await Promise.all(refs.map((r) => store.get(r.id as never)));
  const pieces = parts.map((bytes, i) => {
    const r = refs[i]!;
    if (r.start === undefined || r.end === undefined) return bytes;
    if (r.end > bytes.length) {
      throw new StoreError('STORE_CORRUPT', `object ${r.id} holds ${bytes.length} bytes, a manifest needs ${r.end}`);
    }
    return bytes.subarray(r.start, r.end);
  });
  if (pieces.length === 1) {
    const only = pieces[0]!;
    // A whole object decoded for us alone is ours; a range may share its buffer with other tensors.
    return refs[0]!.start === undefined && only.byteOffset === 0 && only.byteLength === only.buffer.byteLength
      ? only
      : new Uint8Array(only);
  }
  return concatBytes(pieces);
}

/**
 * Decodes a tensor version into a buffer the caller owns. Does not verify the content id (callers hash the
 * result once, at the end of the chain).
 *
 * @example const bytes = await decodeTensorBytes({ store, encoding, sizeBytes, dtype, parents, what: 'm.st: w' });
 */
export async function decodeTensorBytes(options: {
  store: ObjectStore;
  encoding: TensorEncoding;
  sizeBytes: number;
  dtype: Dtype;
  parents: ParentLookup;
  /** "<file>: tensor <name>", for errors. */
  what: string;
  depth?: number;
  /** This version's content id: with `keyframes`, its own override is used too (parents' always are). */
  contentId?: string;
  /** Keyframe overrides (`repo.keyframes`): a version that has one is read densely, ending the chain there. */
  keyframes?: KeyframeSource;
}): Promise<Uint8Array> {
  const { store, encoding, what } = options;
  const depth = options.depth ?? 0;
  if (encoding.kind !== 'dense' && options.keyframes && options.contentId !== undefined) {
    const bytes = await readKeyframe(store, options.keyframes, options.contentId, options.sizeBytes);
    if (bytes) return bytes;
  }
  if (encoding.kind === 'dense') {
    const bytes = await readRefsCopy(store, encoding.refs);
    if (bytes.length !== options.sizeBytes) {
      throw new StoreError(
        'STORE_CORRUPT',
        `${what}: objects hold ${bytes.length} bytes, the tensor has ${options.sizeBytes}`,
      );
    }
    return bytes;
  }
  if (depth >= MAX_DECODE_DEPTH) {
    throw new StoreError('STORE_CORRUPT', `${what}: more than ${MAX_DECODE_DEPTH} parent links (a cycle?)`);
  }
  const parentId = encoding.params.parent;
  const parent = parentId === undefined ? undefined : options.parents(parentId);
  if (!parent) {
    throw new StoreError(
      'STORE_CORRUPT',
      `${what}: encoded against parent ${String(parentId).slice(0, 12)}…, which the manifest does not describe`,
    );
  }
  if (parent.sizeBytes !== options.sizeBytes) {
    throw new StoreError(
      'STORE_CORRUPT',
      `${what}: parent has ${parent.sizeBytes} bytes, the tensor ${options.sizeBytes}`,
    );
  }
  const [parentBytes, payloads] = await Promise.all([
    decodeTensorBytes({ ...options, encoding: parent.encoding, contentId: parent.contentId, depth: depth + 1 }),
    readPayloads(store, encoding),
  ]);
  return decodeUpdate({
    kind: encoding.kind,
    params: encoding.params,
    parent: parentBytes,
    payloads,
    sizeBytes: options.sizeBytes,
    dtype: options.dtype,
    what,
  });
}

const PAYLOAD_PARAMS: readonly Exclude<PayloadKey, 'refs'>[] = ['a', 'b', 'd', 'f', 'idx', 'v'];

async function readPayloads(store: ObjectStore, encoding: TensorEncoding): Promise<Payloads> {
  const payloads: Payloads = {};
  const jobs: Promise<void>[] = [];
  const load = (key: PayloadKey, refs: readonly ObjectRef[]) =>
    jobs.push(
      readRefsCopy(store, refs).then((bytes) => {
        payloads[key] = bytes;
      }),
    );
  if (encoding.refs.length > 0) load('refs', encoding.refs);
  for (const key of PAYLOAD_PARAMS) {
    const text = encoding.params[key];
    if (text === undefined) continue;
    load(key, parseRefList(text));
  }
  await Promise.all(jobs);
  return payloads;
}

/** Parent links from this encoding down to a dense keyframe (0 for dense), as recorded by clean. */
export function chainDepthOf(encoding: TensorEncoding): number {
  if (encoding.kind === 'dense') return 0;
  const d = Number(encoding.params.depth);
  return Number.isSafeInteger(d) && d > 0 ? d : MAX_DECODE_DEPTH;
}

/** Content ids a tensor's encoding depends on, nearest first (empty for dense). */
export function listParentChain(encoding: TensorEncoding, parents: ParentLookup): ContentId[] | undefined {
  const out: ContentId[] = [];
  let enc = encoding;
  while (enc.kind !== 'dense') {
    const id = enc.params.parent;
    const p = id === undefined ? undefined : parents(id);
    if (!p || out.length >= MAX_DECODE_DEPTH) return undefined;
    out.push(p.contentId);
    enc = p.encoding;
  }
  return out;
}
