// The list of checkpoint formats Weft knows and detection over it. Never branches on a format's name: each module
// answers detect() for itself. Pure: callers supply the first bytes and the size.

import type { FormatModule } from './format-module.js';
import { ggufModule } from './gguf/gguf-module.js';
import { npyModule } from './numpy/npy-module.js';
import { npzModule } from './numpy/npz-module.js';
import { onnxModule } from './onnx/onnx-module.js';
import { pytorchModule } from './pytorch/pytorch-module.js';
import { safetensorsModule } from './safetensors/safetensors-module.js';

/** How many leading bytes `detectFormat` looks at (the `head` promised by `FormatModule.detect`). */
export const DETECT_HEAD_BYTES = 512;

/** Every format module, tried in this order by `detectFormat`. */
export const FORMAT_MODULES: readonly FormatModule[] = [
  safetensorsModule,
  ggufModule,
  pytorchModule,
  npzModule,
  npyModule,
  onnxModule,
];

/**
 * The first format module that recognises a file from its first bytes and its size, or `undefined` (treat the file
 * as opaque bytes). Bytes beyond `DETECT_HEAD_BYTES` are ignored.
 *
 * @example
 * const module = detectFormat(await source.read(0, Math.min(64, source.sizeBytes)), source.sizeBytes);
 */
export function detectFormat(head: Uint8Array, sizeBytes: number): FormatModule | undefined {
  const first = head.subarray(0, DETECT_HEAD_BYTES);
  return FORMAT_MODULES.find((module) => module.detect(first, sizeBytes));
}

/**
 * The format module with this name (as a manifest records it), or `undefined`.
 *
 * @example
 * resolveFormatModule('safetensors'); // → safetensorsModule
 */
export function resolveFormatModule(name: string): FormatModule | undefined {
  return FORMAT_MODULES.find((module) => module.name === name);
}
