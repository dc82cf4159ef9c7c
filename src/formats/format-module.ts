// The interface every checkpoint format implements: detect by magic bytes, split a file into a frame (every byte
// that is not tensor data, kept exactly) and tensor extents, and rebuild. Pure: reads only through a ByteSource.

import type { Dtype } from '../tensor/dtype.js';

/** Random access to the bytes of one file (or any byte string); supplied by the I/O layers. */
export interface ByteSource {
  readonly sizeBytes: number;
  /** Reads exactly `lengthBytes` bytes at `offsetBytes`; rejects if the range is outside the source. */
  read(offsetBytes: number, lengthBytes: number): Promise<Uint8Array>;
}

/**
 * A byte range of the file holding tensor data, versioned as its own object(s). Extents are in file order,
 * never overlap, and everything outside them is the frame.
 */
export interface TensorExtent {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  offsetBytes: number;
  sizeBytes: number;
}

/**
 * A tensor as a user sees it. Usually a contiguous, row-major, little-endian view of a whole extent; formats
 * where tensors view shared storage (PyTorch) or store column-major (NumPy Fortran order) say so here.
 */
export interface TensorView {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  /** Index into `Checkpoint.extents`. */
  extent: number;
  /** Element offset into the extent; 0 when absent. */
  offsetElements?: number;
  /** Element strides; row-major contiguous when absent. */
  strides?: readonly number[];
  /** Byte order of the stored elements; little-endian when absent. */
  byteOrder?: 'little' | 'big';
  /**
   * The format's own element type when `dtype` only stands in for it: the values are opaque bytes (dtype U8, shape
   * [bytes]), e.g. a GGUF `Q4_K` tensor or an ONNX `FLOAT8E4M3FNUZ` one. Absent when `dtype` is the real type.
   */
  storedType?: string;
  /** The logical shape (row-major) of a tensor with `storedType`, in elements of that type. */
  storedShape?: readonly number[];
}

/** A parsed checkpoint file: what it is, its metadata, and where its tensors are. */
export interface Checkpoint {
  format: string;
  /** Format-level metadata worth showing a user (safetensors `__metadata__`, GGUF KVs as strings, …). */
  metadata: Record<string, string>;
  extents: TensorExtent[];
  tensors: TensorView[];
  sizeBytes: number;
}

export interface ParseOptions {
  /** Shown in error messages. */
  fileName: string;
}

/** One checkpoint format. Shared code never branches on a format's name: each answers through this. */
export interface FormatModule {
  readonly name: string;
  /** True when the first bytes (up to 512, fewer if the file is shorter) look like this format. */
  detect(head: Uint8Array, sizeBytes: number): boolean;
  /** Parses untrusted bytes; throws FormatError naming the file, the tensor, the value and the limit. */
  parse(source: ByteSource, options: ParseOptions): Promise<Checkpoint>;
}

/** A byte range of the frame: everything that is not inside a tensor extent. */
export interface FrameRange {
  offsetBytes: number;
  sizeBytes: number;
}

/** The frame of a checkpoint: the complement of its extents, in file order. */
export function listFrameRanges(checkpoint: Checkpoint): FrameRange[] {
  const ranges: FrameRange[] = [];
  let at = 0;
  for (const e of checkpoint.extents) {
    if (e.offsetBytes > at) ranges.push({ offsetBytes: at, sizeBytes: e.offsetBytes - at });
    at = e.offsetBytes + e.sizeBytes;
  }
  if (checkpoint.sizeBytes > at) ranges.push({ offsetBytes: at, sizeBytes: checkpoint.sizeBytes - at });
  return ranges;
}

/** A ByteSource over bytes in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    sizeBytes: bytes.length,
    read(offsetBytes, lengthBytes) {
      if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > bytes.length) {
        return Promise.reject(
          new RangeError(`read of ${lengthBytes} bytes at ${offsetBytes} is outside ${bytes.length}`),
        );
      }
      return Promise.resolve(bytes.subarray(offsetBytes, offsetBytes + lengthBytes));
    },
  };
}
