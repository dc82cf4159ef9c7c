// Tests for eval-model.ts's change detection (which tensors a candidate changed, for module scope) and for the
// score cache in eval-score-cache.ts (real temp folders).

import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../manifest/manifest.js';
import { listChangedTensors, type ModelVersion } from './eval-model.js';
import { ScoreCache } from './eval-score-cache.js';

function manifest(tensors: Record<string, string>, frame = 'f1'): Manifest {
  return {
    format: 'safetensors',
    sizeBytes: 0,
    frames: [{ sizeBytes: 8, refs: [{ id: frame as never }] }],
    tensors: Object.entries(tensors).map(([name, contentId], i) => ({
      name,
      dtype: 'F32',
      shape: [1],
      offsetBytes: 8 + 4 * i,
      sizeBytes: 4,
      contentId: contentId as never,
      encoding: { kind: 'dense', refs: [], params: {} },
    })),
  };
}

function version(files: { path: string; blob: string; manifest?: Manifest }[]): ModelVersion {
  return { rev: 'x', commit: 'c', key: 'k', files };
}

describe('listChangedTensors', () => {
  const base = version([{ path: 'm.safetensors', blob: 'b1', manifest: manifest({ 'a.w': '1', 'b.w': '2' }) }]);

  it('lists the tensors whose content changed', () => {
    const cand = version([{ path: 'm.safetensors', blob: 'b2', manifest: manifest({ 'a.w': '1', 'b.w': '3' }) }]);
    expect(listChangedTensors(base, cand)).toEqual(['b.w']);
    expect(listChangedTensors(base, base)).toEqual([]);
  });

  it('is undefined when the change is more than tensor values', () => {
    const renamed = version([{ path: 'm.safetensors', blob: 'b2', manifest: manifest({ 'a.w': '1', 'c.w': '2' }) }]);
    const frame = version([
      { path: 'm.safetensors', blob: 'b2', manifest: manifest({ 'a.w': '1', 'b.w': '2' }, 'f2') },
    ]);
    const added = version([...base.files, { path: 'config.json', blob: 'c' }]);
    expect(listChangedTensors(base, renamed)).toBeUndefined();
    expect(listChangedTensors(base, frame)).toBeUndefined();
    expect(listChangedTensors(base, added)).toBeUndefined();
  });
});

describe('ScoreCache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-score-cache-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads back what was appended, per model and suite, and skips a torn line', async () => {
    const cache = new ScoreCache(dir);
    expect((await cache.read('m1', 's1')).size).toBe(0);
    await cache.append('m1', 's1', ['0', '1'], [1, 0.25]);
    await cache.append('m1', 's1', ['2'], [0]);
    await cache.append('m2', 's1', ['0'], [0]);
    appendFileSync(join(dir, 'scores', 's1', 'm1.jsonl'), '{"id":"3","sco');
    const m1 = await cache.read('m1', 's1');
    expect([...m1]).toEqual([
      ['0', 1],
      ['1', 0.25],
      ['2', 0],
    ]);
    expect((await cache.read('m2', 's1')).get('0')).toBe(0);
    expect((await cache.read('m1', 's2')).size).toBe(0);
  });
});
