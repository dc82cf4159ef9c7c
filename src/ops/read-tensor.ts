// Reads a tensor's values from a parsed checkpoint on disk as row-major little-endian bytes, or hashes them
// while streaming. Contiguous little-endian views stream in chunks; other views are gathered in memory.

import { createHash } from 'node:crypto';
import { FormatError } from '../errors.js';
import type { Checkpoint, TensorView } from '../formats/format-module.js';
import { dtypeSize } from '../tensor/dtype.js';
import { byteswap, gatherRowMajor } from '../tensor/gather.js';
import { isContiguous, numelOf, rowMajorStrides } from '../tensor/shape.js';
import { type FileSource, streamRange } from './file-source.js';

/** True when the view's bytes are exactly its extent's bytes (no gather, no byte swap). */
export function isPlainView(checkpoint: Checkpoint, view: TensorView): boolean {
  const extent = checkpoint.extents[view.extent];
  if (!extent) return false;
  const size = dtypeSize(view.dtype);
  const strides = view.strides ?? rowMajorStrides(view.shape);
  return (
    (view.byteOrder ?? 'little') === 'little' &&
    (view.offsetElements ?? 0) === 0 &&
    isContiguous(view.shape, strides) &&
    numelOf(view.shape) * size === extent.sizeBytes
  );
}

/** The tensor's values as contiguous row-major little-endian bytes. Holds the tensor in memory. */
export async function readTensorBytes(
  source: FileSource,
  checkpoint: Checkpoint,
  view: TensorView,
): Promise<Uint8Array> {
  const extent = checkpoint.extents[view.extent];
  if (!extent) {
    throw new FormatError('FORMAT_BAD_OFFSETS', `${source.path}: tensor ${JSON.stringify(view.name)} has no extent`, {
      file: source.path,
      tensor: view.name,
    });
  }
  const raw = await source.read(extent.offsetBytes, extent.sizeBytes);
  if (isPlainView(checkpoint, view)) return raw;
  const size = dtypeSize(view.dtype);
  const out = gatherRowMajor(
    raw,
    size,
    view.shape,
    view.strides ?? rowMajorStrides(view.shape),
    view.offsetElements ?? 0,
  );
  return view.byteOrder === 'big' ? byteswap(out, size) : out;
}

/**
 * SHA-256 of the tensor's values as contiguous little-endian row-major bytes: the same value whatever file
 * format holds the tensor. Streams plain views; `onBytes` reports progress.
 */
export async function hashTensor(
  source: FileSource,
  checkpoint: Checkpoint,
  view: TensorView,
  onBytes?: (n: number) => void,
): Promise<string> {
  const hash = createHash('sha256');
  if (isPlainView(checkpoint, view)) {
    const extent = checkpoint.extents[view.extent]!;
    for await (const chunk of streamRange(source, extent.offsetBytes, extent.sizeBytes)) {
      hash.update(chunk);
      onBytes?.(chunk.length);
    }
  } else {
    const bytes = await readTensorBytes(source, checkpoint, view);
    hash.update(bytes);
    onBytes?.(bytes.length);
  }
  return hash.digest('hex');
}
