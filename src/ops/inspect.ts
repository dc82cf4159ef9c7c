// `weft inspect`: what a checkpoint holds — format, metadata, tensors, sizes, and optionally per-tensor hashes of
// the values (format-independent). Streams tensor by tensor; never holds a whole model.

import { UsageError } from '../errors.js';
import { dtypeSize } from '../tensor/dtype.js';
import { findTfjsModelJson, inspectTfjsModel } from './inspect-tfjs.js';
import { displayName, listCheckpointFiles, openCheckpointFile } from './open-checkpoint.js';
import { hashTensor } from './read-tensor.js';

export interface InspectedTensor {
  name: string;
  dtype: string;
  shape: number[];
  sizeBytes: number;
  /** SHA-256 of the values as contiguous little-endian row-major bytes (with `hash`). */
  sha256?: string;
  /** The shard holding the tensor, for a folder. */
  file?: string;
  /** The format's own element type when `dtype` stands in for it (GGUF `Q4_K`: opaque U8 blocks). */
  storedType?: string;
  /** The logical shape of a tensor with `storedType`. */
  storedShape?: number[];
}

export interface InspectResult {
  path: string;
  format: string;
  metadata: Record<string, string>;
  files: string[];
  tensors: InspectedTensor[];
  totalBytes: number;
}

export interface InspectOptions {
  path: string;
  hash?: boolean;
  /** Progress of hashing: bytes done of the total tensor bytes. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

/**
 * Inspects a checkpoint file or a folder of shards.
 * @example const { tensors } = await inspectCheckpoint({ path: 'model.safetensors', hash: true });
 */
export async function inspectCheckpoint(options: InspectOptions): Promise<InspectResult> {
  const modelJson = await findTfjsModelJson(options.path);
  if (modelJson) return inspectTfjsModel({ ...options, path: modelJson });
  const files = await listCheckpointFiles(options.path);
  const opened = [];
  try {
    for (const f of files) opened.push(await openCheckpointFile(f));
    const result: InspectResult = {
      path: options.path,
      format: opened[0]?.checkpoint.format ?? 'unknown',
      metadata: {},
      files: files.map((f) => displayName(options.path, f)),
      tensors: [],
      totalBytes: 0,
    };
    const seen = new Set<string>();
    for (const { checkpoint, source } of opened) {
      Object.assign(result.metadata, checkpoint.metadata);
      for (const view of checkpoint.tensors) {
        if (seen.has(view.name)) {
          throw new UsageError('USAGE', `${source.path}: tensor ${JSON.stringify(view.name)} appears in two shards`, {
            file: source.path,
            tensor: view.name,
          });
        }
        seen.add(view.name);
        let numel = 1;
        for (const d of view.shape) numel *= d;
        const sizeBytes = numel * dtypeSize(view.dtype);
        const t: InspectedTensor = { name: view.name, dtype: view.dtype, shape: [...view.shape], sizeBytes };
        if (view.storedType !== undefined) t.storedType = view.storedType;
        if (view.storedShape !== undefined) t.storedShape = [...view.storedShape];
        if (files.length > 1) t.file = displayName(options.path, source.path);
        result.tensors.push(t);
        result.totalBytes += sizeBytes;
      }
    }
    if (options.hash) {
      let done = 0;
      let i = 0;
      for (const { checkpoint, source } of opened) {
        for (const view of checkpoint.tensors) {
          const t = result.tensors[i++]!;
          t.sha256 = await hashTensor(source, checkpoint, view, (n) => {
            done += n;
            options.onProgress?.(done, result.totalBytes);
          });
        }
      }
    }
    return result;
  } finally {
    await Promise.all(opened.map((o) => o.source.close()));
  }
}
