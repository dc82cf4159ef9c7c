// `weft adapter apply` and `weft adapter extract`: PEFT adapters (LoRA, IA3) in and out. Apply writes the merged
// weights into the tracked model in place (atomically) and leaves a hint in the content index so that the next
// `git add` stores each changed tensor as the adapter's factors; extract approximates a change by low-rank factors.

import { createHash } from 'node:crypto';
import { copyFile, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import {
  isPredictableDtype,
  type LowRankUpdate,
  predictLowRank,
  predictScaled,
  type ScaleUpdate,
} from '../encode/update-encoding.js';
import { UsageError } from '../errors.js';
import type { Checkpoint, TensorView } from '../formats/format-module.js';
import { encodeSafetensorsHeader } from '../formats/safetensors/write-safetensors.js';
import { runGit } from '../git/run-git.js';
import { type ContentId, parseEncoding, printEncoding, printRefs } from '../manifest/manifest.js';
import { decodeToF32 } from '../tensor/convert.js';
import type { Dtype } from '../tensor/dtype.js';
import { randomizedSvd } from '../tensor/linalg.js';
import { DEFAULT_MAX_CHAIN } from './clean.js';
import type { FileSource } from './file-source.js';
import { filterWeftPaths, listTrackedManifests } from './git-manifests.js';
import { openCheckpointFile } from './open-checkpoint.js';
import { isPlainView, readTensorBytes } from './read-tensor.js';
import { openRepo, type Repo } from './repo.js';
import { readTensorFromStore } from './store-read.js';
import { chainDepthOf, parentLookupOf } from './tensor-decode.js';

/** adapter_config.json is a few hundred bytes of settings; anything this big is not one (CWE-770). */
const MAX_ADAPTER_CONFIG_BYTES = 1024 * 1024;
/** PEFT prefixes every key with this. */
const PEFT_PREFIX = 'base_model.model.';

/** The parts of PEFT's adapter_config.json that decide how an adapter merges. */
export interface AdapterConfig {
  peftType: 'LORA' | 'IA3';
  rank?: number;
  alpha?: number;
  useRslora: boolean;
  fanInFanOut: boolean;
  feedforwardModules: string[];
}

async function readAdapterConfig(dir: string): Promise<AdapterConfig> {
  const path = join(dir, 'adapter_config.json');
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (info.size > MAX_ADAPTER_CONFIG_BYTES) {
      throw new UsageError('USAGE', `${path}: ${info.size} bytes is over the ${MAX_ADAPTER_CONFIG_BYTES}-byte limit`);
    }
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UsageError('USAGE_NOT_FOUND', `${dir}: no adapter_config.json (is this a PEFT adapter folder?)`);
    }
    throw e;
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new UsageError('USAGE', `${path}: not valid JSON`);
  }
  const type = String(json.peft_type ?? '').toUpperCase();
  if (type !== 'LORA' && type !== 'IA3') {
    throw new UsageError('USAGE', `${path}: peft_type ${JSON.stringify(json.peft_type)} is not LORA or IA3`);
  }
  const num = (key: string) => {
    const v = json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new UsageError('USAGE', `${path}: ${key} = ${JSON.stringify(v)} must be a positive number`);
    }
    return v;
  };
  const ff = json.feedforward_modules;
  return {
    peftType: type,
    ...(num('r') === undefined ? {} : { rank: num('r')! }),
    ...(num('lora_alpha') === undefined ? {} : { alpha: num('lora_alpha')! }),
    useRslora: json.use_rslora === true,
    fanInFanOut: json.fan_in_fan_out === true,
    feedforwardModules: Array.isArray(ff) ? ff.map(String) : typeof ff === 'string' ? [ff] : [],
  };
}

/** One tensor an adapter changes, as applied. */
export interface AppliedTensor {
  tensor: string;
  kind: 'lora' | 'ia3';
  rank?: number;
  /** True when the next `git add` will store this tensor as the adapter's factors. */
  hinted: boolean;
}

export interface ApplyAdapterResult {
  /** The model file written, relative to the work tree's top level. */
  model: string;
  tensors: AppliedTensor[];
}

interface AdapterModule {
  module: string;
  a?: TensorView;
  b?: TensorView;
  ia3?: TensorView;
}

