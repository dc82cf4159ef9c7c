// Atomic file creation for the store: write a private temp file, optionally fsync it, rename it into place and
// fsync the directory. A final path is never written in place, so readers see the old file or the whole new one.

import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { StoreError } from '../errors.js';

/** Options of {@link writeFileAtomic}. */
export interface WriteAtomicOptions {
  /** Directory for the temp file; must be on the same file system as the final path. Created if missing. */
  tempDir: string;
  /** fsync the file before the rename and the directory after it, so the file survives a crash. */
  durable: boolean;
  /**
   * Instead of fsyncing directories now, hand each one to this callback: the caller fsyncs them once, before it
   * relies on the file (many objects written into few directories then cost a few fsyncs, not hundreds).
   */
  deferDirectorySync?: (dir: string) => void;
}

/** Suffix of every temp file, so that listings and cleanup can tell them apart. */
export const TEMP_SUFFIX = '.tmp';

/** Error codes from fsync on a directory that mean "not supported here" (Windows, some network file systems). */
const DIR_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EINVAL', 'EBADF', 'ENOTSUP', 'EACCES']);
/** A concurrent gc may remove an empty fan-out directory between our mkdir and our rename; retry this often. */
const RENAME_ATTEMPTS = 4;

let tempCounter = 0;

/**
 * Creates or replaces `finalPath` with `data` atomically (temp file + rename), creating missing parent
 * directories. Two processes writing the same path at once both succeed; the last rename wins. Throws the
 * file system's error (with `path`) for the caller to wrap.
 *
 * @example
 * await writeFileAtomic('/repo/.git/weft/objects/ab/cd/abcd…', stored, { tempDir: '/repo/.git/weft/tmp', durable: true });
 */
export async function writeFileAtomic(finalPath: string, data: Uint8Array, options: WriteAtomicOptions): Promise<void> {
  const unique = `${process.pid}-${++tempCounter}-${randomBytes(4).toString('hex')}`;
  const temp = join(options.tempDir, `${basename(finalPath)}.${unique}${TEMP_SUFFIX}`);
  await writeTemp(temp, data, options);
  try {
    await renameIntoPlace(temp, finalPath, options.durable, options.deferDirectorySync);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** fsyncs a directory so that entries created or renamed in it survive a crash; a no-op where unsupported. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!DIR_SYNC_UNSUPPORTED.has(errorCode(error))) throw error;
  } finally {
    await handle?.close();
  }
}

/** A StoreError STORE_IO for a failed file system call on `path`. */
export function storeIoError(action: string, path: string, cause: unknown): StoreError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new StoreError('STORE_IO', `cannot ${action} ${path}: ${reason}`, { file: path, cause });
}

/** The `code` of a Node system error (`ENOENT`, …), or '' for anything else. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

async function writeTemp(temp: string, data: Uint8Array, options: WriteAtomicOptions): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(temp, 'wx', 0o644);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
    await mkdir(options.tempDir, { recursive: true });
    handle = await open(temp, 'wx', 0o644);
  }
  try {
    await handle.writeFile(data);
    if (options.durable) await handle.datasync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
}

async function renameIntoPlace(
  temp: string,
  finalPath: string,
  durable: boolean,
  defer?: (dir: string) => void,
): Promise<void> {
  const dir = dirname(finalPath);
  for (let attempt = 1; ; attempt++) {
    try {
      await rename(temp, finalPath);
      break;
    } catch (error) {
      if (errorCode(error) !== 'ENOENT' || attempt === RENAME_ATTEMPTS) throw error;
      const firstCreated = await mkdir(dir, { recursive: true });
      if (durable && firstCreated !== undefined) await syncCreatedParents(dir, firstCreated, defer);
    }
  }
  if (durable) {
    if (defer) defer(dir);
    else await syncDirectory(dir);
  }
}

/** After `mkdir -p dir` created `firstCreated` and everything below it, fsync each new directory's parent. */
async function syncCreatedParents(dir: string, firstCreated: string, defer?: (dir: string) => void): Promise<void> {
  const stop = resolve(firstCreated);
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (defer) defer(dirname(d));
    else await syncDirectory(dirname(d));
    if (d === stop || dirname(d) === d) return;
  }
}
