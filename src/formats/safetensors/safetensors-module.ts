// The safetensors FormatModule: recognises the file by its structure and parses it by reading only the 8-byte
// length and the header through a ByteSource. Pure: no I/O of its own, never reads tensor data.

import { FormatError } from '../../errors.js';
import type { ByteSource, Checkpoint, FormatModule, ParseOptions } from '../format-module.js';
import { MAX_SAFETENSORS_HEADER_BYTES, parseSafetensorsHeader, SAFETENSORS_PREFIX_BYTES } from './parse-header.js';

const OPEN_BRACE = 0x7b;
/** The smallest header is `{}`. */
const MIN_HEADER_BYTES = 2;

/**
 * True when `head` (the first bytes of a file of `sizeBytes` bytes) has the structure of safetensors: a u64
 * little-endian header length N ≥ 2 with 8 + N ≤ sizeBytes, followed by `{`. There is no magic number.
 *
 * @example
 * detectSafetensors(head, file.length); // → true for any file written by the `safetensors` library
 */
export function detectSafetensors(head: Uint8Array, sizeBytes: number): boolean {
  if (head.length < SAFETENSORS_PREFIX_BYTES + 1) return false;
  const n = new DataView(head.buffer, head.byteOffset, SAFETENSORS_PREFIX_BYTES).getBigUint64(0, true);
  return (
    n >= MIN_HEADER_BYTES && n <= BigInt(Math.max(0, sizeBytes - SAFETENSORS_PREFIX_BYTES)) && head[8] === OPEN_BRACE
  );
}

/**
 * Parses a safetensors file: reads the length prefix, enforces `MAX_SAFETENSORS_HEADER_BYTES` before reading the
 * header, then validates it with `parseSafetensorsHeader`. The frame is the first 8 + N bytes; extents are the
 * tensors in file order. Throws `FormatError`; errors of `source.read` pass through unchanged.
 *
 * @example
 * const checkpoint = await parseSafetensors(bytesSource(bytes), { fileName: 'model.safetensors' });
 */
export async function parseSafetensors(source: ByteSource, options: ParseOptions): Promise<Checkpoint> {
  const { fileName } = options;
  const sizeBytes = source.sizeBytes;
  if (sizeBytes < SAFETENSORS_PREFIX_BYTES) {
    throw new FormatError(
      'FORMAT_TRUNCATED',
      `${fileName}: file has ${sizeBytes} bytes, fewer than the ${SAFETENSORS_PREFIX_BYTES}-byte header length`,
      { file: fileName },
    );
  }
  const prefix = await source.read(0, SAFETENSORS_PREFIX_BYTES);
  const n = new DataView(prefix.buffer, prefix.byteOffset, SAFETENSORS_PREFIX_BYTES).getBigUint64(0, true);
  if (n > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    throw new FormatError(
      'FORMAT_LIMIT',
      `${fileName}: header length ${n} bytes exceeds the limit of ${MAX_SAFETENSORS_HEADER_BYTES} bytes`,
      { file: fileName },
    );
  }
  const headerBytes = Number(n);
  if (headerBytes > sizeBytes - SAFETENSORS_PREFIX_BYTES) {
    throw new FormatError(
      'FORMAT_TRUNCATED',
      `${fileName}: header of ${headerBytes} bytes ends at byte ${SAFETENSORS_PREFIX_BYTES + headerBytes} but the file has ${sizeBytes} bytes`,
      { file: fileName },
    );
  }
  const header = await source.read(SAFETENSORS_PREFIX_BYTES, headerBytes);
  return parseSafetensorsHeader(header, { fileName, fileSizeBytes: sizeBytes });
}

/** The safetensors format: `{name: 'safetensors', detect, parse}`. */
export const safetensorsModule: FormatModule = {
  name: 'safetensors',
  detect: detectSafetensors,
  parse: parseSafetensors,
};