function adapterModules(checkpoint: Checkpoint, file: string): Map<string, AdapterModule> {
  const modules = new Map<string, AdapterModule>();
  for (const view of checkpoint.tensors) {
    const name = view.name.startsWith(PEFT_PREFIX) ? view.name.slice(PEFT_PREFIX.length) : view.name;
    const m = /^(.+?)\.(lora_A|lora_B)(?:\.[^.]+)?\.weight$/.exec(name) ?? /^(.+?)\.(ia3_l)(?:\.[^.]+)?$/.exec(name);
    if (!m) {
      throw new UsageError('USAGE', `${file}: tensor ${JSON.stringify(view.name)} is not a LoRA or IA3 parameter`);
    }
    const module = m[1]!;
    const entry = modules.get(module) ?? { module };
    if (m[2] === 'lora_A') entry.a = view;
    else if (m[2] === 'lora_B') entry.b = view;
    else entry.ia3 = view;
    modules.set(module, entry);
  }
  return modules;
}

async function readF32(source: FileSource, checkpoint: Checkpoint, view: TensorView): Promise<Float32Array> {
  if (!isPredictableDtype(view.dtype) && view.dtype !== 'F64') {
    throw new UsageError(
      'USAGE',
      `${source.path}: tensor ${JSON.stringify(view.name)} has dtype ${view.dtype}, not a float`,
    );
  }
  return decodeToF32(view.dtype, await readTensorBytes(source, checkpoint, view));
}

async function resolveModelFile(repo: Repo, cwd: string, model: string | undefined): Promise<string> {
  if (model !== undefined) return resolve(cwd, model);
  const listed = (await runGit(['ls-files', '-z'], { cwd: repo.topLevel })).stdout.toString('utf8').split('\0');
  const tracked = [
    ...(await filterWeftPaths(
      repo.topLevel,
      listed.filter((p) => p !== ''),
    )),
  ];
  if (tracked.length === 1) return join(repo.topLevel, tracked[0]!);
  throw new UsageError(
    'USAGE',
    tracked.length === 0
      ? 'no tracked model in this repository: name one with --model <file>'
      : `several tracked files (${tracked.slice(0, 5).join(', ')}${tracked.length > 5 ? ', …' : ''}): name one with --model <file>`,
  );
}

function sha256(bytes: Uint8Array): ContentId {
  return createHash('sha256').update(bytes).digest('hex') as ContentId;
}

/**
 * Merges a PEFT adapter (LoRA: W + scale·B·A with scale = alpha/r, or alpha/√r with rsLoRA; IA3: W scaled by its
 * vector) into the tracked model, computed exactly as Weft's low-rank encoding computes it, and records hints so
 * the next `git add` stores the factors instead of the tensors. The file is replaced atomically.
 *
 * @example await applyAdapter({ cwd: '/repo', adapterDir: 'lora_low', model: 'model.safetensors' });
 */
