// A ByteSource over a file on disk, reading byte ranges on demand through one file handle. Never reads the
// whole file unless asked; ranges outside the file are errors, not short reads.

import { type FileHandle, open } from 'node:fs/promises';
import { StoreError, UsageError } from '../errors.js';
import type { ByteSource } from '../formats/format-module.js';

export interface FileSource extends ByteSource {
  readonly path: string;
  /** Reads into `target` (whole length) from `offsetBytes`. */
  readInto(target: Uint8Array, offsetBytes: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens `path` for random-access reads. Throws UsageError USAGE_NOT_FOUND when it does not exist. */
export async function openFileSource(path: string): Promise<FileSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError('USAGE_NOT_FOUND', `${path}: no such file`, { file: path });
    if (code === 'EISDIR') throw new UsageError('USAGE', `${path}: is a directory`, { file: path });
    throw new StoreError('STORE_IO', `${path}: cannot open (${code ?? String(e)})`, { file: path, cause: e });
  }
  const sizeBytes = (await handle.stat()).size;
  const readInto = async (target: Uint8Array, offsetBytes: number): Promise<void> => {
    if (offsetBytes < 0 || offsetBytes + target.length > sizeBytes) {
      throw new RangeError(`${path}: read of ${target.length} bytes at ${offsetBytes} is outside ${sizeBytes} bytes`);
    }
    let done = 0;
    while (done < target.length) {
      const { bytesRead } = await handle.read(target, done, target.length - done, offsetBytes + done);
      if (bytesRead === 0) throw new StoreError('STORE_IO', `${path}: file shrank while being read`, { file: path });
      done += bytesRead;
    }
  };
  return {
    path,
    sizeBytes,
    readInto,
    async read(offsetBytes, lengthBytes) {
      const target = new Uint8Array(lengthBytes);
      await readInto(target, offsetBytes);
      return target;
    },
    close: () => handle.close(),
  };
}

/** Chunk size for streaming reads: large enough to amortise syscalls, small enough to bound memory. */
export const STREAM_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Streams a byte range in chunks, reading the next chunk while the caller works on the current one. Chunks are
 * fresh buffers (safe to keep). At most two chunks are in memory at once.
 */
export async function* streamRange(
  source: FileSource,
  offsetBytes: number,
  lengthBytes: number,
  chunkBytes = STREAM_CHUNK_BYTES,
): AsyncGenerator<Uint8Array> {
  const end = offsetBytes + lengthBytes;
  const readAt = async (at: number): Promise<Uint8Array> => {
    const buf = new Uint8Array(Math.min(chunkBytes, end - at));
    await source.readInto(buf, at);
    return buf;
  };
  let at = offsetBytes;
  let next = at < end ? readAt(at) : undefined;
  while (next) {
    const current = await next;
    at += current.length;
    next = at < end ? readAt(at) : undefined;
    yield current;
  }
}
