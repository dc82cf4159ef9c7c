// Tests for merge-files: real files built by hand, merged and read back; bad configs fail before any file is
// opened, with one line naming the problem; mergekit YAML configs; sharded output; the digits fixture.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES_ROOT } from '../../test/support/fixtures-dir.js';
import { handBuilt } from '../formats/safetensors/test-support/hand-built.js';
import { decodeToF32 } from '../tensor/convert.js';
import { mergeFiles, parseMergekitYaml, parseParamArgs, readMergekitConfig } from './merge-files.js';
import { listCheckpointFiles, openCheckpointFile } from './open-checkpoint.js';
import { readTensorBytes } from './read-tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-merge-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file of F32 tensors (and one I64 step counter), header and data laid out by hand. */
function f32File(name: string, tensors: Record<string, number[]>, step = 7n): string {
  const parts: string[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [t, values] of Object.entries(tensors)) {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => {
      view.setFloat32(i * 4, v, true);
    });
    parts.push(`"${t}":{"dtype":"F32","shape":[${values.length}],"data_offsets":[${offset},${offset + bytes.length}]}`);
    chunks.push(bytes);
    offset += bytes.length;
  }
  const counter = new Uint8Array(8);
  new DataView(counter.buffer).setBigInt64(0, step, true);
  parts.push(`"step":{"dtype":"I64","shape":[1],"data_offsets":[${offset},${offset + 8}]}`);
  chunks.push(counter);
  const data = new Uint8Array(offset + 8);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  const path = join(dir, name);
  writeFileSync(path, handBuilt(`{${parts.join(',')}}`, { data }));
  return path;
}

async function readAll(path: string): Promise<Record<string, { dtype: string; values: number[] }>> {
  const out: Record<string, { dtype: string; values: number[] }> = {};
  for (const file of await listCheckpointFiles(path)) {
    const opened = await openCheckpointFile(file);
    try {
      for (const view of opened.checkpoint.tensors) {
        const bytes = await readTensorBytes(opened.source, opened.checkpoint, view);
        out[view.name] = {
          dtype: view.dtype,
          values:
            view.dtype === 'I64'
              ? [Number(new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(0, true))]
              : Array.from(decodeToF32(view.dtype, bytes)),
        };
      }
    } finally {
      await opened.source.close();
    }
  }
  return out;
}

const base = f32File('base.safetensors', { 'layers.0.w': [0, 0, 0, 0], 'layers.1.w': [1, 1, 1, 1] });
const a = f32File('a.safetensors', { 'layers.0.w': [1, -2, 3, 0.5], 'layers.1.w': [2, 1, 1, 1] }, 8n);
const c = f32File('c.safetensors', { 'layers.0.w': [-1, 1, 2, -0.5], 'layers.1.w': [1, 1, 1, 3] }, 9n);

async function failure(run: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await run();
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected a failure');
}

