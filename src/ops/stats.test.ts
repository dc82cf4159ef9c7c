// Statistics files for data-aware merges, with tiny hand-built safetensors: metadata round trip, the checkpoint
// content id, exact combination of contributors (sums and counts add), and merge-files finding statistics by
// convention, dividing sums by counts and refusing stale ones.

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeFiles } from './merge-files.js';
import { openCheckpointFile } from './open-checkpoint.js';
import {
  checkpointContentId,
  checkpointContentIdOfFile,
  combineStatistics,
  readStatisticsInfo,
  writeStatistics,
} from './stats.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-stats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file of F32 tensors, laid out by hand with DataView. */
function f32File(name: string, tensors: Record<string, number[]>, metadata?: Record<string, string>): string {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [t, values] of Object.entries(tensors)) {
    header[t] = { dtype: 'F32', shape: [values.length], data_offsets: [offset, offset + values.length * 4] };
    offset += values.length * 4;
  }
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let at = 8 + h.length;
  for (const values of Object.values(tensors)) {
    for (const v of values) {
      view.setFloat32(at, v, true);
      at += 4;
    }
  }
  const path = join(dir, name);
  writeFileSync(path, out);
  return path;
}

/** The F32/F64 values of a tensor of a safetensors file. */
function readTensor(path: string, name: string): number[] {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.toString('utf8', 8, 8 + n)) as Record<
    string,
    { dtype: string; data_offsets: [number, number] }
  >;
  const t = header[name]!;
  const bytes = new Uint8Array(b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]));
  return [...(t.dtype === 'F64' ? new Float64Array(bytes.buffer) : new Float32Array(bytes.buffer))];
}

async function metadataOf(path: string): Promise<Record<string, string>> {
  const f = await openCheckpointFile(path);
  await f.source.close();
  return f.checkpoint.metadata;
}

