// Reading one tensor, or a file's frame, back from the store into memory, verified against its content id.

import { createHash } from 'node:crypto';
import { StoreError } from '../errors.js';
import type { FrameEntry, ManifestTensor, ObjectRef } from '../manifest/manifest.js';
import type { ObjectStore } from '../store/object-store.js';
import { decodeTensorBytes, type KeyframeSource, type ParentLookup } from './tensor-decode.js';

async function readRefs(store: ObjectStore, refs: readonly ObjectRef[]): Promise<Uint8Array[]> {
  const parts = await Promise.all(refs.map((r) => store.get(r.id)));
  return parts.map((bytes, i) => {
    const r = refs[i]!;
    if (r.start === undefined || r.end === undefined) return bytes;
    if (r.end > bytes.length) throw new StoreError('STORE_CORRUPT', `object ${r.id} is shorter than a manifest says`);
    return bytes.subarray(r.start, r.end);
  });
}

/** A tensor's bytes from the store; StoreError naming the file and tensor if they do not match its content id. */
export async function readTensorFromStore(
  store: ObjectStore,
  tensor: ManifestTensor,
  path: string,
  /** Parent versions (from the tensor's manifest: `parentLookupOf(manifest)`), for update encodings. */
  parents?: ParentLookup,
  /** Keyframe overrides written by `weft repack` (`repo.keyframes`): they shorten the chains followed. */
  keyframes?: KeyframeSource,
): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await decodeTensorBytes({
      store,
      encoding: tensor.encoding,
      sizeBytes: tensor.sizeBytes,
      dtype: tensor.dtype,
      parents: parents ?? (() => undefined),
      what: `${path}: tensor ${JSON.stringify(tensor.name)}`,
      contentId: tensor.contentId,
      ...(keyframes ? { keyframes } : {}),
    });
  } catch (e) {
    if (e instanceof StoreError && !e.message.startsWith(path)) {
      throw new StoreError(e.code, `${path}: tensor ${JSON.stringify(tensor.name)}: ${e.message}`, {
        file: path,
        tensor: tensor.name,
        cause: e,
      });
    }
    throw e;
  }
  const id = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== tensor.sizeBytes || id !== tensor.contentId) {
    throw new StoreError(
      'STORE_CORRUPT',
      `${path}: tensor ${JSON.stringify(tensor.name)} does not match its content id`,
      {
        file: path,
        tensor: tensor.name,
      },
    );
  }
  return bytes;
}

/** SHA-256 of a file's frame bytes, read from the store one object at a time. */
export async function hashFrameFromStore(store: ObjectStore, frames: readonly FrameEntry[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of frames) for (const part of await readRefs(store, f.refs)) h.update(part);
  return h.digest('hex');
}
