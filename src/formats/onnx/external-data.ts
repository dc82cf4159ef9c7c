// An ONNX external data file as a checkpoint: the tensors its model declares in this file (by `location`) become
// extents over their byte ranges; gaps (alignment padding) are frame. Pure: the caller reads the model.

import { FormatError } from '../../errors.js';
import type { ByteSource, Checkpoint, FormatModule, ParseOptions, TensorExtent, TensorView } from '../format-module.js';
import type { OnnxExternalTensor } from './onnx-module.js';

/** Name of the checkpoint format of an external data file, as manifests record it. */
export const ONNX_EXTERNAL_FORMAT = 'onnx-external-data';

export interface OnnxExternalPlan {
  /** File name of the model that declares the tensors. */
  model: string;
  /** The model's external tensors whose `location` is this file. */
  tensors: readonly OnnxExternalTensor[];
}

/**
 * Lays out an external data file of `sizeBytes` bytes: one extent per declared tensor, in offset order. Throws
 * FORMAT_BAD_OFFSETS when two tensors overlap and FORMAT_TRUNCATED when one ends past the end of the file.
 *
 * @example
 * const checkpoint = layoutOnnxExternalData(plan, fileSize, 'model.onnx.data');
 */
export function layoutOnnxExternalData(plan: OnnxExternalPlan, sizeBytes: number, fileName: string): Checkpoint {
  const sorted = [...plan.tensors].sort((a, b) => a.offsetBytes - b.offsetBytes);
  const extents: TensorExtent[] = [];
  const tensors: TensorView[] = [];
  const used = new Set<string>();
  let end = 0;
  for (const t of sorted) {
    if (t.offsetBytes < end) {
      throw new FormatError(
        'FORMAT_BAD_OFFSETS',
        `${fileName}: tensor ${JSON.stringify(t.name)} at byte ${t.offsetBytes} overlaps the one before it (ending at ${end}), as ${plan.model} declares them`,
        {
          file: fileName,
          tensor: t.name,
        },
      );
    }
    if (t.offsetBytes + t.sizeBytes > sizeBytes) {
      throw new FormatError(
        'FORMAT_TRUNCATED',
        `${fileName}: tensor ${JSON.stringify(t.name)} ends at byte ${t.offsetBytes + t.sizeBytes} but the file has ${sizeBytes} bytes`,
        {
          file: fileName,
          tensor: t.name,
        },
      );
    }
    end = t.offsetBytes + t.sizeBytes;
    let name = t.name;
    for (let k = 2; used.has(name); k++) name = `${t.name}#${k}`;
    used.add(name);
    extents.push({ name, dtype: t.dtype, shape: t.shape, offsetBytes: t.offsetBytes, sizeBytes: t.sizeBytes });
    const view: TensorView = { name, dtype: t.dtype, shape: t.shape, extent: extents.length - 1 };
    if (t.storedType !== undefined) view.storedType = t.storedType;
    if (t.storedShape !== undefined) view.storedShape = t.storedShape;
    tensors.push(view);
  }
  return { format: ONNX_EXTERNAL_FORMAT, metadata: { 'onnx.model': plan.model }, extents, tensors, sizeBytes };
}

/**
 * A FormatModule for one external data file, closing over its plan: `detect` checks that every declared tensor fits
 * the size, `parse` lays the file out with `layoutOnnxExternalData`.
 *
 * @example
 * const module = onnxExternalDataModule(plan);
 */
export function onnxExternalDataModule(plan: OnnxExternalPlan): FormatModule {
  const needed = plan.tensors.reduce((n, t) => Math.max(n, t.offsetBytes + t.sizeBytes), 0);
  return {
    name: ONNX_EXTERNAL_FORMAT,
    detect: (_head: Uint8Array, sizeBytes: number) =>
      plan.tensors.length > 0 && sizeBytes >= needed && sizeBytes < needed + 4096,
    parse: (source: ByteSource, options: ParseOptions) =>
      Promise.resolve(layoutOnnxExternalData(plan, source.sizeBytes, options.fileName)),
  };
}
