// Tests for object-store.ts on real temp dirs: layout, dedup, verification errors, listing, gc helpers, and
// concurrent writers (async callers and two real node processes).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../errors.js';
import { computeObjectId, encodeObject, type ObjectId } from './object-codec.js';
import { ObjectStore } from './object-store.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'weft-store-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Compressible pseudo-weights: small integers as u16. */
function sample(count: number, seed: number): Uint8Array {
  const out = new Uint8Array(count * 2);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i * 2] = state >>> 24;
    out[i * 2 + 1] = (state >>> 30) + 0x3c;
  }
  return out;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function storeError(promise: Promise<unknown>, code: StoreError['code']): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
  return error as StoreError;
}

describe('ObjectStore', () => {
  it('puts and gets objects at objects/<aa>/<bb>/<id>, named by the SHA-256 of the file', async () => {
    const store = new ObjectStore(root);
    const raw = sample(50_000, 1);
    const { id, storedBytes, written } = await store.put(raw, { groupWidth: 2 });
    expect(written).toBe(true);
    const file = join(root, 'objects', id.slice(0, 2), id.slice(2, 4), id);
    expect(store.pathOf(id)).toBe(file);
    const onDisk = await readFile(file);
    expect(onDisk.length).toBe(storedBytes);
    expect(storedBytes).toBeLessThan(raw.length);
    expect(createHash('sha256').update(onDisk).digest('hex')).toBe(id);
    expect(Buffer.from(await store.get(id, { expectedRawLength: raw.length })).equals(Buffer.from(raw))).toBe(true);
    expect(await store.has(id)).toBe(true);
    expect(await store.statObject(id)).toEqual({ storedBytes });
    expect(Buffer.from(await store.readStored(id)).equals(onDisk)).toBe(true);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('skips an object that is present and refreshes its mtime', async () => {
    const store = new ObjectStore(root);
    const raw = sample(1000, 2);
    const first = await store.put(raw, { groupWidth: 2 });
    const old = new Date(Date.now() - 3_600_000);
    await utimes(store.pathOf(first.id), old, old);
    const second = await store.put(raw, { groupWidth: 2 });
    expect(second).toEqual({ ...first, written: false });
    const [listed] = await collect(store.listObjects());
    expect(listed!.mtimeMs).toBeGreaterThan(Date.now() - 60_000);
  });

  it('lets many concurrent callers put the same objects: each object written once, all callers succeed', async () => {
    const store = new ObjectStore(root, { maxConcurrency: 4 });
    const raws = [sample(30_000, 3), sample(30_000, 4), new Uint8Array(10)];
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => store.put(raws[i % raws.length]!, { groupWidth: 2 })),
    );
    for (let k = 0; k < raws.length; k++) {
      const mine = results.filter((_, i) => i % raws.length === k);
      expect(new Set(mine.map((r) => r.id)).size).toBe(1);
      expect(mine.filter((r) => r.written).length).toBe(1);
      expect([...(await store.get(mine[0]!.id))]).toEqual([...raws[k]!]);
    }
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('reports a missing object as STORE_MISSING', async () => {
    const store = new ObjectStore(root);
    const id = 'cd'.repeat(32) as ObjectId;
    const error = await storeError(store.get(id), 'STORE_MISSING');
    expect(error.message).toContain(id);
    await storeError(store.readStored(id), 'STORE_MISSING');
    expect(await store.has(id)).toBe(false);
    expect(await store.statObject(id)).toBeUndefined();
  });

  it('reports a damaged object as STORE_CORRUPT naming its id and path', async () => {
    const store = new ObjectStore(root);
    const { id } = await store.put(sample(5000, 5), { groupWidth: 2 });
    const file = store.pathOf(id);
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(file, bytes);
    for (const read of [() => store.get(id), () => store.readStored(id)]) {
      const error = await storeError(read(), 'STORE_CORRUPT');
      expect(error.message).toContain(id);
      expect(error.message).toContain(file);
      expect(error.file).toBe(file);
    }
  });

  it('puts an object given as pieces (elements straddling them) under the id of the whole', async () => {
    const store = new ObjectStore(root);
    const raw = sample(200_000, 8);
    const whole = await store.put(raw, { groupWidth: 2 });
    const pieces = [raw.slice(0, 1), raw.slice(1, 65_537), raw.slice(65_537, 65_537), raw.slice(65_537)];
    const split = await store.put(pieces, { groupWidth: 2, transfer: true });
    expect(split).toEqual({ ...whole, written: false });
    expect(Buffer.from(await store.get(whole.id, { expectedRawLength: raw.length })).equals(raw)).toBe(true);
  });

  it('skips the SHA-256 check only when asked (verify: false)', async () => {
    const store = new ObjectStore(root);
    const raw = sample(5000, 9);
    const { id } = await store.put(raw, { groupWidth: 2 });
    const file = store.pathOf(id);
    const bytes = await readFile(file);
    bytes[16 + 8]! ^= 1; // first byte of the raw mantissa plane: still a well-formed object
    await writeFile(file, bytes);
    await storeError(store.get(id), 'STORE_CORRUPT');
    const unverified = await store.get(id, { verify: false });
    expect(unverified[0]).toBe(raw[0]! ^ 1);
    expect(Buffer.from(unverified.subarray(1)).equals(raw.subarray(1))).toBe(true);
  });

  it('encodes and decodes large objects on the worker pool of the compiled store (dist/, built by global setup)', async () => {
    const compiled = new URL('../../dist/store/object-store.js', import.meta.url);
    const { ObjectStore: CompiledStore } = (await import(compiled.href)) as { ObjectStore: typeof ObjectStore };
    const store = new CompiledStore(root);
    const raw = sample(600_000, 10);
    const expected = await new ObjectStore(join(root, 'in-thread')).put(raw, { groupWidth: 2 });
    const owned = [raw.slice(0, 333_333), raw.slice(333_333)];
    const onShared = new Uint8Array(new SharedArrayBuffer(raw.length - 1000));
    onShared.set(raw.subarray(1000));
    const puts = await Promise.all([
      store.put(owned, { groupWidth: 2, transfer: true }),
      store.put([raw.subarray(0, 1000), onShared], { groupWidth: 2, transfer: true }),
      store.put(raw, { groupWidth: 2 }),
    ]);
    for (const put of puts) expect(put.id).toBe(expected.id);
    expect(owned[0]!.length).toBe(0); // moved to the worker
    expect(onShared.length).toBe(raw.length - 1000);
    const [verified, unverified] = await Promise.all([
      store.get(expected.id),
      store.get(expected.id, { verify: false }),
    ]);
    expect(Buffer.from(verified).equals(raw)).toBe(true);
    expect(Buffer.from(unverified).equals(raw)).toBe(true);
    const file = store.pathOf(expected.id);
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(file, bytes);
    // The compiled store throws the compiled StoreError class: compare by name and code.
    const error = await store.get(expected.id).catch((e: unknown) => e as StoreError);
    expect(error).toMatchObject({ name: 'StoreError', code: 'STORE_CORRUPT', file });
    expect((error as StoreError).message).toContain(file);
    const short = await store.get(expected.id, { verify: false, expectedRawLength: 5 }).catch((e: unknown) => e);
    expect(short).toMatchObject({ name: 'StoreError', code: 'STORE_CORRUPT' });
  });

  it('replaces a damaged copy (wrong size) on the next put', async () => {
    const store = new ObjectStore(root);
    const raw = sample(5000, 6);
    const { id } = await store.put(raw, { groupWidth: 2 });
    await writeFile(store.pathOf(id), 'truncated');
    expect((await store.put(raw, { groupWidth: 2 })).written).toBe(true);
    expect([...(await store.get(id))]).toEqual([...raw]);
  });

  it('verifies fetched objects in putStored before writing them', async () => {
    const store = new ObjectStore(root);
    const stored = await encodeObject(sample(4000, 7), 2);
    const id = computeObjectId(stored);
    const wrongId = 'ef'.repeat(32) as ObjectId;
    const error = await storeError(store.putStored(stored, wrongId), 'STORE_CORRUPT');
    expect(error.message).toContain(wrongId);
    await storeError(store.putStored(Uint8Array.of(1, 2, 3)), 'STORE_CORRUPT');
    expect(await collect(store.listObjects())).toEqual([]);
    expect(await store.putStored(stored, id)).toEqual({ id, storedBytes: stored.length, written: true });
    expect([...(await store.get(id))]).toEqual([...sample(4000, 7)]);
  });

  it('putStored with a caller-computed sha256 still compares it with the id and validates the header', async () => {
    const store = new ObjectStore(root);
    const stored = await encodeObject(sample(4000, 9), 2);
    const id = computeObjectId(stored);
    const wrong = 'ab'.repeat(32);
    expect((await storeError(store.putStored(stored, id, { sha256: wrong }), 'STORE_CORRUPT')).message).toContain(
      wrong,
    );
    await expect(store.putStored(stored, undefined, { sha256: id })).rejects.toThrow(RangeError);
    // A digest that matches the id does not make bad bytes acceptable: the header is still validated.
    const junk = Uint8Array.of(1, 2, 3);
    const junkId = computeObjectId(junk);
    await storeError(store.putStored(junk, junkId, { sha256: junkId }), 'STORE_CORRUPT');
    expect(await collect(store.listObjects())).toEqual([]);
    const put = await store.putStored(stored, id, { sha256: id, deferDirectorySync: true });
    expect(put).toEqual({ id, storedBytes: stored.length, written: true });
    await store.syncDirectories();
    expect([...(await store.get(id))]).toEqual([...sample(4000, 9)]);
  });

  it('lists only real objects, and deletes and totals them', async () => {
    const store = new ObjectStore(root);
    const a = await store.put(sample(3000, 8), { groupWidth: 2 });
    const b = await store.put(Uint8Array.of(1), { groupWidth: 1 });
    const dir = join(root, 'objects', a.id.slice(0, 2), a.id.slice(2, 4));
    await writeFile(join(dir, `${a.id}.1234-1-abcd.tmp`), 'x');
    await writeFile(join(dir, 'README'), 'x');
    await writeFile(join(dir, 'f'.repeat(64)), 'misplaced');
    await mkdir(join(root, 'objects', 'zz'), { recursive: true });
    await writeFile(join(root, 'tmp', 'stale.tmp'), 'x');
    const listed = await collect(store.listObjects());
    expect(listed.map((o) => o.id).sort()).toEqual([a.id, b.id].sort());
    expect(await store.totalStoredBytes()).toBe(a.storedBytes + b.storedBytes);

    expect(await store.deleteObject(a.id, { unlessModifiedAfterMs: Date.now() - 60_000 })).toBe(false);
    expect(await store.deleteObject(a.id, { unlessModifiedAfterMs: Date.now() + 1000 })).toBe(true);
    expect(await store.deleteObject(a.id)).toBe(false);
    expect(await store.has(a.id)).toBe(false);
    expect(await store.touchObject(a.id)).toBe(false);
    expect(await store.touchObject(b.id)).toBe(true);

    expect(await store.removeStaleTempFiles(Date.now() - 60_000)).toBe(0);
    expect(await store.removeStaleTempFiles(Date.now() + 1000)).toBe(1);
  });

  it('lists nothing from a store that does not exist yet, and init creates it', async () => {
    const store = new ObjectStore(join(root, 'nested', 'weft'));
    expect(await collect(store.listObjects())).toEqual([]);
    expect(await store.totalStoredBytes()).toBe(0);
    await store.init();
    expect((await readdir(join(root, 'nested', 'weft'))).sort()).toEqual(['objects', 'tmp']);
  });

  it('rejects a malformed id instead of building a path from it', async () => {
    const store = new ObjectStore(root);
    await expect(store.get('../../etc/passwd' as ObjectId)).rejects.toThrow(RangeError);
    expect(() => store.pathOf('AB'.repeat(32) as ObjectId)).toThrow(RangeError);
  });

  it('works when two processes put the same objects at the same time', async () => {
    const moduleDir = await transpileStoreForNode(root);
    const storeRoot = join(root, 'shared-store');
    const script = join(moduleDir, 'put-many.mjs');
    await writeFile(
      script,
      `import { ObjectStore } from './src/store/object-store.js';
const [storeRoot, startAt] = process.argv.slice(2);
const store = new ObjectStore(storeRoot);
const objects = [];
for (let k = 0; k < 12; k++) {
  const raw = new Uint8Array(20000 + k * 4097);
  for (let i = 0; i < raw.length; i++) raw[i] = ((i * 2654435761 + k) >>> 26) + (i & 1 ? 0x3c : 0);
  objects.push(raw);
}
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1));
const results = await Promise.all(objects.map((raw) => store.put(raw, { groupWidth: 2 })));
process.stdout.write(JSON.stringify(results.map((r) => r.id)));
`,
    );
    const startAt = String(Date.now() + 400);
    const [first, second] = await Promise.all([
      runNode(script, [storeRoot, startAt]),
      runNode(script, [storeRoot, startAt]),
    ]);
    const ids = JSON.parse(first) as ObjectId[];
    expect(JSON.parse(second)).toEqual(ids);
    const store = new ObjectStore(storeRoot);
    const listed = await collect(store.listObjects());
    expect(listed.length).toBe(new Set(ids).size);
    for (const id of ids) await store.get(id);
    expect(await readdir(join(storeRoot, 'tmp'))).toEqual([]);
  });
});

/**
 * Compiles errors.ts, build-root.ts and the store's modules to plain ESM JavaScript under `dir`, so that a child `node`
 * process can run the real code (vitest transforms TypeScript only inside its own workers).
 */
async function transpileStoreForNode(dir: string): Promise<string> {
  const ts = (await import('typescript')).default;
  const srcDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const projectDir = resolve(srcDir, '..');
  const outDir = join(dir, 'compiled');
  await mkdir(join(outDir, 'src', 'store'), { recursive: true });
  const sources = [
    'errors.ts',
    'build-root.ts',
    ...(await readdir(join(srcDir, 'store'))).map((name) => `store/${name}`),
  ].filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'));
  for (const name of sources) {
    const source = await readFile(join(srcDir, name), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    await writeFile(join(outDir, 'src', name.replace(/\.ts$/, '.js')), outputText);
  }
  await writeFile(join(outDir, 'package.json'), '{"type":"module"}');
  await symlink(join(projectDir, 'node_modules'), join(outDir, 'node_modules'), 'dir');
  return outDir;
}

function runNode(script: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(stdout);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}