export async function applyAdapter(options: {
  cwd: string;
  adapterDir: string;
  model?: string;
  maxChain?: number;
}): Promise<ApplyAdapterResult> {
  const repo = await openRepo({ cwd: options.cwd });
  const adapterDir = resolve(options.cwd, options.adapterDir);
  const config = await readAdapterConfig(adapterDir);
  const adapterPath = join(adapterDir, 'adapter_model.safetensors');
  const adapter = await openCheckpointFile(adapterPath).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UsageError('USAGE_NOT_FOUND', `${adapterDir}: no adapter_model.safetensors`);
    }
    throw e;
  });
  const modelPath = await resolveModelFile(repo, options.cwd, options.model);
  const modelName = relative(repo.topLevel, modelPath);
  const model = await openCheckpointFile(modelPath);
  const maxChain = options.maxChain ?? DEFAULT_MAX_CHAIN;
  const writes: { offsetBytes: number; bytes: Uint8Array }[] = [];
  const hints: { contentId: ContentId; parent: ContentId; params: Record<string, string>; parts: Float32Array[] }[] =
    [];
  const applied: AppliedTensor[] = [];
  try {
    const modules = adapterModules(adapter.checkpoint, adapterPath);
    const byName = new Map(model.checkpoint.tensors.map((v) => [v.name, v]));
    // Validate every module against the model before changing anything.
    const plan: { view: TensorView; module: AdapterModule }[] = [];
    for (const m of modules.values()) {
      const view = byName.get(`${m.module}.weight`) ?? byName.get(m.module);
      if (!view) {
        throw new UsageError(
          'USAGE',
          `${modelName}: no tensor "${m.module}.weight" for the adapter's module ${m.module}`,
        );
      }
      if (view.shape.length !== 2 || !isPlainView(model.checkpoint, view) || !isPredictableDtype(view.dtype)) {
        throw new UsageError(
          'USAGE',
          `${modelName}: tensor ${JSON.stringify(view.name)} (${view.dtype} [${view.shape.join(', ')}]) is not a 2-D F32/F16/BF16 matrix an adapter can change`,
        );
      }
      if (m.ia3 === undefined && (m.a === undefined || m.b === undefined)) {
        throw new UsageError('USAGE', `${adapterPath}: module ${m.module} has only one of lora_A and lora_B`);
      }
      plan.push({ view, module: m });
    }
    for (const { view, module: m } of plan) {
      const [rows, cols] = view.shape as [number, number];
      const parent = await readTensorBytes(model.source, model.checkpoint, view);
      let predicted: Uint8Array;
      let hintParams: Record<string, string> | undefined;
      let hintParts: Float32Array[] = [];
      if (m.ia3) {
        const v = await readF32(adapter.source, adapter.checkpoint, m.ia3);
        const [d0, d1] = m.ia3.shape.length === 2 ? (m.ia3.shape as [number, number]) : [m.ia3.shape[0] ?? 0, 1];
        let axis: 0 | 1;
        if (d0 === rows && d1 === 1) axis = 0;
        else if (d0 === 1 && d1 === cols) axis = 1;
        else if (m.ia3.shape.length === 1 && v.length === cols && config.feedforwardModules.includes(m.module))
          axis = 1;
        else if (m.ia3.shape.length === 1 && v.length === rows) axis = 0;
        else {
          throw new UsageError(
            'USAGE',
            `${adapterPath}: ${m.module}.ia3_l has shape [${m.ia3.shape.join(', ')}], which does not fit ${view.name} [${rows}, ${cols}]`,
          );
        }
        const update: ScaleUpdate = { rows, cols, axis, vector: v };
        predicted = predictScaled({ parent, dtype: view.dtype, update });
        hintParams = { dtype: view.dtype, shape: `${rows}x${cols}`, axis: String(axis), v: '' };
        hintParts = [v];
        applied.push({ tensor: view.name, kind: 'ia3', hinted: false });
      } else {
        const a = await readF32(adapter.source, adapter.checkpoint, m.a!); // [r, in]
        const b = await readF32(adapter.source, adapter.checkpoint, m.b!); // [out, r]
        const r = m.a!.shape[0] ?? 0;
        const inDim = m.a!.shape[1] ?? 0;
        const outDim = m.b!.shape[0] ?? 0;
        const [wantOut, wantIn] = config.fanInFanOut ? [cols, rows] : [rows, cols];
        if (
          m.a!.shape.length !== 2 ||
          m.b!.shape.length !== 2 ||
          m.b!.shape[1] !== r ||
          inDim !== wantIn ||
          outDim !== wantOut
        ) {
          throw new UsageError(
            'USAGE',
            `${adapterPath}: module ${m.module}: lora_A [${m.a!.shape.join(', ')}] and lora_B [${m.b!.shape.join(', ')}] do not fit ${view.name} [${rows}, ${cols}]${config.fanInFanOut ? ' (fan_in_fan_out)' : ''}`,
          );
        }
        const alpha = config.alpha ?? r;
        const scale = config.useRslora ? alpha / Math.sqrt(r) : alpha / r;
        // W is [out, in]: ΔW = B·A. With fan_in_fan_out W is [in, out]: ΔW = (B·A)ᵀ = Aᵀ·Bᵀ.
        const update: LowRankUpdate = config.fanInFanOut
          ? { rows, cols, rank: r, left: transpose(a, r, inDim), right: transpose(b, outDim, r), scale }
          : { rows, cols, rank: r, left: b, right: a, scale };
        predicted = predictLowRank({ parent, dtype: view.dtype, update });
        hintParams = {
          dtype: view.dtype,
          shape: `${rows}x${cols}`,
          rank: String(r),
          scale: String(scale),
          a: '',
          b: '',
        };
        hintParts = [update.right, update.left];
        applied.push({ tensor: view.name, kind: 'lora', rank: r, hinted: false });
      }
      const extent = model.checkpoint.extents[view.extent]!;
      writes.push({ offsetBytes: extent.offsetBytes, bytes: predicted });
      hints.push({ contentId: sha256(predicted), parent: sha256(parent), params: hintParams, parts: hintParts });
    }
  } finally {
    await adapter.source.close();
    await model.source.close();
  }
  await writeInPlace(modelPath, writes, join(repo.weftDir, 'tmp'));
  // Hints: the factors go into the store now; the content index says how the new tensors are built from them.
  for (let i = 0; i < hints.length; i++) {
    const h = hints[i]!;
    const parentText = await repo.contentIndex.lookup(h.parent);
    const parentEncoding = parentText === undefined ? undefined : parseEncoding(parentText);
    if (!parentEncoding) continue; // the model was never committed: the next add stores the tensor as usual
    const depth = chainDepthOf(parentEncoding) + 1;
    if (depth > maxChain) continue;
    const bytes = concatFloats(h.parts);
    const put = await repo.store.put(bytes, { groupWidth: 4 });
    let at = 0;
    const params: Record<string, string> = { parent: h.parent, depth: String(depth) };
    for (const [k, v] of Object.entries(h.params)) {
      if (v !== '') params[k] = v;
      else {
        const part = h.parts.shift()!;
        params[k] = printRefs([{ id: put.id as never, start: at, end: at + part.byteLength }]);
        at += part.byteLength;
      }
    }
    params.patch = 'none';
    await repo.contentIndex.record(
      h.contentId,
      printEncoding({ kind: h.params.axis === undefined ? 'lowrank' : 'scale', params, refs: [] }),
    );
    applied[i]!.hinted = true;
  }
  return { model: modelName, tensors: applied };
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = m[i * cols + j]!;
  return out;
}

