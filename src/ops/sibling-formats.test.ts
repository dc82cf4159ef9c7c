// The sibling hooks on real files: a TF.js model.json beside its shards and an ONNX model beside its external data,
// in a temp folder (and a real git repository for clean). Plans, inspects and cleans through them. No mocks.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXTERNAL_DATA, EXTERNAL_MODEL } from '../formats/onnx/test-support/hand-built.js';
import { counting, MODEL_JSON, SHARD_SIZES } from '../formats/tfjs/test-support/hand-built.js';
import { cleanFile } from './clean.js';
import { inspectCheckpoint } from './inspect.js';
import { openCheckpointFile } from './open-checkpoint.js';
import { openRepo } from './repo.js';
import { findOnnxExternalPlan, findSiblingFormat } from './sibling-formats.js';
import { findTfjsShardPlan } from './tfjs-siblings.js';

const root = mkdtempSync(join(tmpdir(), 'weft-tfjs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const shard1 = counting(SHARD_SIZES[0]!);
const shard2 = counting(SHARD_SIZES[1]!, 9);
const extra = counting(320, 3);
const models = join(root, 'models');
mkdirSync(models);
writeFileSync(join(models, 'model.json'), MODEL_JSON);
writeFileSync(join(models, 'group1-shard1of2.bin'), shard1);
writeFileSync(join(models, 'group1-shard2of2.bin'), shard2);
writeFileSync(join(models, 'extra.bin'), extra);
writeFileSync(join(models, 'stray.bin'), counting(10));

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('TF.js shards beside their model.json', () => {
  it('plans each shard from the model.json and the sizes of the shards before it', async () => {
    expect(await findTfjsShardPlan({ path: join(models, 'group1-shard2of2.bin') })).toMatchObject({
      modelJson: 'model.json',
      groupIndex: 0,
      shardIndex: 1,
      shardStarts: [0, 1024],
    });
    expect(await findTfjsShardPlan({ path: join(models, 'extra.bin') })).toMatchObject({
      groupIndex: 1,
      shardIndex: 0,
    });
    expect(await findTfjsShardPlan({ path: join(models, 'stray.bin') })).toBeUndefined();
    expect(await findTfjsShardPlan({ path: join(models, 'model.json') })).toBeUndefined();
    expect(await findSiblingFormat({ topLevel: root, pathname: 'models/group1-shard1of2.bin' })).toMatchObject({
      name: 'tfjs-shard',
    });
  });

  it('inspects the logical weights across shards, from the folder or the model.json', async () => {
    for (const path of [models, join(models, 'model.json')]) {
      const result = await inspectCheckpoint({ path, hash: true });
      expect(result.format).toBe('tfjs');
      expect(result.files).toEqual(['group1-shard1of2.bin', 'group1-shard2of2.bin', 'extra.bin']);
      const a = result.tensors[0]!;
      expect(a).toMatchObject({ name: 'a', dtype: 'F32', shape: [300], sizeBytes: 1200 });
      expect(a.sha256).toBe(sha(shard1, shard2.subarray(0, 176)));
      expect(result.tensors.find((t) => t.name === 'q')).toMatchObject({
        dtype: 'U8',
        storedType: expect.stringMatching(/^uint8 quantized/),
      });
      expect(result.tensors.at(-1)).toMatchObject({ name: 'e', sha256: sha(extra) });
    }
  });

  it('opens a shard on its own as a tfjs-shard checkpoint', async () => {
    const opened = await openCheckpointFile(join(models, 'group1-shard2of2.bin'));
    await opened.source.close();
    expect(opened.checkpoint.tensors.map((t) => t.name)).toEqual(['a#part2', 'b', 'q', 'c']);
  });

  it('clean stores a shard as tensor pieces, a stray .bin as opaque bytes', async () => {
    execFileSync('git', ['init', '-q', root]);
    const repo = await openRepo({ cwd: root });
    const clean = async (pathname: string, bytes: Uint8Array) =>
      cleanFile({
        repo,
        pathname,
        sizeHint: bytes.length,
        content: (async function* () {
          yield bytes;
        })(),
      });
    const cleaned = await clean('models/group1-shard2of2.bin', shard2);
    expect(cleaned.manifest?.format).toBe('tfjs-shard');
    expect(cleaned.manifest?.tensors.map((t) => t.name)).toEqual(['a#part2', 'b', 'q', 'c']);
    expect((await clean('models/stray.bin', counting(10))).manifest?.format).toBe('opaque');
  });
});

describe('ONNX external data beside its model', () => {
  it('plans, inspects and cleans the data file by the tensors the model declares in it', async () => {
    const dir = join(root, 'onnx');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.onnx'), EXTERNAL_MODEL);
    writeFileSync(join(dir, 'model.onnx.data'), EXTERNAL_DATA);
    const plan = await findOnnxExternalPlan({ path: join(dir, 'model.onnx.data') });
    expect(plan?.tensors.map((t) => t.name)).toEqual(['w', 'h', 'q']);
    const inspected = await inspectCheckpoint({ path: join(dir, 'model.onnx.data'), hash: true });
    expect(inspected.format).toBe('onnx-external-data');
    expect(inspected.tensors[0]).toMatchObject({
      name: 'w',
      dtype: 'F32',
      shape: [8, 8],
      sha256: sha(EXTERNAL_DATA.subarray(0, 256)),
    });
    execFileSync('git', ['init', '-q', root]);
    const repo = await openRepo({ cwd: root });
    const cleaned = await cleanFile({
      repo,
      pathname: 'onnx/model.onnx.data',
      sizeHint: EXTERNAL_DATA.length,
      content: (async function* () {
        yield EXTERNAL_DATA;
      })(),
    });
    expect(cleaned.manifest?.format).toBe('onnx-external-data');
    expect(cleaned.manifest?.tensors.map((t) => t.name)).toEqual(['w', 'h', 'q']);
    const model = await inspectCheckpoint({ path: join(dir, 'model.onnx') });
    expect(model.metadata['onnx.external_data']).toBe(
      '"model.onnx.data": 3 tensors, 280 bytes; "other.bin": 1 tensors, 4 bytes',
    );
  });
});
