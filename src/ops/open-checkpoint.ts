// Opens a checkpoint on disk — one file, or a folder of shards — and parses each file with the format module
// its magic bytes select. The caller closes what it opens.

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError, UsageError } from '../errors.js';
import type { Checkpoint, FormatModule } from '../formats/format-module.js';
import { DETECT_HEAD_BYTES, detectFormat } from '../formats/registry.js';
import { parseShardIndex } from '../formats/safetensors/shard-index.js';
import { type FileSource, openFileSource } from './file-source.js';
import { findSiblingFormat } from './sibling-formats.js';

/** Bytes read to detect a format. */
/** A shard index is small JSON; a bigger one is hostile or not an index (CWE-770). */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;

export interface OpenedFile {
  source: FileSource;
  module: FormatModule;
  checkpoint: Checkpoint;
}

/**
 * Reads the first bytes of a source and picks the format module; for a file with no structure of its own, the format
 * a sibling file describes (a TF.js shard listed by a model.json, ONNX external data named by a model); else undefined.
 */
export async function detectSourceFormat(source: FileSource): Promise<FormatModule | undefined> {
  const head = await source.read(0, Math.min(DETECT_HEAD_BYTES, source.sizeBytes));
  return (
    detectFormat(head, source.sizeBytes) ??
    (await findSiblingFormat({ topLevel: dirname(source.path), pathname: basename(source.path) }))
  );
}

/** Opens and parses one checkpoint file. Throws FormatError FORMAT_UNKNOWN when no module recognises it. */
export async function openCheckpointFile(path: string): Promise<OpenedFile> {
  const source = await openFileSource(path);
  try {
    const module = await detectSourceFormat(source);
    if (!module) {
      throw new FormatError('FORMAT_UNKNOWN', `${path}: not a checkpoint format Weft knows`, { file: path });
    }
    const checkpoint = await module.parse(source, { fileName: path });
    return { source, module, checkpoint };
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** The files of a checkpoint at `path`: the file itself, or a folder's shards in index order. */
export async function listCheckpointFiles(path: string): Promise<string[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch {
    throw new UsageError('USAGE_NOT_FOUND', `${path}: no such file or folder`, { file: path });
  }
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).sort();
  const indexName = names.find((n) => n.endsWith('.safetensors.index.json'));
  if (indexName) {
    const indexPath = join(path, indexName);
    const size = (await stat(indexPath)).size;
    if (size > MAX_INDEX_BYTES) {
      throw new FormatError('FORMAT_LIMIT', `${indexPath}: index is ${size} bytes, over the ${MAX_INDEX_BYTES} limit`, {
        file: indexPath,
      });
    }
    const index = parseShardIndex(await readFile(indexPath, 'utf8'), indexPath);
    return index.files.map((f) => join(path, f));
  }
  const shards = names.filter((n) => n.endsWith('.safetensors'));
  if (shards.length === 0) {
    throw new UsageError('USAGE', `${path}: folder holds no *.safetensors files and no shard index`, { file: path });
  }
  return shards.map((n) => join(path, n));
}

/** A short display name for a file inside a checkpoint folder. */
export function displayName(root: string, file: string): string {
  return root === file ? file : basename(file);
}
