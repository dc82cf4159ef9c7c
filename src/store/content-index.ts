// The content index: tensor content id (SHA-256 of its raw bytes) → where its encoding already is, so that a
// tensor is stored once across files, branches and versions. A hint, never the truth: callers check the objects.

import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { access, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode, storeIoError, writeFileAtomic } from './write-atomic.js';

/**
 * Longest location string an entry may hold, in UTF-8 bytes. A location names a handful of object ids
 * (e.g. "dense <oid>,<oid>"); the cap keeps one entry from growing into a second store (CWE-770).
 */
export const MAX_LOCATION_BYTES = 64 * 1024;

/** One entry of the index. */
export interface ContentIndexEntry {
  contentId: string;
  location: string;
}

const CONTENT_ID_PATTERN = /^[0-9a-f]{64}$/;
const HEX2 = /^[0-9a-f]{2}$/;
/** First line of an entry file: magic, version, location byte length, first 16 hex digits of its SHA-256. */
const ENTRY_HEADER = /^weft-index 1 (\d{1,6}) ([0-9a-f]{16})\n/;

/**
 * One small file per entry at `<root>/index/<aa>/<content id>`, written by temp file + rename. This layout was
 * chosen over an append-only log because each entry is then independent: concurrent writers from several
 * processes need no lock and no log replay, gc removes an entry with one unlink, and a torn write (entries
 * are not fsynced) damages only its own entry, which reads as absent because of its length and checksum.
 * Losing an entry in a crash costs one re-encode, never correctness: objects are durable before the entry that
 * names them is written, and callers must still check (and touch) the objects an entry names.
 *
 * @example
 * const index = new ContentIndex('/repo/.git/weft');
 * const hit = await index.lookup(contentId); // 'dense 3fa…,9bc…' or undefined
 * if (hit === undefined) await index.record(contentId, `dense ${ids.join(',')}`);
 */
export class ContentIndex {
  readonly indexDir: string;
  private readonly tempDir: string;

  /** Opens the index of the store rooted at `root` (usually `.git/weft`); nothing is created until a record. */
  constructor(root: string) {
    this.indexDir = join(root, 'index');
    this.tempDir = join(root, 'tmp');
  }

  /**
   * The location recorded for `contentId`, or `undefined` if there is none (or its entry is damaged).
   *
   * @example
   * const location = await index.lookup('9f86d0…');
   */
  async lookup(contentId: string): Promise<string | undefined> {
    const file = this.pathOf(contentId);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return undefined;
      throw storeIoError('read', file, error);
    }
    return parseEntry(bytes);
  }

  /**
   * Whether `contentId` has an entry (not whether it is readable: {@link lookup} says that). Cheaper than a lookup.
   *
   * @example
   * if (!(await index.has(contentId))) await index.record(contentId, location);
   */
  async has(contentId: string): Promise<boolean> {
    const file = this.pathOf(contentId);
    try {
      await access(file);
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return false;
      throw storeIoError('read', file, error);
    }
  }

  /**
   * Records (or replaces) where `contentId`'s encoding is stored. Atomic; when two writers race the last one
   * wins, and both locations are valid. Throws RangeError for a location over {@link MAX_LOCATION_BYTES}.
   *
   * @example
   * await index.record(contentId, `dense ${objectId}`);
   */
  async record(contentId: string, location: string): Promise<void> {
    const file = this.pathOf(contentId);
    const body = Buffer.from(location, 'utf8');
    if (body.length > MAX_LOCATION_BYTES) {
      throw new RangeError(`content index: location of ${body.length} bytes exceeds ${MAX_LOCATION_BYTES}`);
    }
    const header = Buffer.from(`weft-index 1 ${body.length} ${checksum(body)}\n`, 'latin1');
    try {
      await writeFileAtomic(file, Buffer.concat([header, body]), { tempDir: this.tempDir, durable: false });
    } catch (error) {
      throw storeIoError('write', file, error);
    }
  }

  /** Removes the entry for `contentId` (for gc); returns whether there was one. */
  async remove(contentId: string): Promise<boolean> {
    const file = this.pathOf(contentId);
    try {
      await unlink(file);
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return false;
      throw storeIoError('delete', file, error);
    }
  }

  /**
   * Every readable entry, in no particular order; damaged entries and stray files are skipped.
   *
   * @example
   * for await (const { contentId, location } of index.entries()) console.log(contentId, location);
   */
  async *entries(): AsyncGenerator<ContentIndexEntry> {
    for (const aa of await listDir(this.indexDir)) {
      if (!HEX2.test(aa)) continue;
      for (const name of await listDir(join(this.indexDir, aa))) {
        if (!CONTENT_ID_PATTERN.test(name) || !name.startsWith(aa)) continue;
        const location = await this.lookup(name);
        if (location !== undefined) yield { contentId: name, location };
      }
    }
  }

  private pathOf(contentId: string): string {
    if (!CONTENT_ID_PATTERN.test(contentId)) {
      throw new RangeError(`content index: not a content id (64 lowercase hex digits): "${contentId}"`);
    }
    return join(this.indexDir, contentId.slice(0, 2), contentId);
  }
}

function parseEntry(bytes: Buffer): string | undefined {
  const headerEnd = bytes.indexOf(0x0a);
  if (headerEnd < 0 || headerEnd > 64) return undefined;
  const match = ENTRY_HEADER.exec(bytes.toString('latin1', 0, headerEnd + 1));
  if (match === null) return undefined;
  const body = bytes.subarray(headerEnd + 1);
  if (body.length !== Number(match[1]) || checksum(body) !== match[2]) return undefined;
  return body.toString('utf8');
}

function checksum(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
    throw storeIoError('list', dir, error);
  }
}
