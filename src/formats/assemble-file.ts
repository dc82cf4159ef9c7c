// Rebuilds a checkpoint file from its frame ranges and tensor extents, and splits one into them. Generic over every
// format (never branches on one). Pure, in memory: ops/ streams big files with listFileParts instead.

import type { Checkpoint, FrameRange } from './format-module.js';
import { listFrameRanges } from './format-module.js';

/** One piece of a checkpoint file, in file order: a frame range or a tensor extent (by index). */
export type FilePart =
  | { kind: 'frame'; frame: number; offsetBytes: number; sizeBytes: number }
  | { kind: 'extent'; extent: number; offsetBytes: number; sizeBytes: number };

/** The bytes of a checkpoint as separate pieces: `frames[i]` is frame range i, `extents[i]` is extent i. */
export interface FileSplit {
  frames: Uint8Array[];
  extents: Uint8Array[];
}

/**
 * The plan for writing a checkpoint file: frame ranges (indexed as in `listFrameRanges`) and extents interleaved in
 * file order. Zero-byte extents are listed too, so every extent appears exactly once.
 *
 * @example
 * for (const part of listFileParts(checkpoint)) {
 *   await out.write(part.kind === 'frame' ? frameBytes[part.frame] : tensorBytes[part.extent]);
 * }
 */
export function listFileParts(checkpoint: Checkpoint): FilePart[] {
  const frames: FrameRange[] = listFrameRanges(checkpoint);
  const extents = checkpoint.extents;
  const parts: FilePart[] = [];
  let f = 0;
  let x = 0;
  while (f < frames.length || x < extents.length) {
    const frame = frames[f];
    const extent = extents[x];
    // On a tie the extent goes first: only an empty extent can start where a frame range starts.
    if (frame !== undefined && (extent === undefined || frame.offsetBytes < extent.offsetBytes)) {
      parts.push({ kind: 'frame', frame: f, offsetBytes: frame.offsetBytes, sizeBytes: frame.sizeBytes });
      f++;
    } else if (extent !== undefined) {
      parts.push({ kind: 'extent', extent: x, offsetBytes: extent.offsetBytes, sizeBytes: extent.sizeBytes });
      x++;
    }
  }
  return parts;
}

/**
 * Cuts `bytes` (the whole file `checkpoint` was parsed from) into its frame ranges and extents. The pieces are views,
 * not copies.
 *
 * @example
 * const { frames, extents } = splitFile(checkpoint, bytes);
 */
export function splitFile(checkpoint: Checkpoint, bytes: Uint8Array): FileSplit {
  if (bytes.length !== checkpoint.sizeBytes) {
    throw new RangeError(`splitFile: checkpoint has ${checkpoint.sizeBytes} bytes but ${bytes.length} were given`);
  }
  return {
    frames: listFrameRanges(checkpoint).map((r) => bytes.subarray(r.offsetBytes, r.offsetBytes + r.sizeBytes)),
    extents: checkpoint.extents.map((e) => bytes.subarray(e.offsetBytes, e.offsetBytes + e.sizeBytes)),
  };
}

/**
 * Rebuilds the file of `checkpoint` from its frame ranges and extent bytes (as `splitFile` returns them). Throws
 * `RangeError` when a piece's length differs from the checkpoint's (a caller bug, not bad input).
 *
 * @example
 * assembleFile(checkpoint, splitFile(checkpoint, bytes)); // → the same bytes
 */
export function assembleFile(checkpoint: Checkpoint, split: FileSplit): Uint8Array {
  const out = new Uint8Array(checkpoint.sizeBytes);
  const frames = listFrameRanges(checkpoint);
  if (split.frames.length !== frames.length || split.extents.length !== checkpoint.extents.length) {
    throw new RangeError(
      `assembleFile: expected ${frames.length} frame ranges and ${checkpoint.extents.length} extents, got ${split.frames.length} and ${split.extents.length}`,
    );
  }
  for (const part of listFileParts(checkpoint)) {
    const piece = part.kind === 'frame' ? split.frames[part.frame] : split.extents[part.extent];
    if (piece === undefined || piece.length !== part.sizeBytes) {
      const which = part.kind === 'frame' ? `frame range ${part.frame}` : `extent ${part.extent}`;
      throw new RangeError(`assembleFile: ${which} needs ${part.sizeBytes} bytes, got ${piece?.length}`);
    }
    out.set(piece, part.offsetBytes);
  }
  return out;
}
