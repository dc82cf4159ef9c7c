// Tests for content-index.ts on real temp dirs: record/lookup/remove, torn entries, concurrent writers, limits.

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentIndex, MAX_LOCATION_BYTES } from './content-index.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'weft-index-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const idA = `a1${'0'.repeat(62)}`;
const idB = `b2${'f'.repeat(62)}`;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('ContentIndex', () => {
  it('records, looks up, replaces and removes locations', async () => {
    const index = new ContentIndex(root);
    expect(await index.lookup(idA)).toBeUndefined();
    await index.record(idA, `dense ${'1'.repeat(64)},${'2'.repeat(64)}`);
    expect(await index.lookup(idA)).toBe(`dense ${'1'.repeat(64)},${'2'.repeat(64)}`);
    await index.record(idA, 'lowrank a=1 b=2 — ünïcode');
    expect(await index.lookup(idA)).toBe('lowrank a=1 b=2 — ünïcode');
    expect(await readFile(join(root, 'index', 'a1', idA), 'utf8')).toMatch(/^weft-index 1 \d+ [0-9a-f]{16}\n/);
    expect(await index.has(idA)).toBe(true);
    expect(await index.has(idB)).toBe(false);
    expect(await index.remove(idA)).toBe(true);
    expect(await index.remove(idA)).toBe(false);
    expect(await index.lookup(idA)).toBeUndefined();
    expect(await index.has(idA)).toBe(false);
    await expect(index.has('not-a-content-id')).rejects.toThrow(RangeError);
  });

  it('lists every readable entry and skips damaged entries and stray files', async () => {
    const index = new ContentIndex(root);
    await index.record(idA, 'dense x');
    await index.record(idB, '');
    await writeFile(join(root, 'index', 'a1', `${idA}.123.tmp`), 'junk');
    await mkdir(join(root, 'index', 'zz'));
    const damaged = `a1${'3'.repeat(62)}`;
    await writeFile(join(root, 'index', 'a1', damaged), 'weft-index 1 7 0000000000000000\ndense y');
    const entries = await collect(index.entries());
    expect(entries.sort((x, y) => x.contentId.localeCompare(y.contentId))).toEqual([
      { contentId: idA, location: 'dense x' },
      { contentId: idB, location: '' },
    ]);
    expect(await index.lookup(damaged)).toBeUndefined();
  });

  it('reads a torn entry (truncated, or empty after a crash) as absent', async () => {
    const index = new ContentIndex(root);
    await index.record(idA, 'dense abc');
    const file = join(root, 'index', 'a1', idA);
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 1));
    expect(await index.lookup(idA)).toBeUndefined();
    await writeFile(file, '');
    expect(await index.lookup(idA)).toBeUndefined();
  });

  it('survives many concurrent writers of one entry: one of their locations wins, no temp files remain', async () => {
    const index = new ContentIndex(root);
    const locations = Array.from({ length: 25 }, (_, i) => `dense ${i}`);
    await Promise.all(locations.map((location) => index.record(idA, location)));
    expect(locations).toContain(await index.lookup(idA));
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('rejects a malformed content id and an oversized location', async () => {
    const index = new ContentIndex(root);
    await expect(index.lookup('../../config')).rejects.toThrow(RangeError);
    await expect(index.record(idA.toUpperCase(), 'x')).rejects.toThrow(RangeError);
    await expect(index.record(idA, 'x'.repeat(MAX_LOCATION_BYTES + 1))).rejects.toThrow(RangeError);
    await index.record(idA, 'x'.repeat(MAX_LOCATION_BYTES));
    expect((await index.lookup(idA))?.length).toBe(MAX_LOCATION_BYTES);
  });
});