describe('statistics files', () => {
  it('name the checkpoint by its tensors’ content: order-free, changed by any value', async () => {
    const a = f32File('id-a.safetensors', { w: [1, 2], b: [3] });
    const a2 = f32File('id-a2.safetensors', { b: [3], w: [1, 2] });
    const c = f32File('id-c.safetensors', { w: [1, 2.5], b: [3] });
    const id = await checkpointContentIdOfFile({ path: a });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await checkpointContentIdOfFile({ path: a2 })).toBe(id);
    expect(await checkpointContentIdOfFile({ path: c })).not.toBe(id);
    // The same id from manifest-style content ids (SHA-256 of each tensor's bytes).
    const sha = (values: number[]) =>
      createHash('sha256')
        .update(new Uint8Array(Float32Array.from(values).buffer))
        .digest('hex');
    expect(
      checkpointContentId([
        { name: 'w', dtype: 'F32', shape: [2], contentId: sha([1, 2]) },
        { name: 'b', dtype: 'F32', shape: [1], contentId: sha([3]) },
      ]),
    ).toBe(id);
  });

  it('round-trip their metadata and reject incomplete or malformed metadata', async () => {
    const out = join(dir, 'rt.fisher.safetensors');
    await writeStatistics({
      output: out,
      kind: 'fisher',
      checkpoint: 'a'.repeat(64),
      data: 'digits train',
      examples: 12,
      tensors: [{ name: 'w', shape: [2], values: Float64Array.of(0.5, 7) }],
    });
    const info = readStatisticsInfo(await metadataOf(out), out);
    expect(info).toEqual({ kind: 'fisher', checkpoint: 'a'.repeat(64), data: 'digits train', examples: 12 });
    expect(readTensor(out, 'w')).toEqual([0.5, 7]);
    expect(readStatisticsInfo({ format: 'pt' }, 'x')).toBeUndefined();
    expect(() => readStatisticsInfo({ 'weft.stats': 'fisher' }, 'x.fisher.safetensors')).toThrow(
      /x\.fisher\.safetensors: statistics metadata lacks weft\.checkpoint, weft\.data, weft\.examples/,
    );
    const bad = { 'weft.stats': 'fisher', 'weft.checkpoint': 'a'.repeat(64), 'weft.data': 'd', 'weft.examples': '0' };
    expect(() => readStatisticsInfo(bad, 'x')).toThrow(/weft\.examples = "0" is not a count/);
    expect(() => readStatisticsInfo({ ...bad, 'weft.examples': '3', 'weft.stats': 'hessian' }, 'x')).toThrow(
      /weft\.stats = "hessian"/,
    );
  });

  it('combine exactly: sums add, counts add, data names join; different weights are refused', async () => {
    const checkpoint = 'b'.repeat(64);
    const meta = (data: string, examples: number, ck = checkpoint) => ({
      'weft.stats': 'fisher',
      'weft.checkpoint': ck,
      'weft.data': data,
      'weft.examples': String(examples),
    });
    const alice = f32File('alice.fisher.safetensors', { w: [0.1, 2], b: [3] }, meta('alice-set', 2));
    const bob = f32File('bob.fisher.safetensors', { b: [4], w: [0.2, 5] }, meta('bob-set', 3));
    const out = join(dir, 'both.fisher.safetensors');
    const info = await combineStatistics({ inputs: [alice, bob], output: out });
    expect(info).toEqual({ kind: 'fisher', checkpoint, data: 'alice-set + bob-set', examples: 5 });
    expect(readStatisticsInfo(await metadataOf(out), out)).toEqual(info);
    // Float64 sums of the float32 values: exact.
    expect(readTensor(out, 'w')).toEqual([Math.fround(0.1) + Math.fround(0.2), 7]);
    expect(readTensor(out, 'b')).toEqual([7]);
    const other = f32File('carol.fisher.safetensors', { w: [1, 1], b: [1] }, meta('c', 1, 'c'.repeat(64)));
    await expect(combineStatistics({ inputs: [alice, other], output: join(dir, 'x') })).rejects.toThrow(
      /carol\.fisher\.safetensors: computed for checkpoint cccc.*statistics of different weights do not combine/,
    );
    const plain = f32File('plain.fisher.safetensors', { w: [1, 1], b: [1] });
    await expect(combineStatistics({ inputs: [alice, plain], output: join(dir, 'x') })).rejects.toThrow(
      /plain\.fisher\.safetensors: no statistics metadata/,
    );
    const fewer = f32File('dave.fisher.safetensors', { w: [1, 1] }, meta('d', 1));
    await expect(combineStatistics({ inputs: [alice, fewer], output: join(dir, 'x') })).rejects.toThrow(
      /tensor "b" is in one file and not the other/,
    );
  });

  it('merge-files finds them beside each model, divides sums by counts and refuses stale ones', async () => {
    const a = f32File('ma.safetensors', { w: [1, 10] });
    const b = f32File('mb.safetensors', { w: [3, 20] });
    const ida = await checkpointContentIdOfFile({ path: a });
    const idb = await checkpointContentIdOfFile({ path: b });
    // Means: F_a = [1, 1] (sums [4, 4] over 4 examples), F_b = [3, 1] (sums [6, 2] over 2).
    const fa = join(dir, 'ma.fisher.safetensors');
    const fb = join(dir, 'mb.fisher.safetensors');
    await writeStatistics({
      output: fa,
      kind: 'fisher',
      checkpoint: ida,
      data: 'd',
      examples: 4,
      tensors: [{ name: 'w', shape: [2], values: Float32Array.of(4, 4) }],
    });
    await writeStatistics({
      output: fb,
      kind: 'fisher',
      checkpoint: idb,
      data: 'd',
      examples: 2,
      tensors: [{ name: 'w', shape: [2], values: Float32Array.of(6, 2) }],
    });
    const out = join(dir, 'merged.safetensors');
    await mergeFiles({ method: 'fisher', models: [a, b], output: out });
    // (1·1 + 3·3) / (1 + 3) = 2.5; (1·10 + 1·20) / 2 = 15.
    expect(readTensor(out, 'w')).toEqual([2.5, 15]);
    // The model changes after its statistics were computed: refused, naming the file.
    f32File('mb.safetensors', { w: [3, 21] });
    await expect(mergeFiles({ method: 'fisher', models: [a, b], output: out })).rejects.toThrow(
      /mb\.fisher\.safetensors: stale statistics: computed for checkpoint [0-9a-f]{16}…, but .*mb\.safetensors is/,
    );
    // Gram statistics where Fisher ones are expected: refused.
    await writeStatistics({
      output: fb,
      kind: 'gram',
      checkpoint: await checkpointContentIdOfFile({ path: b }),
      data: 'd',
      examples: 2,
      tensors: [{ name: 'w', shape: [2], values: Float32Array.of(6, 2) }],
    });
    await expect(mergeFiles({ method: 'fisher', models: [a, b], output: out })).rejects.toThrow(
      /mb\.fisher\.safetensors: holds gram statistics, fisher statistics are needed/,
    );
    // Plain values without Weft metadata are used as given.
    f32File('mb.fisher.safetensors', { w: [3, 1] });
    await mergeFiles({ method: 'fisher', models: [a, b], output: out });
    expect(readTensor(out, 'w')).toEqual([2.5, Math.fround((10 + 21) / 2)]);
  });
});