describe('mergeFiles', () => {
  it('merges with ties and keeps dtypes; non-float tensors come from the base', async () => {
    const out = join(dir, 'ties.safetensors');
    const r = await mergeFiles({
      method: 'ties',
      base,
      models: [a, c],
      output: out,
      params: { weight: 1, density: 0.5 },
    });
    expect(r).toMatchObject({ method: 'ties', files: [out], tensors: 3 });
    const got = await readAll(out);
    expect(got['layers.0.w']).toEqual({ dtype: 'F32', values: [-1, -2, 2.5, 0] });
    // layers.1: δ_a = [1,0,0,0], δ_c = [0,0,0,2]; each keeps its top 2 (ties by index), signs agree.
    expect(got['layers.1.w']!.values).toEqual([2, 1, 1, 3]);
    expect(got.step).toEqual({ dtype: 'I64', values: [7] });
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('uses the base as one more input for methods without a base, and per-layer gradients', async () => {
    const out = join(dir, 'linear.safetensors');
    await mergeFiles({ method: 'linear', base, models: [a], output: out, params: { weight: 1 } });
    expect((await readAll(out))['layers.0.w']!.values).toEqual([0.5, -1, 1.5, 0.25]);
    const grad = join(dir, 'grad.safetensors');
    // lambda gradient [0, 1] over 2 layers: layer 0 gets 0, layer 1 gets 1.
    await mergeFiles({
      method: 'task_arithmetic',
      base,
      models: [a, c],
      output: grad,
      params: { weight: 1, lambda: [0, 1] },
    });
    const g = await readAll(grad);
    expect(g['layers.0.w']!.values).toEqual([0, 0, 0, 0]);
    expect(g['layers.1.w']!.values).toEqual([2, 1, 1, 3]);
  });

  it('writes another output dtype on request', async () => {
    const out = join(dir, 'bf16.safetensors');
    await mergeFiles({
      method: 'task_arithmetic',
      base,
      models: [a],
      output: out,
      params: { weight: 1 },
      outDtype: 'BF16',
    });
    expect((await readAll(out))['layers.0.w']).toEqual({ dtype: 'BF16', values: [1, -2, 3, 0.5] });
  });

  it('shards a big output into a folder with an index', async () => {
    const out = join(dir, 'sharded.safetensors');
    const r = await mergeFiles({
      method: 'task_arithmetic',
      base,
      models: [a],
      output: out,
      params: { weight: 1 },
      maxShardBytes: 20,
    });
    const folder = join(dir, 'sharded');
    expect(r.files.at(-1)).toBe(join(folder, 'model.safetensors.index.json'));
    expect(r.files.length).toBe(4);
    const index = JSON.parse(readFileSync(join(folder, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(40);
    expect(Object.keys(index.weight_map)).toEqual(['layers.0.w', 'layers.1.w', 'step']);
    expect((await readAll(folder))['layers.1.w']!.values).toEqual([2, 1, 1, 1]);
  });

  it('fails before opening any file on an unknown method, a bad parameter or a missing base', async () => {
    const missing = join(dir, 'does-not-exist.safetensors');
    const cases: [Parameters<typeof mergeFiles>[0], string][] = [
      [
        { method: 'tiess', base: missing, models: [missing], output: missing },
        '--method: "tiess" is not a merge method (did you mean "ties"?)',
      ],
      [
        { method: 'ties', base: missing, models: [missing], output: missing, params: { weight: 1, density: 2 } },
        '--param: density = 2 is outside (0, 1]',
      ],
      [
        { method: 'ties', base: missing, models: [missing], output: missing, params: { weight: 1, densty: 0.5 } },
        '--param: densty is not a merge parameter (did you mean "density"?)',
      ],
      [
        { method: 'ties', models: [missing], output: missing, params: { weight: 1 } },
        '--method: ties needs a base model (--base)',
      ],
      [
        { method: 'ties', base: missing, models: [missing], output: missing },
        '--param: ties needs parameter weight (e.g. --param weight=1)',
      ],
      [
        { method: 'slerp', base: missing, models: [missing, missing], output: missing, params: { t: 0.5 } },
        '--method: slerp merges exactly 1 model besides the base, got 2',
      ],
    ];
    for (const [options, message] of cases) {
      const e = await failure(() => mergeFiles(options));
      expect(e.message).toBe(message);
      expect(e.code).toBe('CONFIG_INVALID');
      expect(e.message).not.toContain('\n');
    }
  });

  it('fails before reading tensor data when a model lacks a tensor or has another shape', async () => {
    const short = f32File('short.safetensors', { 'layers.0.w': [1, 2, 3, 4] });
    const out = join(dir, 'never.safetensors');
    const e = await failure(() =>
      mergeFiles({ method: 'task_arithmetic', base, models: [a, short], output: out, params: { weight: 1 } }),
    );
    expect(e.message).toBe(`${short}: tensor "layers.1.w" is missing (it is in ${base})`);
    const wide = f32File('wide.safetensors', { 'layers.0.w': [1, 2, 3, 4, 5], 'layers.1.w': [1, 1, 1, 1] });
    const e2 = await failure(() =>
      mergeFiles({ method: 'task_arithmetic', base, models: [wide], output: out, params: { weight: 1 } }),
    );
    expect(e2.message).toBe(`${wide}: tensor "layers.0.w" has shape [5], ${base} has [4]`);
    // A per-tensor parameter problem (density too small for a 4-entry tensor) is found from the headers too.
    const e3 = await failure(() =>
      mergeFiles({ method: 'ties', base, models: [a], output: out, params: { weight: 1, density: 0.1 } }),
    );
    expect(e3.message).toBe(
      'tensor "layers.0.w": density 0.1 of model 1 keeps no entry of 4 (k = floor(density · numel) = 0)',
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe('mergekit configs', () => {
  it('reads models, base, per-model parameters with filters, and out_dtype', async () => {
    const yml = join(dir, 'merge.yml');
    writeFileSync(
      yml,
      `merge_method: ties
base_model: base.safetensors
models:
  - model: base.safetensors
  - model: a.safetensors
    parameters:
      weight: 1
      density:
        - filter: layers.1
          value: 0.5
        - value: 1
  - model: c.safetensors
    parameters: {weight: 1, density: 0.5}
parameters:
  normalize: true
dtype: float32
out_dtype: float32
`,
    );
    const options = await readMergekitConfig({ path: yml, output: join(dir, 'yml.safetensors'), cwd: '/' });
    expect(options.base).toBe(base);
    expect(options.models).toEqual([a, c]);
    expect(options.outDtype).toBe('F32');
    await mergeFiles(options);
    const got = await readAll(join(dir, 'yml.safetensors'));
    // layers.0: a keeps everything; c keeps [-1, 0, 2, 0]. S = [0, -2, 5, .5]: + - + +.
    expect(got['layers.0.w']!.values).toEqual([1, -2, 2.5, 0.5]);
  });

  it('refuses slices and tokenizers, and names bad keys', () => {
    expect(() => parseMergekitYaml('slices: []\nmerge_method: ties\n', 'm.yml')).toThrow(
      'm.yml: slices: slices (layer-range merges) are not supported; merge whole models',
    );
    expect(() => parseMergekitYaml('merge_method: ties\ntokenizer_source: union\nmodels: [a]\n', 'm.yml')).toThrow(
      /m.yml: tokenizer_source: tokenizer merging is not supported/,
    );
    expect(() => parseMergekitYaml('merge_methd: ties\n', 'm.yml')).toThrow(
      'm.yml: merge_methd is not a mergekit key Weft knows (did you mean "merge_method"?)',
    );
    expect(() => parseMergekitYaml('merge_method: ties\nmodels: [a]\nout_dtype: int8\n', 'm.yml')).toThrow(
      /m.yml: out_dtype: "int8" is not one of float32/,
    );
    expect(() => parseMergekitYaml('merge_method: [\n', 'm.yml')).toThrow(/m.yml: not valid YAML/);
  });

  it('fails fast on a bad method or density in a config, naming it', async () => {
    const cfg = parseMergekitYaml(
      'merge_method: ties\nbase_model: b\nmodels:\n  - model: x\n    parameters: {weight: 1, density: 2}\n',
      'm.yml',
    );
    const e = await failure(() => mergeFiles({ ...cfg, output: join(dir, 'x') }));
    expect(e.message).toBe('m.yml: models[0].parameters.density = 2 is outside (0, 1]');
    const bad = parseMergekitYaml('merge_method: tiess\nmodels: [x]\n', 'm.yml');
    expect((await failure(() => mergeFiles({ ...bad, output: join(dir, 'x') }))).message).toBe(
      'm.yml: merge_method: "tiess" is not a merge method (did you mean "ties"?)',
    );
  });
});

describe('parseParamArgs', () => {
  it('parses numbers, booleans, strings and JSON', () => {
    expect(parseParamArgs(['density=0.5', 'normalize=false', 'rescale=inverse_density', 'lambda=[0,1]'])).toEqual({
      density: 0.5,
      normalize: false,
      rescale: 'inverse_density',
      lambda: [0, 1],
    });
    expect(() => parseParamArgs(['density'])).toThrow('--param: "density" must be key=value');
  });
});

const DIGITS = join(FIXTURES_ROOT, 'digits');
describe.runIf(existsSync(join(DIGITS, 'base.safetensors')))('the digits fixture', () => {
  it('task_arithmetic is base + (low − base) + (high − base) in float32', async () => {
    const out = join(dir, 'digits.safetensors');
    const files = ['base', 'ft_low', 'ft_high'].map((n) => join(DIGITS, `${n}.safetensors`));
    await mergeFiles({
      method: 'task_arithmetic',
      base: files[0]!,
      models: files.slice(1),
      output: out,
      params: { weight: 1 },
    });
    const [b, lo, hi] = await Promise.all(files.map(readAll));
    const got = await readAll(out);
    for (const [name, t] of Object.entries(b!)) {
      const expected = t.values.map((v, j) =>
        Math.fround(v + (lo![name]!.values[j]! - v) + (hi![name]!.values[j]! - v)),
      );
      expect(got[name]!.values).toEqual(expected);
    }
  });
});
