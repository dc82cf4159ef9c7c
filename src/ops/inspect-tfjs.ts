// `weft inspect` for a TF.js model: the logical weights of a model.json read across its weight shards (a weight may
// span two shards), with optional hashes of their bytes. Streams each weight; never holds a whole shard.

import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FormatError } from '../errors.js';
import { openFileSource } from './file-source.js';
import type { InspectedTensor, InspectResult } from './inspect.js';
import { readTfjsModelJson } from './tfjs-siblings.js';

const HASH_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * The model.json to inspect for `path`: the file itself when it is a TF.js model.json, `model.json` inside a folder,
 * else undefined (not a TF.js model).
 *
 * @example
 * await findTfjsModelJson('models/'); // → 'models/model.json' when it has a weightsManifest
 */
export async function findTfjsModelJson(path: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return undefined;
  const candidate = info.isDirectory() ? join(path, 'model.json') : path;
  if (!candidate.endsWith('.json')) return undefined;
  return (await readTfjsModelJson(candidate)) ? candidate : undefined;
}

/**
 * Inspects a TF.js model.json and its shards: one row per weight with its stored dtype (quantized weights: the
 * quantized dtype, with `storedType` saying so) and declared shape; `hash` adds the SHA-256 of its bytes.
 *
 * @example
 * const result = await inspectTfjsModel({ path: 'models/age.json', hash: true });
 */
export async function inspectTfjsModel(options: {
  path: string;
  hash?: boolean;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}): Promise<InspectResult> {
  const groups = await readTfjsModelJson(options.path);
  if (!groups)
    throw new FormatError('FORMAT_UNKNOWN', `${options.path}: not a TF.js model.json`, { file: options.path });
  const dir = dirname(options.path);
  const result: InspectResult = {
    path: options.path,
    format: 'tfjs',
    metadata: {},
    files: groups.flatMap((g) => g.paths),
    tensors: [],
    totalBytes: 0,
  };
  const toHash: { tensor: InspectedTensor; group: number; offset: number; size: number }[] = [];
  for (const [gi, group] of groups.entries()) {
    for (const w of group.weights) {
      const t: InspectedTensor = { name: w.name, dtype: w.dtype, shape: [...w.shape], sizeBytes: w.sizeBytes };
      if (w.storedType !== undefined) {
        t.storedType = w.storedType;
        t.storedShape = [...w.shape];
      }
      result.tensors.push(t);
      result.totalBytes += w.sizeBytes;
      toHash.push({ tensor: t, group: gi, offset: w.offsetBytes, size: w.sizeBytes });
    }
  }
  if (!options.hash) return result;
  let done = 0;
  for (const [gi, group] of groups.entries()) {
    const sources = [];
    try {
      let start = 0;
      for (const p of group.paths) {
        const source = await openFileSource(join(dir, p));
        sources.push({ source, start });
        start += source.sizeBytes;
      }
      const total = start;
      for (const item of toHash.filter((h) => h.group === gi)) {
        if (item.offset + item.size > total) {
          throw new FormatError(
            'FORMAT_TRUNCATED',
            `${options.path}: weight ${JSON.stringify(item.tensor.name)} ends at byte ${item.offset + item.size} of its shards, which hold ${total} bytes`,
            { file: options.path, tensor: item.tensor.name },
          );
        }
        const hash = createHash('sha256');
        let at = item.offset;
        const end = item.offset + item.size;
        while (at < end) {
          let s = sources[0]!;
          for (const x of sources) if (x.start <= at && x.source.sizeBytes > 0) s = x;
          const n = Math.min(end - at, s.start + s.source.sizeBytes - at, HASH_CHUNK_BYTES);
          hash.update(await s.source.read(at - s.start, n));
          at += n;
          done += n;
          options.onProgress?.(done, result.totalBytes);
        }
        item.tensor.sha256 = hash.digest('hex');
      }
    } finally {
      await Promise.all(sources.map((s) => s.source.close()));
    }
  }
  return result;
}
