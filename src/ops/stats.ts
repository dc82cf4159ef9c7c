// Statistics for data-aware merges (fisher, regmean): safetensors files beside a model holding per-tensor sums
// (Σ squared gradients, Σ XᵀX) and, in `__metadata__`, the checkpoint content they describe, the data and the
// example count. Sums + counts combine exactly across contributors; a file for other weights is refused as stale.

import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { encodeSafetensorsHeader } from '../formats/safetensors/write-safetensors.js';
import type { Dtype } from '../tensor/dtype.js';
import { numelOf } from '../tensor/shape.js';
import { streamRange } from './file-source.js';
import { listCheckpointFiles, type OpenedFile, openCheckpointFile } from './open-checkpoint.js';
import { readTensorBytes } from './read-tensor.js';

/** What a statistics file holds per tensor: diagonal Fisher sums, or input Gram-matrix sums (regmean). */
export type StatisticsKind = 'fisher' | 'gram';

/** `__metadata__` keys of a statistics file. */
export const STATS_METADATA = {
  /** "fisher" or "gram". */
  kind: 'weft.stats',
  /** `checkpointContentId` of the weights the statistics were computed on. */
  checkpoint: 'weft.checkpoint',
  /** Free text naming the data set (and split) the statistics come from. */
  data: 'weft.data',
  /** Number of examples summed: the values divided by it are the means the merge methods use. */
  examples: 'weft.examples',
} as const;

/** Sums of more examples than this cannot be counted exactly in a float64 (a corrupt or hostile count). */
const MAX_EXAMPLES = Number.MAX_SAFE_INTEGER;
/** Statistics files one `combineStatistics` call sums (bounds open files and memory, CWE-770). */
const MAX_COMBINE_INPUTS = 1024;

/** What a statistics file's metadata says about it. */
export interface StatisticsInfo {
  kind: StatisticsKind;
  checkpoint: string;
  data: string;
  examples: number;
}

/**
 * The content id of a checkpoint: SHA-256 over its tensors (sorted by name) as `name, dtype, shape, content id`
 * lines, where a tensor's content id is the SHA-256 of its bytes (the `contentId` of Weft manifests, so a
 * manifest and the file it describes give the same id).
 *
 * @example checkpointContentId([{ name: 'w', dtype: 'F32', shape: [2], contentId: 'ab…' }]) // '5f…' (64 hex)
 */
export function checkpointContentId(
  tensors: Iterable<{ name: string; dtype: string; shape: readonly number[]; contentId: string }>,
): string {
  const lines = [...tensors]
    .map((t) => `${t.name}\t${t.dtype}\t${t.shape.join(',')}\t${t.contentId}\n`)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const h = createHash('sha256');
  for (const l of lines) h.update(l);
  return h.digest('hex');
}

/**
 * `checkpointContentId` of a checkpoint file or shard folder, hashing every tensor's bytes (streamed).
 * @example const id = await checkpointContentIdOfFile({ path: 'model.safetensors' });
 */
export async function checkpointContentIdOfFile(options: { path: string }): Promise<string> {
  const tensors: { name: string; dtype: string; shape: readonly number[]; contentId: string }[] = [];
  for (const f of await listCheckpointFiles(options.path)) {
    const file = await openCheckpointFile(f);
    try {
      for (const e of file.checkpoint.extents) {
        const h = createHash('sha256');
        for await (const part of streamRange(file.source, e.offsetBytes, e.sizeBytes)) h.update(part);
        tensors.push({ name: e.name, dtype: e.dtype, shape: e.shape, contentId: h.digest('hex') });
      }
    } finally {
      await file.source.close();
    }
  }
  return checkpointContentId(tensors);
}

/**
 * Reads the statistics metadata of a parsed file: undefined when it has no `weft.*` keys (plain values, written
 * by hand or another tool); a UsageError naming the file and key when they are incomplete or malformed.
 * @example readStatisticsInfo({ 'weft.stats': 'fisher', 'weft.checkpoint': id, 'weft.data': 'd', 'weft.examples': '8' }, 'a.fisher.safetensors')
 */
