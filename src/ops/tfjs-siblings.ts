// Finds the TF.js model.json that lists a weight shard, in the shard's own folder, and plans the shard's place in its
// group's buffer from the sizes of the shards before it. Reads small JSON files and stats; never reads shards.

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { FormatError } from '../errors.js';
import type { TfjsShardPlan } from '../formats/tfjs/tfjs-shard.js';
import { parseWeightsManifest, type TfjsGroup } from '../formats/tfjs/weights-manifest.js';

/** A model.json is small; a bigger JSON file is not one (CWE-770: reading a huge file to check it). */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
/** JSON files looked at per shard when neither `<stem>.json` nor `model.json` lists it (bounds work per file). */
const MAX_JSON_CANDIDATES = 64;
/** The shard names TF.js converters write. */
const SHARD_NAME = /shard\d+of\d+/;

/**
 * Reads and lays out a model.json; undefined when it is not a TF.js model.json, is too big, or (with `mentions`) does
 * not contain that file name as a JSON string.
 */
export async function readTfjsModelJson(path: string, mentions?: string): Promise<TfjsGroup[] | undefined> {
  try {
    const info = await stat(path);
    if (!info.isFile() || info.size > MAX_MODEL_JSON_BYTES) return undefined;
    const text = await readFile(path, 'utf8');
    if (!text.includes('"weightsManifest"')) return undefined;
    if (mentions !== undefined && !text.includes(mentions)) return undefined;
    return parseWeightsManifest(text, { fileName: path });
  } catch (e) {
    if (e instanceof FormatError || (e as NodeJS.ErrnoException).code !== undefined) return undefined;
    throw e;
  }
}

/** The model.json candidates for a shard: `<stem>.json`, `model.json`, then the folder's other JSON files. */
async function candidates(dir: string, shardName: string): Promise<string[]> {
  const stem = basename(shardName, extname(shardName));
  const first = [`${stem}.json`, 'model.json'];
  // Only a file named like a shard (`group1-shard2of3.bin`) is worth a look at every JSON file of the folder.
  if (!SHARD_NAME.test(shardName)) return first.map((n) => join(dir, n));
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json') && !first.includes(n)).sort();
  } catch {
    return [];
  }
  return [...first, ...names.slice(0, MAX_JSON_CANDIDATES)].map((n) => join(dir, n));
}

/**
 * The plan for the shard at `path` (a work-tree file): the model.json beside it whose weightsManifest lists its file
 * name, its group, index and the start of every shard up to it (from the sizes of the earlier shards on disk).
 * Undefined when no model.json lists it or an earlier shard is missing.
 *
 * @example
 * const plan = await findTfjsShardPlan({ path: '/repo/models/group1-shard2of3.bin' });
 */
export async function findTfjsShardPlan(options: { path: string }): Promise<TfjsShardPlan | undefined> {
  const dir = dirname(options.path);
  const name = basename(options.path);
  if (name.endsWith('.json')) return undefined;
  for (const jsonPath of await candidates(dir, name)) {
    const groups = await readTfjsModelJson(jsonPath, name);
    if (!groups) continue;
    for (const [groupIndex, group] of groups.entries()) {
      const shardIndex = group.paths.findIndex((p) => p === name || p === `./${name}`);
      if (shardIndex < 0) continue;
      const shardStarts: number[] = [0];
      for (const p of group.paths.slice(0, shardIndex)) {
        try {
          const info = await stat(join(dir, p));
          shardStarts.push(shardStarts[shardStarts.length - 1]! + info.size);
        } catch {
          return undefined;
        }
      }
      return { modelJson: basename(jsonPath), group, groupIndex, shardIndex, shardStarts };
    }
  }
  return undefined;
}
