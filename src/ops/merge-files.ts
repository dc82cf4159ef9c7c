// `weft merge-files`: merges checkpoint files outside a repository with one method (or a mergekit YAML config),
// tensor by tensor, into safetensors (sharded when big). Everything is validated — method, parameters, every
// input holding every tensor with the same shape — before any tensor data is read. Never holds a whole model.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parseDocument } from 'yaml';
import { UsageError, type UsageErrorCode } from '../errors.js';
import type { TensorView } from '../formats/format-module.js';
import { encodeSafetensorsHeader, type SafetensorsTensorSpec } from '../formats/safetensors/write-safetensors.js';
import type { MergeInputs, MergeMethod } from '../merge/method.js';
import {
  countLayers,
  MERGE_PARAMETERS,
  PARAMETER_NAMES,
  type ParamTable,
  type ParamValue,
  paramValueProblems,
  resolveParameters,
  type Scalar,
  showValue,
  suggestName,
} from '../merge/params.js';
import { checkMergeParams, getMergeMethod, methodNameProblem, paramScope, runMerge } from '../merge/registry.js';
import { decodeToF32, encodeFromF32 } from '../tensor/convert.js';
import { type Dtype, dtypeSize, isDtype, isFloatDtype } from '../tensor/dtype.js';
import type { Seed } from '../tensor/rng.js';
import { numelOf } from '../tensor/shape.js';
import type { MergeReply, MergeRequest } from './merge-worker.js';
import { listCheckpointFiles, type OpenedFile, openCheckpointFile } from './open-checkpoint.js';
import { readTensorBytes } from './read-tensor.js';
import {
  checkpointContentIdOfFile,
  checkStatisticsFor,
  readStatisticsInfo,
  statisticsPathFor as statisticsPath,
} from './stats.js';

/** Outputs above this many bytes are split into shards (mergekit's default shard size). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;
/** A mergekit config is hand-written settings; a bigger file is refused before parsing (CWE-770). */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** More models than this is a mistake, not a merge (and bounds per-tensor memory, CWE-770). */
const MAX_MODELS = 1024;

export interface MergeFilesOptions {
  /** A merge method name (see MERGE_METHOD_NAMES). */
  method: string;
  /** The base checkpoint (file or shard folder); for methods without a base it is one more input. */
  base?: string;
  /** The contributing checkpoints. */
  models: string[];
  /** Output file (a folder of shards when the output is over `maxShardBytes`). */
  output: string;
  /** Top-level parameters (per-model ones here apply to every model). */
  params?: ParamTable;
  /** Per-model parameters, same order as `models`. */
  modelParams?: (ParamTable | undefined)[];
  seed?: Seed;
  /** Output dtype; default: the base's (or first model's) dtype of each tensor. */
  outDtype?: Dtype;
  maxShardBytes?: number;
  /** Where problems are reported from: `--param`, or the mergekit config's path. */
  configName?: string;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Told about parameters the method ignores. */
  onWarning?: (message: string) => void;
}

export interface MergeFilesResult {
  method: string;
  /** Files written: one safetensors file, or shards followed by the index. */
  files: string[];
  tensors: number;
  totalBytes: number;
}

function configFail(where: string, message: string): never {
  throw new UsageError('CONFIG_INVALID', `${where}: ${message}`, { file: where });
}

/** Tensors in flight may use this much memory together even when one alone would use less (both cores busy). */
const PARALLEL_BUDGET_BYTES = 768 * 1024 * 1024;
/** Tensors smaller than this are merged on the main thread: messaging would cost more than it saves. */
const INLINE_NUMEL = 1 << 16;

/** Merge workers (one per core, at most two tensors in flight per the memory budget); inline without them. */
class MergePool {
  private readonly workers: { worker: Worker; pending: Map<number, (reply: MergeReply) => void> }[] = [];
  private seq = 0;
  private next = 0;