export function readStatisticsInfo(
  metadata: Readonly<Record<string, string>>,
  file: string,
): StatisticsInfo | undefined {
  const present = Object.values(STATS_METADATA).filter((k) => metadata[k] !== undefined);
  if (present.length === 0) return undefined;
  const missing = Object.values(STATS_METADATA).filter((k) => metadata[k] === undefined);
  if (missing.length > 0) {
    throw new UsageError('USAGE', `${file}: statistics metadata lacks ${missing.join(', ')}`, { file });
  }
  const kind = metadata[STATS_METADATA.kind]!;
  if (kind !== 'fisher' && kind !== 'gram') {
    throw new UsageError(
      'USAGE',
      `${file}: ${STATS_METADATA.kind} = ${JSON.stringify(kind)}, expected "fisher" or "gram"`,
      {
        file,
      },
    );
  }
  const checkpoint = metadata[STATS_METADATA.checkpoint]!;
  if (!/^[0-9a-f]{64}$/.test(checkpoint)) {
    throw new UsageError(
      'USAGE',
      `${file}: ${STATS_METADATA.checkpoint} = ${JSON.stringify(checkpoint)} is not 64 hex digits`,
      {
        file,
      },
    );
  }
  const raw = metadata[STATS_METADATA.examples]!;
  const examples = Number(raw);
  if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(examples) || examples < 1 || examples > MAX_EXAMPLES) {
    throw new UsageError(
      'USAGE',
      `${file}: ${STATS_METADATA.examples} = ${JSON.stringify(raw)} is not a count of examples from 1 to ${MAX_EXAMPLES}`,
      { file },
    );
  }
  return { kind, checkpoint, data: metadata[STATS_METADATA.data]!, examples };
}

/**
 * Refuses statistics that do not describe `checkpoint` (the content id of the model being merged) or are of the
 * wrong kind: merging with another checkpoint's Fisher or Gram values silently gives a wrong model.
 * @example checkStatisticsFor({ info, file: 'a.fisher.safetensors', model: 'a.safetensors', kind: 'fisher', checkpoint: id })
 */
export function checkStatisticsFor(options: {
  info: StatisticsInfo;
  file: string;
  model: string;
  kind: StatisticsKind;
  checkpoint: string;
}): void {
  const { info, file, model } = options;
  if (info.kind !== options.kind) {
    throw new UsageError('USAGE', `${file}: holds ${info.kind} statistics, ${options.kind} statistics are needed`, {
      file,
    });
  }
  if (info.checkpoint !== options.checkpoint) {
    throw new UsageError(
      'USAGE',
      `${file}: stale statistics: computed for checkpoint ${info.checkpoint.slice(0, 16)}…, but ${model} is ` +
        `${options.checkpoint.slice(0, 16)}… (recompute them on the current weights, or restore the weights they ` +
        'describe)',
      { file },
    );
  }
}

/** One tensor of sums for `writeStatistics`. */
export interface StatisticsTensor {
  name: string;
  shape: readonly number[];
  /** The sums (float64 values are stored as F64, float32 as F32). */
  values: Float32Array | Float64Array;
}