function concatFloats(parts: readonly Float32Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Replaces byte ranges of a file atomically: a copy is patched, fsynced and renamed over it. The copy is made in
 * the store's temp folder (so a killed apply leaves nothing in the work tree for `git add -A` to pick up), or
 * beside the file when that folder is on another file system.
 */
async function writeInPlace(
  path: string,
  writes: readonly { offsetBytes: number; bytes: Uint8Array }[],
  tempDir: string,
): Promise<void> {
  await mkdir(tempDir, { recursive: true });
  try {
    await patchAndRename(path, writes, join(tempDir, `adapter-${process.pid}-${Date.now()}.tmp`));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    await patchAndRename(path, writes, join(dirname(path), `.${basename(path)}.weft-${process.pid}.tmp`));
  }
}

async function patchAndRename(
  path: string,
  writes: readonly { offsetBytes: number; bytes: Uint8Array }[],
  temp: string,
): Promise<void> {
  await copyFile(path, temp);
  try {
    const handle = await open(temp, 'r+');
    try {
      for (const w of writes) await handle.write(w.bytes, 0, w.bytes.length, w.offsetBytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

/** One tensor of an extracted adapter. */
export interface ExtractedTensor {
  path: string;
  tensor: string;
  rank: number;
  /** ‖ΔW − B·A‖_F / ‖ΔW‖_F. */
  relativeError: number;
}

/**
 * Writes a PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`, F32, lora_alpha = r so the
 * scale is 1) whose B·A approximates, by a randomized truncated SVD, the change of every changed 2-D float
 * tensor named `<module>.weight` between two revisions.
 *
 * @example await extractAdapter({ cwd, from: 'HEAD~1', to: 'HEAD', rank: 8, outDir: 'my-adapter' });
 */
export async function extractAdapter(options: {
  cwd: string;
  from: string;
  to: string;
  rank: number;
  outDir: string;
  paths?: string[];
}): Promise<{ outDir: string; tensors: ExtractedTensor[] }> {
  if (!Number.isInteger(options.rank) || options.rank < 1 || options.rank > 4096) {
    throw new UsageError('USAGE', `--rank ${options.rank} must be a whole number from 1 to 4096`);
  }
  const repo = await openRepo({ cwd: options.cwd });
  const [before, after] = await Promise.all([
    listTrackedManifests(repo.topLevel, options.from, options.paths ?? []),
    listTrackedManifests(repo.topLevel, options.to, options.paths ?? []),
  ]);
  const specs: { name: string; dtype: Dtype; shape: number[]; bytes: Uint8Array }[] = [];
  const report: ExtractedTensor[] = [];
  const modules: string[] = [];
  for (const b of after) {
    const a = before.find((x) => x.path === b.path);
    if (!a) continue;
    const aTensors = new Map(a.manifest.tensors.map((t) => [t.name, t]));
    for (const t of b.manifest.tensors) {
      const old = aTensors.get(t.name);
      if (!old || old.contentId === t.contentId || t.shape.length !== 2 || old.dtype !== t.dtype) continue;
      if (!isPredictableDtype(t.dtype) || !t.name.endsWith('.weight') || old.shape.join() !== t.shape.join()) continue;
      const [rows, cols] = t.shape as [number, number];
      const [x, y] = await Promise.all([
        readTensorFromStore(repo.store, old, a.path, parentLookupOf(a.manifest), repo.keyframes),
        readTensorFromStore(repo.store, t, b.path, parentLookupOf(b.manifest), repo.keyframes),
      ]);
      const delta = decodeToF32(t.dtype, y);
      const base = decodeToF32(t.dtype, x);
      for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! - base[i]!;
      const rank = Math.min(options.rank, rows, cols);
      const f = randomizedSvd({ matrix: delta, rows, cols, rank, powerIterations: 3 });
      let err = 0;
      let norm = 0;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          let s = 0;
          for (let k = 0; k < f.rank; k++) s += f.left[i * f.rank + k]! * f.right[k * cols + j]!;
          const d = delta[i * cols + j]!;
          err += (d - s) * (d - s);
          norm += d * d;
        }
      }
      const module = t.name.slice(0, -'.weight'.length);
      modules.push(module);
      specs.push({
        name: `${PEFT_PREFIX}${module}.lora_A.weight`,
        dtype: 'F32',
        shape: [f.rank, cols],
        bytes: floatBytes(f.right),
      });
      specs.push({
        name: `${PEFT_PREFIX}${module}.lora_B.weight`,
        dtype: 'F32',
        shape: [rows, f.rank],
        bytes: floatBytes(f.left),
      });
      report.push({ path: b.path, tensor: t.name, rank: f.rank, relativeError: norm > 0 ? Math.sqrt(err / norm) : 0 });
    }
  }
  if (specs.length === 0) {
    throw new UsageError(
      'USAGE',
      `no 2-D float tensor named <module>.weight changed between ${options.from} and ${options.to}`,
    );
  }
  const outDir = resolve(options.cwd, options.outDir);
  await mkdir(outDir, { recursive: true });
  const layout = encodeSafetensorsHeader(
    specs.map((s) => ({ name: s.name, dtype: s.dtype, shape: s.shape, sizeBytes: s.bytes.length })),
  );
  const byName = new Map(specs.map((s) => [s.name, s.bytes]));
  const body = [layout.headerBytes, ...layout.order.map((n) => byName.get(n)!)];
  await writeAtomically(join(outDir, 'adapter_model.safetensors'), body);
  const rank = Math.max(...report.map((r) => r.rank));
  const config = {
    peft_type: 'LORA',
    r: rank,
    lora_alpha: rank,
    lora_dropout: 0,
    bias: 'none',
    target_modules: [...new Set(modules)].sort(),
    fan_in_fan_out: false,
    use_rslora: false,
    // Ranks per module when some tensor is smaller than --rank (PEFT's rank_pattern).
    rank_pattern: Object.fromEntries(report.filter((r) => r.rank !== rank).map((r) => [r.tensor.slice(0, -7), r.rank])),
    alpha_pattern: Object.fromEntries(
      report.filter((r) => r.rank !== rank).map((r) => [r.tensor.slice(0, -7), r.rank]),
    ),
  };
  await writeAtomically(join(outDir, 'adapter_config.json'), [Buffer.from(`${JSON.stringify(config, null, 2)}\n`)]);
  return { outDir, tensors: report };
}

function floatBytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

async function writeAtomically(path: string, parts: readonly Uint8Array[]): Promise<void> {
  const temp = `${path}.weft-${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    for (const p of parts) await handle.write(p);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await rm(temp, { force: true });
    throw e;
  }
  await handle.close();
  await rename(temp, path);
}