  private constructor(script: URL, size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script);
      const pending = new Map<number, (reply: MergeReply) => void>();
      worker.on('message', (reply: MergeReply) => {
        pending.get(reply.seq)?.(reply);
        pending.delete(reply.seq);
      });
      const failAll = (message: string) => {
        for (const resolve of pending.values()) resolve({ seq: -1, error: { message } });
        pending.clear();
      };
      worker.on('error', (e) => failAll(`merge worker failed: ${e.message}`));
      worker.on('exit', (code) => failAll(`merge worker exited with code ${code}`));
      this.workers.push({ worker, pending });
    }
  }

  /** A pool when the compiled worker script exists (not when running from TypeScript sources) and there are cores. */
  static start(): MergePool | undefined {
    const script = new URL('./merge-worker.js', import.meta.url);
    const size = Math.min(2, availableParallelism());
    if (size < 2 || script.protocol !== 'file:' || !existsSync(fileURLToPath(script))) return undefined;
    return new MergePool(script, size);
  }

  get size(): number {
    return this.workers.length;
  }

  async merge(method: MergeMethod, inputs: MergeInputs): Promise<Float32Array> {
    const slot = this.workers[this.next++ % this.workers.length]!;
    const seq = this.seq++;
    const transfer = [inputs.base, ...inputs.models, ...(inputs.statistics ?? [])]
      .filter((a): a is Float32Array => a !== undefined)
      .map((a) => a.buffer as ArrayBuffer);
    const reply = await new Promise<MergeReply>((resolve) => {
      slot.pending.set(seq, resolve);
      slot.worker.postMessage({ seq, method: method.name, inputs } satisfies MergeRequest, [...new Set(transfer)]);
    });
    if ('error' in reply) {
      const { message, code, tensor } = reply.error;
      if (code === 'USAGE' || code === 'CONFIG_INVALID' || code === 'USAGE_NOT_FOUND') {
        throw new UsageError(code as UsageErrorCode, message, tensor === undefined ? {} : { tensor });
      }
      throw new Error(message);
    }
    return reply.values;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/** Bytes of tensors in flight: a new one waits unless it fits the limit or nothing else is in flight. */
class MemoryBudget {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async acquire(bytes: number): Promise<void> {
    while (this.used > 0 && this.used + bytes > this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used -= bytes;
    for (const wake of this.waiting.splice(0)) wake();
  }
}

/** Checks method, arity and every parameter against the method before any file is opened. */
function validatePlan(o: MergeFilesOptions): MergeMethod {
  const where = o.configName ?? '--method';
  const problem = methodNameProblem(o.method);
  if (problem) configFail(where, `${o.configName ? 'merge_method: ' : ''}${showValue(o.method)} ${problem}`);
  const method = getMergeMethod(o.method)!;
  const inputs = o.models.length + (method.base === 'none' && o.base !== undefined ? 1 : 0);
  if (o.models.length > MAX_MODELS) configFail(where, `${o.models.length} models is over the limit of ${MAX_MODELS}`);
  if (inputs < method.arity.min || inputs > method.arity.max) {
    const { min, max } = method.arity;
    const want =
      min === max ? `exactly ${min}` : max === Number.POSITIVE_INFINITY ? `at least ${min}` : `${min} to ${max}`;
    configFail(where, `${o.method} merges ${want} model${max === 1 ? '' : 's'} besides the base, got ${inputs}`);
  }
  if (method.base === 'required' && o.base === undefined) configFail(where, `${o.method} needs a base model (--base)`);
  const paramWhere = o.configName ?? '--param';
  const checkTable = (table: ParamTable | undefined, prefix: string, scope?: 'model') => {
    for (const [name, value] of Object.entries(table ?? {})) {
      if (!MERGE_PARAMETERS[name]) {
        const hint = suggestName(name, PARAMETER_NAMES);
        configFail(
          paramWhere,
          `${prefix}${name} is not a merge parameter${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`,
        );
      }
      if (method.params[name] === undefined) {
        // mergekit configs often carry parameters a method ignores (weight for model_stock): warn, do not fail.
        o.onWarning?.(
          `${paramWhere}: ${prefix}${name} is not used by ${o.method} (it takes ${Object.keys(method.params).join(', ') || 'no parameters'})`,
        );
        continue;
      }
      if (scope === 'model' && paramScope(method, name) !== 'model') {
        configFail(paramWhere, `${prefix}${name} is a parameter of the whole merge, not of one model`);
      }
      const problems = paramValueProblems(name, value);
      if (problems.length > 0) {
        const [suffix, why] = problems[0]!;
        configFail(paramWhere, `${prefix}${name}${suffix} = ${showValue(value)} ${why}`);
      }
    }
  };
  checkTable(o.params, o.configName ? 'parameters.' : '');
  o.modelParams?.forEach((t, i) => {
    checkTable(t, o.configName ? `models[${i}].parameters.` : '', 'model');
  });
  for (const [name, spec] of Object.entries(method.params)) {
    if (!spec.required) continue;
    const everyModel = o.models.every((_, i) => o.modelParams?.[i]?.[name] !== undefined);
    if (o.params?.[name] === undefined && !everyModel) {
      configFail(
        paramWhere,
        `${o.method} needs parameter ${name} (e.g. ${o.configName ? `${name}: 1` : `--param ${name}=1`})`,
      );
    }
  }
  if (o.outDtype !== undefined && !(isDtype(o.outDtype) && isFloatDtype(o.outDtype))) {
    configFail(o.configName ?? '--out-dtype', `output dtype ${showValue(o.outDtype)} is not a float dtype`);
  }
  return method;
}

interface OpenedInput {
  path: string;
  files: OpenedFile[];
  /** Tensor name → where it is. */
  tensors: Map<string, { file: OpenedFile; view: TensorView }>;
}

async function openInput(path: string, opened: OpenedFile[]): Promise<OpenedInput> {
  const input: OpenedInput = { path, files: [], tensors: new Map() };
  for (const f of await listCheckpointFiles(path)) {
    const file = await openCheckpointFile(f);
    opened.push(file);
    input.files.push(file);
    for (const view of file.checkpoint.tensors) {
      if (input.tensors.has(view.name)) {
        throw new UsageError('USAGE', `${path}: tensor ${JSON.stringify(view.name)} appears twice`, {
          file: path,
          tensor: view.name,
        });
      }
      input.tensors.set(view.name, { file, view });
    }
  }
  return input;
}

async function readValues(input: OpenedInput, name: string): Promise<Float32Array> {
  const { file, view } = input.tensors.get(name)!;
  const bytes = await readTensorBytes(file.source, file.checkpoint, view);
  return decodeToF32(view.dtype, bytes);
}

/**
 * Opens the statistics beside a model (`x.fisher.safetensors` / `x.gram.safetensors`) and checks its metadata:
 * of the right kind and computed on this model's weights (else a stale-statistics error). Returns the divisor
 * turning its sums into means: the example count, or 1 for a file without Weft statistics metadata (values as
 * given). Undefined when there is no such file.
 */
async function openStatistics(
  model: string,
  kind: 'fisher' | 'gram',
  opened: OpenedFile[],
): Promise<{ input: OpenedInput; examples: number } | undefined> {
  const sp = statisticsPath(model, kind);
  if (!existsSync(sp)) return undefined;
  const input = await openInput(sp, opened);
  const infos = input.files.map((f) => readStatisticsInfo(f.checkpoint.metadata, f.source.path));
  const info = infos[0];
  if (infos.some((i) => JSON.stringify(i) !== JSON.stringify(info))) {
    throw new UsageError('USAGE', `${sp}: its shards disagree on the statistics metadata`, { file: sp });
  }
  if (!info) return { input, examples: 1 };
  checkStatisticsFor({ info, file: sp, model, kind, checkpoint: await checkpointContentIdOfFile({ path: model }) });
  return { input, examples: info.examples };
}

interface OutputTensor {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  /** Non-float tensors are copied from this input, not merged. */
  copyFrom?: OpenedInput;
}

/**
 * Merges checkpoint files with one method, streaming tensor by tensor, and writes safetensors (a temp file
 * renamed into place; shards and an index when over `maxShardBytes`). Non-float tensors are copied from the
 * base (or the first model). Peak memory ≈ (inputs + 2) × the largest tensor in float32.
 *
 * @example
 * await mergeFiles({ method: 'ties', base: 'base.safetensors', models: ['a.safetensors', 'b.safetensors'],
 *   output: 'merged.safetensors', params: { weight: 1, density: 0.5 } });
 */
export async function mergeFiles(options: MergeFilesOptions): Promise<MergeFilesResult> {
  const method = validatePlan(options);
  const baseIsInput = method.base === 'none' && options.base !== undefined;
  const modelPaths = baseIsInput ? [options.base!, ...options.models] : options.models;
  const modelTables = baseIsInput ? [undefined, ...(options.modelParams ?? [])] : (options.modelParams ?? []);
  const basePath = method.base === 'none' ? undefined : options.base;
  const opened: OpenedFile[] = [];
  let pool: MergePool | undefined;
  try {
    const base = basePath === undefined ? undefined : await openInput(basePath, opened);
    const models: OpenedInput[] = [];
    for (const p of modelPaths) models.push(await openInput(p, opened));
    const stats: (OpenedInput | undefined)[] = [];
    /** Per model: what its statistics' sums are divided by (the example count). */
    const statsExamples: number[] = [];
    if (method.statistics) {
      for (const p of modelPaths) {
        const found = await openStatistics(p, method.statistics, opened);
        if (!found && method.statistics === 'fisher') {
          const sp = statisticsPath(p, 'fisher');
          throw new UsageError('USAGE_NOT_FOUND', `${p}: fisher needs its Fisher statistics in ${sp}`, { file: sp });
        }
        stats.push(found?.input);
        statsExamples.push(found?.examples ?? 1);
      }
    }
    // Every input has every tensor, with the same shape — checked before any tensor data is read.
    const reference = base ?? models[0]!;
    const all = base ? [base, ...models] : models;
    for (const input of all) {
      for (const name of input.tensors.keys()) {
        if (!reference.tensors.has(name)) {
          throw new UsageError('USAGE', `${input.path}: tensor ${JSON.stringify(name)} is not in ${reference.path}`, {
            file: input.path,
            tensor: name,
          });
        }
      }
    }
    const outputs: OutputTensor[] = [];
    for (const [name, { view }] of reference.tensors) {
      for (const input of all) {
        const other = input.tensors.get(name);
        if (!other) {
          throw new UsageError(
            'USAGE',
            `${input.path}: tensor ${JSON.stringify(name)} is missing (it is in ${reference.path})`,
            {
              file: input.path,
              tensor: name,
            },
          );
        }
        if (other.view.shape.join(',') !== view.shape.join(',')) {
          throw new UsageError(
            'USAGE',
            `${input.path}: tensor ${JSON.stringify(name)} has shape [${other.view.shape.join(', ')}], ${reference.path} has [${view.shape.join(', ')}]`,
            { file: input.path, tensor: name },
          );
        }
      }
      if (method.statistics === 'fisher') {
        stats.forEach((s, i) => {
          if (!s?.tensors.has(name)) {
            throw new UsageError(
              'USAGE',
              `${statisticsPath(modelPaths[i]!, 'fisher')}: no Fisher values for tensor ${JSON.stringify(name)}`,
              {
                tensor: name,
              },
            );
          }
        });
      }
      const float = isFloatDtype(view.dtype);
      const out: OutputTensor = {
        name,
        dtype: float ? (options.outDtype ?? view.dtype) : view.dtype,
        shape: view.shape,
      };
      if (!float) out.copyFrom = reference;
      outputs.push(out);
    }
    const layerCount = countLayers(reference.tensors.keys());
    const paramsFor = (t: OutputTensor) => ({
      params: resolveParameters({
        tensorName: t.name,
        layerCount,
        names: Object.keys(method.params),
        levels: [options.params],
      }),
      modelParams: models.map((_, i) =>
        resolveParameters({
          tensorName: t.name,
          layerCount,
          names: Object.keys(method.params).filter((p) => paramScope(method, p) === 'model'),
          levels: [modelTables[i], options.params],
        }),
      ),
    });
    // Every tensor's resolved parameters are checked now, before any tensor data is read.
    for (const t of outputs) {
      if (!t.copyFrom)
        checkMergeParams(method, { tensorName: t.name, shape: t.shape, modelCount: models.length, ...paramsFor(t) });
    }
    const specs: SafetensorsTensorSpec[] = outputs.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      sizeBytes: numelOf(t.shape) * dtypeSize(t.dtype),
    }));
    const totalBytes = specs.reduce((a, s) => a + s.sizeBytes, 0);
    const byName = new Map(outputs.map((t) => [t.name, t]));
    const metadata = {
      format: 'pt',
      weft_merge: JSON.stringify({
        method: method.name,
        seed: String(options.seed ?? 0),
        parameters: options.params ?? {},
      }),
    };
    const maxShard = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
    const shards = totalBytes > maxShard ? splitShards(specs, maxShard) : [specs];
    let done = 0;
    pool = outputs.length > 1 ? MergePool.start() : undefined;
    const inputCount = models.length + (base ? 1 : 0) + stats.length;
    // Peak ≈ (inputs + 2) × the largest tensor in float32; tensors share that budget (or PARALLEL_BUDGET_BYTES,
    // if larger) to run two at a time.
    const largestNumel = Math.max(0, ...outputs.map((t) => numelOf(t.shape)));
    const budget = new MemoryBudget(Math.max((inputCount + 2) * 4 * largestNumel, PARALLEL_BUDGET_BYTES));
    const mergeOne = async (t: OutputTensor): Promise<Uint8Array> => {
      if (t.copyFrom) {
        const { file, view } = t.copyFrom.tensors.get(t.name)!;
        return readTensorBytes(file.source, file.checkpoint, view);
      }
      const numel = numelOf(t.shape);
      const cost = (inputCount + 2) * 4 * numel;
      await budget.acquire(cost);
      try {
        const modelValues: Float32Array[] = [];
        for (const m of models) modelValues.push(await readValues(m, t.name));
        const statistics: (Float32Array | undefined)[] = [];
        for (const [i, s] of stats.entries()) {
          const sums = s?.tensors.has(t.name) ? await readValues(s, t.name) : undefined;
          const n = statsExamples[i]!;
          statistics.push(sums && n !== 1 ? sums.map((v) => v / n) : sums);
        }
        const inputs: MergeInputs = {
          tensorName: t.name,
          shape: t.shape,
          models: modelValues,
          ...paramsFor(t),
          seed: options.seed ?? 0,
        };
        if (base) inputs.base = await readValues(base, t.name);
        if (method.statistics) inputs.statistics = statistics;
        const values = pool && numel >= INLINE_NUMEL ? await pool.merge(method, inputs) : runMerge(method, inputs);
        return encodeFromF32(t.dtype, values);
      } finally {
        budget.release(cost);
      }
    };
    const concurrency = pool?.size ?? 1;
    const written: string[] = [];
    if (shards.length === 1) {
      await writeSafetensors(options.output, shards[0]!, metadata, concurrency, async (name) => {
        const bytes = await mergeOne(byName.get(name)!);
        done += bytes.length;
        options.onProgress?.(done, totalBytes);
        return bytes;
      });
      written.push(options.output);
    } else {
      const folder = options.output.endsWith('.safetensors')
        ? options.output.slice(0, -'.safetensors'.length)
        : options.output;
      await mkdir(folder, { recursive: true });
      const weightMap: Record<string, string> = {};
      for (const [i, shard] of shards.entries()) {
        const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
        await writeSafetensors(join(folder, file), shard, metadata, concurrency, async (name) => {
          const bytes = await mergeOne(byName.get(name)!);
          done += bytes.length;
          options.onProgress?.(done, totalBytes);
          return bytes;
        });
        for (const s of shard) weightMap[s.name] = file;
        written.push(join(folder, file));
      }
      const index = { metadata: { total_size: totalBytes }, weight_map: sortedObject(weightMap) };
      const indexPath = join(folder, 'model.safetensors.index.json');
      await writeWhole(indexPath, Buffer.from(`${JSON.stringify(index, null, 2)}\n`));
      written.push(indexPath);
    }
    return { method: method.name, files: written, tensors: outputs.length, totalBytes };
  } finally {
    await pool?.close();
    await Promise.all(opened.map((f) => f.source.close()));
  }
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Greedy split in name order into shards of at most `maxBytes` (a bigger single tensor gets its own shard). */
function splitShards(specs: SafetensorsTensorSpec[], maxBytes: number): SafetensorsTensorSpec[][] {
  const sorted = specs.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const shards: SafetensorsTensorSpec[][] = [];
  let current: SafetensorsTensorSpec[] = [];
  let size = 0;
  for (const s of sorted) {
    if (current.length > 0 && size + s.sizeBytes > maxBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(s);
    size += s.sizeBytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

async function writeWhole(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  const h = await open(tmp, 'w');
  try {
    await h.write(bytes, 0, bytes.length, 0);
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path);
}

/**
 * Writes a safetensors file tensor by tensor (`concurrency` produced at a time, each written at its offset), to a
 * temp file renamed into place; the temp file is removed on failure.
 */
async function writeSafetensors(
  path: string,
  specs: SafetensorsTensorSpec[],
  metadata: Record<string, string>,
  concurrency: number,
  produce: (name: string) => Promise<Uint8Array>,
): Promise<void> {
  const layout = encodeSafetensorsHeader(specs, metadata);
  const tmp = tempPathFor(path);
  const h = await open(tmp, 'w');
  let ok = false;
  try {
    await h.write(layout.headerBytes, 0, layout.headerBytes.length, 0);
    let next = 0;
    const runner = async () => {
      while (next < layout.order.length) {
        const i = next++;
        const name = layout.order[i]!;
        const extent = layout.extents[i]!;
        const bytes = await produce(name);
        if (bytes.length !== extent.sizeBytes)
          throw new RangeError(`${name}: ${bytes.length} bytes, ${extent.sizeBytes} expected`);
        let at = 0;
        while (at < bytes.length) {
          const { bytesWritten } = await h.write(bytes, at, bytes.length - at, extent.offsetBytes + at);
          at += bytesWritten;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, runner));
    await h.sync();
    ok = true;
  } finally {
    await h.close();
    if (!ok) await rm(tmp, { force: true });
  }
  await rename(tmp, path);
}

const MERGEKIT_DTYPES: Record<string, Dtype> = {
  float32: 'F32',
  fp32: 'F32',
  float16: 'F16',
  fp16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  bf16: 'BF16',
  float64: 'F64',
};

/**
 * Reads a mergekit YAML config into `mergeFiles` options: `models` (each `model` plus `parameters`),
 * `base_model`, `merge_method`, `parameters` (scalars, gradients, `{filter, value}` lists), `dtype` (the
 * computation dtype: Weft always computes in float32 or wider, so it is accepted and not used) and `out_dtype`.
 * `slices`, tokenizer settings and the like are refused with a clear message. Relative model paths are taken
 * from the current folder, else from the config's folder.
 *
 * @example const options = await readMergekitConfig({ path: 'merge.yml', output: 'out.safetensors' });
 */
export async function readMergekitConfig(options: {
  path: string;
  output: string;
  cwd?: string;
}): Promise<MergeFilesOptions> {
  const where = options.path;
  let text: string;
  try {
    const info = await stat(options.path);
    if (info.size > MAX_CONFIG_BYTES)
      configFail(where, `${info.size} bytes is over the ${MAX_CONFIG_BYTES}-byte limit for a config`);
    text = await readFile(options.path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UsageError('USAGE_NOT_FOUND', `${options.path}: no such file`, { file: options.path });
    }
    throw e;
  }
  const config = parseMergekitYaml(text, where);
  const cwd = options.cwd ?? process.cwd();
  const locate = async (p: string): Promise<string> => {
    if (isAbsolute(p)) return p;
    const fromCwd = resolve(cwd, p);
    if (
      await stat(fromCwd).then(
        () => true,
        () => false,
      )
    )
      return fromCwd;
    return resolve(dirname(resolve(cwd, options.path)), p);
  };
  const out: MergeFilesOptions = { ...config, models: [], output: options.output, configName: where };
  for (const m of config.models) out.models.push(await locate(m));
  if (config.base !== undefined) out.base = await locate(config.base);
  return out;
}

/** Keys of a mergekit config that Weft refuses, with the reason. */
const REFUSED_KEYS: Record<string, string> = {
  slices: 'slices (layer-range merges) are not supported; merge whole models',
  tokenizer_source: 'tokenizer merging is not supported; copy the tokenizer files yourself',
  tokenizer: 'tokenizer merging is not supported; copy the tokenizer files yourself',
  chat_template: 'chat templates are not merged; copy the template yourself',
  modules: 'per-module mergekit configs are not supported; use models',
};
const ACCEPTED_KEYS = ['models', 'base_model', 'merge_method', 'parameters', 'dtype', 'out_dtype', 'name'];

/**
 * Parses the text of a mergekit YAML config (pure): paths are returned as written. Throws UsageError
 * CONFIG_INVALID naming the key.
 *
 * @example parseMergekitYaml('merge_method: linear\nmodels:\n  - model: a.safetensors\n', 'm.yml').method // 'linear'
 */
export function parseMergekitYaml(text: string, where: string): Omit<MergeFilesOptions, 'output'> {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) configFail(where, `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  if (typeof root !== 'object' || root === null || Array.isArray(root)) configFail(where, 'must be a YAML mapping');
  const r = root as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (REFUSED_KEYS[key]) configFail(where, `${key}: ${REFUSED_KEYS[key]}`);
    if (!ACCEPTED_KEYS.includes(key)) {
      const hint = suggestName(key, ACCEPTED_KEYS);
      configFail(
        where,
        `${key} is not a mergekit key Weft knows${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`,
      );
    }
  }
  if (typeof r.merge_method !== 'string') configFail(where, 'merge_method is missing (e.g. merge_method: ties)');
  if (!Array.isArray(r.models) || r.models.length === 0)
    configFail(where, 'models must be a non-empty list of {model, parameters}');
  const models: string[] = [];
  const modelParams: (ParamTable | undefined)[] = [];
  r.models.forEach((m: unknown, i: number) => {
    const entry = typeof m === 'string' ? { model: m } : m;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      configFail(where, `models[${i}] must be a mapping with model:`);
    const e = entry as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (key !== 'model' && key !== 'parameters')
        configFail(where, `models[${i}].${key} is not supported (model, parameters)`);
    }
    if (typeof e.model !== 'string' || e.model === '') configFail(where, `models[${i}].model must be a path`);
    models.push(e.model);
    modelParams.push(tableOf(e.parameters, `models[${i}].parameters`, where));
  });
  const base = r.base_model;
  if (base !== undefined && base !== null && typeof base !== 'string') configFail(where, 'base_model must be a path');
  const out: Omit<MergeFilesOptions, 'output'> = { method: r.merge_method, models: [], configName: where };
  const params = tableOf(r.parameters, 'parameters', where);
  if (params) out.params = params;
  // mergekit lists the base among the models for some methods; it contributes no task vector.
  const method = getMergeMethod(r.merge_method);
  const keep = models.map((m) => !(typeof base === 'string' && method && method.base !== 'none' && m === base));
  out.models = models.filter((_, i) => keep[i]);
  out.modelParams = modelParams.filter((_, i) => keep[i]);
  if (typeof base === 'string' && method?.base !== 'none') out.base = base;
  for (const key of ['dtype', 'out_dtype'] as const) {
    const v = r[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !MERGEKIT_DTYPES[v]) {
      configFail(where, `${key}: ${showValue(v)} is not one of ${Object.keys(MERGEKIT_DTYPES).join(', ')}`);
    }
    if (key === 'out_dtype') out.outDtype = MERGEKIT_DTYPES[v]!;
  }
  return out;
}

function tableOf(value: unknown, key: string, where: string): ParamTable | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) configFail(where, `${key} must be a mapping`);
  return value as Record<string, ParamValue>;
}

/**
 * Parses `--param k=v`: v is a number, true/false, a JSON list or object (gradients, filter rules), or a string.
 *
 * @example parseParamArgs(['density=0.5', 'rescale=inverse_density']) // { density: 0.5, rescale: 'inverse_density' }
 */
export function parseParamArgs(args: readonly string[]): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) configFail('--param', `${showValue(arg)} must be key=value`);
    const key = arg.slice(0, eq);
    const raw = arg.slice(eq + 1).trim();
    let value: Scalar | ParamValue;
    if (raw === 'true' || raw === 'false') value = raw === 'true';
    else if (raw !== '' && Number.isFinite(Number(raw))) value = Number(raw);
    else if (raw.startsWith('[') || raw.startsWith('{')) {
      try {
        value = JSON.parse(raw) as ParamValue;
      } catch {
        configFail('--param', `${key} = ${raw} is not valid JSON`);
      }
    } else value = raw;
    out[key] = value;
  }
  return out;
}