async function writeFileAtomic(path: string, parts: Iterable<Uint8Array>): Promise<void> {
  const tmp = `${path}.weft-tmp-${process.pid}`;
  const h = await open(tmp, 'w');
  try {
    for (const p of parts) await h.write(p);
    await h.sync();
    await h.close();
    await rename(tmp, path);
  } catch (e) {
    await h.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}

function bytesOf(values: Float32Array | Float64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * Writes a statistics file: the sums per tensor and the metadata naming the checkpoint, data and example count.
 * @example await writeStatistics({ output: 'a.fisher.safetensors', kind: 'fisher', checkpoint: id, data: 'digits train',
 *   examples: 1000, tensors: [{ name: 'w', shape: [2], values: Float64Array.of(3, 4) }] });
 */
export async function writeStatistics(
  options: StatisticsInfo & { output: string; tensors: readonly StatisticsTensor[] },
) {
  if (!Number.isSafeInteger(options.examples) || options.examples < 1) {
    throw new UsageError('USAGE', `${options.output}: ${options.examples} is not a count of examples`);
  }
  for (const t of options.tensors) {
    if (numelOf(t.shape) !== t.values.length) {
      throw new UsageError(
        'USAGE',
        `${options.output}: tensor ${JSON.stringify(t.name)} has ${t.values.length} values for shape [${t.shape.join(', ')}]`,
        { tensor: t.name },
      );
    }
  }
  const specs = options.tensors.map((t) => ({
    name: t.name,
    dtype: (t.values instanceof Float64Array ? 'F64' : 'F32') as Dtype,
    shape: t.shape,
    sizeBytes: t.values.byteLength,
  }));
  const layout = encodeSafetensorsHeader(specs, {
    [STATS_METADATA.kind]: options.kind,
    [STATS_METADATA.checkpoint]: options.checkpoint,
    [STATS_METADATA.data]: options.data,
    [STATS_METADATA.examples]: String(options.examples),
  });
  const byName = new Map(options.tensors.map((t) => [t.name, t]));
  await writeFileAtomic(options.output, [
    layout.headerBytes,
    ...layout.order.map((n) => bytesOf(byName.get(n)!.values)),
  ]);
}

/** Reads a float tensor of a statistics file as float64 (exact for F16, BF16, F32 and F64). */
async function readSums(file: OpenedFile, name: string, path: string): Promise<Float64Array> {
  const view = file.checkpoint.tensors.find((t) => t.name === name)!;
  const bytes = await readTensorBytes(file.source, file.checkpoint, view);
  if (view.dtype === 'F64') return new Float64Array(bytes.slice().buffer);
  if (view.dtype === 'F32') return Float64Array.from(new Float32Array(bytes.slice().buffer));
  throw new UsageError(
    'USAGE',
    `${path}: tensor ${JSON.stringify(name)} is ${view.dtype}; statistics must be F32 or F64`,
    {
      file: path,
      tensor: name,
    },
  );
}

/**
 * Combines statistics of the same checkpoint from several contributors exactly: sums are added (in float64,
 * written as F64) and example counts added; the data names are joined. Refuses files of different kinds or
 * checkpoints, files without statistics metadata (their counts are unknown), and differing tensor sets.
 *
 * @example await combineStatistics({ inputs: ['alice.fisher.safetensors', 'bob.fisher.safetensors'], output: 'm.fisher.safetensors' });
 */
export async function combineStatistics(options: {
  inputs: readonly string[];
  output: string;
}): Promise<StatisticsInfo> {
  const { inputs } = options;
  if (inputs.length < 2) throw new UsageError('USAGE', 'combining statistics needs at least two files');
  if (inputs.length > MAX_COMBINE_INPUTS) {
    throw new UsageError('USAGE', `${inputs.length} statistics files, over the limit of ${MAX_COMBINE_INPUTS}`);
  }
  const opened: { path: string; file: OpenedFile; info: StatisticsInfo }[] = [];
  try {
    for (const path of inputs) {
      const file = await openCheckpointFile(path);
      const entry = { path, file, info: undefined as StatisticsInfo | undefined };
      opened.push(entry as never);
      const info = readStatisticsInfo(file.checkpoint.metadata, path);
      if (!info) {
        throw new UsageError(
          'USAGE',
          `${path}: no statistics metadata (${Object.values(STATS_METADATA).join(', ')}): its example count is unknown, so it cannot be combined exactly`,
          { file: path },
        );
      }
      entry.info = info;
    }
    const first = opened[0]!;
    const names = first.file.checkpoint.tensors.map((t) => t.name).sort();
    for (const o of opened.slice(1)) {
      if (o.info.kind !== first.info.kind) {
        throw new UsageError(
          'USAGE',
          `${o.path}: holds ${o.info.kind} statistics, ${first.path} holds ${first.info.kind}`,
          {
            file: o.path,
          },
        );
      }
      if (o.info.checkpoint !== first.info.checkpoint) {
        throw new UsageError(
          'USAGE',
          `${o.path}: computed for checkpoint ${o.info.checkpoint.slice(0, 16)}…, ${first.path} for ${first.info.checkpoint.slice(0, 16)}…: statistics of different weights do not combine`,
          { file: o.path },
        );
      }
      const other = o.file.checkpoint.tensors.map((t) => t.name).sort();
      const missing = names.find((n) => !other.includes(n)) ?? other.find((n) => !names.includes(n));
      if (missing !== undefined) {
        throw new UsageError('USAGE', `${o.path}: tensor ${JSON.stringify(missing)} is in one file and not the other`, {
          file: o.path,
          tensor: missing,
        });
      }
    }
    const examples = opened.reduce((a, o) => a + o.info.examples, 0);
    if (!Number.isSafeInteger(examples)) {
      throw new UsageError('USAGE', `${options.output}: ${examples} examples in total is over ${MAX_EXAMPLES}`);
    }
    const tensors: StatisticsTensor[] = [];
    for (const name of names) {
      const shape = first.file.checkpoint.tensors.find((t) => t.name === name)!.shape;
      const sum = new Float64Array(numelOf(shape));
      for (const o of opened) {
        const view = o.file.checkpoint.tensors.find((t) => t.name === name)!;
        if (view.shape.join(',') !== shape.join(',')) {
          throw new UsageError(
            'USAGE',
            `${o.path}: tensor ${JSON.stringify(name)} has shape [${view.shape.join(', ')}], ${first.path} has [${shape.join(', ')}]`,
            { file: o.path, tensor: name },
          );
        }
        const values = await readSums(o.file, name, o.path);
        for (let i = 0; i < sum.length; i++) sum[i]! += values[i]!;
      }
      tensors.push({ name, shape, values: sum });
    }
    const data = [...new Set(opened.map((o) => o.info.data))].join(' + ');
    const info: StatisticsInfo = { kind: first.info.kind, checkpoint: first.info.checkpoint, data, examples };
    await writeStatistics({ ...info, output: options.output, tensors });
    return info;
  } finally {
    for (const o of opened) await o.file.source.close();
  }
}

/** Statistics file beside a model: `x.safetensors` → `x.fisher.safetensors` / `x.gram.safetensors`. */
export function statisticsPathFor(model: string, kind: StatisticsKind): string {
  const stem = model.endsWith('.safetensors') ? model.slice(0, -'.safetensors'.length) : model;
  return `${stem}.${kind}.safetensors`;
}
