// Formats of files that carry no structure of their own but are described by a sibling file in the same folder: TF.js
// weight shards (listed by a model.json) and ONNX external data files (named by a model's tensors). Reads siblings
// (small JSON, ONNX tags) and stats; never reads the file itself.

import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError } from '../errors.js';
import type { FormatModule } from '../formats/format-module.js';
import { type OnnxExternalPlan, onnxExternalDataModule } from '../formats/onnx/external-data.js';
import { listOnnxExternalTensors } from '../formats/onnx/onnx-module.js';
import { tfjsShardModule } from '../formats/tfjs/tfjs-shard.js';
import { openFileSource } from './file-source.js';
import { findTfjsShardPlan } from './tfjs-siblings.js';

/** An ONNX model that stores its weights outside is graph only; a bigger candidate is not worth walking. */
const MAX_ONNX_MODEL_BYTES = 256 * 1024 * 1024;
/** ONNX models looked at per file when the name does not point at one (bounds work per file). */
const MAX_ONNX_CANDIDATES = 16;

/** The models that may declare `name` as external data: `x.onnx` for `x.onnx.data`/`x.onnx_data`/`x.data`, then all. */
async function onnxCandidates(dir: string, name: string): Promise<string[]> {
  const first: string[] = [];
  const stripped = name.replace(/([._]data|\.bin|\.pb|\.weights?)$/, '');
  if (stripped !== name) first.push(stripped.endsWith('.onnx') ? stripped : `${stripped}.onnx`);
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.onnx') && !first.includes(n)).sort();
  } catch {
    return [];
  }
  return [...first, ...names].slice(0, MAX_ONNX_CANDIDATES).map((n) => join(dir, n));
}

/**
 * The plan for an ONNX external data file at `path`: the model beside it whose tensors name this file as their
 * `location`, with those tensors. Undefined when no model does.
 *
 * @example
 * const plan = await findOnnxExternalPlan({ path: '/repo/model.onnx.data' });
 */
export async function findOnnxExternalPlan(options: { path: string }): Promise<OnnxExternalPlan | undefined> {
  const name = basename(options.path);
  if (name.endsWith('.onnx')) return undefined;
  for (const model of await onnxCandidates(dirname(options.path), name)) {
    const info = await stat(model).catch(() => undefined);
    if (!info?.isFile() || info.size > MAX_ONNX_MODEL_BYTES) continue;
    const source = await openFileSource(model).catch(() => undefined);
    if (!source) continue;
    try {
      const external = await listOnnxExternalTensors(source, { fileName: model });
      const tensors = external.filter((t) => t.location === name || t.location === `./${name}`);
      if (tensors.length > 0) return { model: basename(model), tensors };
    } catch (e) {
      // A broken or vanished sibling only means it describes nothing.
      if (!(e instanceof FormatError) && typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
    } finally {
      await source.close();
    }
  }
  return undefined;
}

/**
 * The format of a file that no module recognises by its bytes but a sibling describes: a TF.js weight shard listed by
 * a model.json beside it, or an ONNX external data file named by a model beside it. Undefined when there is none.
 *
 * @example
 * const module = detectFormat(head, size) ?? (await findSiblingFormat({ topLevel: repo.topLevel, pathname }));
 */
export async function findSiblingFormat(options: {
  topLevel: string;
  pathname: string;
}): Promise<FormatModule | undefined> {
  const path = join(options.topLevel, options.pathname);
  const shard = await findTfjsShardPlan({ path });
  if (shard) return tfjsShardModule(shard);
  const external = await findOnnxExternalPlan({ path });
  return external ? onnxExternalDataModule(external) : undefined;
}
