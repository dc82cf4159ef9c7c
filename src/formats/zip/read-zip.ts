// A read-only ZIP directory reader over a ByteSource: end of central directory (ZIP64 too), central entries and
// local headers, reported as byte ranges. Pure and hostile-input safe: never decompresses, never writes anything.

import { FormatError } from '../../errors.js';
import { quoteName } from '../describe-value.js';
import type { ByteSource } from '../format-module.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

const EOCD_BYTES = 22;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EOCD_BYTES = 56;
const CENTRAL_HEADER_BYTES = 46;
/** Fixed part of a local file header, before its name and extra field. */
export const LOCAL_HEADER_BYTES = 30;
/** The EOCD comment is at most 65535 bytes, so the record starts in the last 65535 + 22 bytes. */
const MAX_EOCD_SEARCH_BYTES = 0xffff + EOCD_BYTES;
const ZIP64_EXTRA_ID = 0x0001;

/** Entry count limit, checked before any entry is allocated (a lying count must not reserve memory: CWE-770). */
export const MAX_ZIP_ENTRIES = 1 << 20;
/** Entry name limit in bytes (names are only ever displayed and compared, never used as paths). */
export const MAX_ZIP_NAME_BYTES = 4096;
/** The central directory is read into memory whole; a bigger one is hostile (CWE-770). */
export const MAX_CENTRAL_DIRECTORY_BYTES = 256 * 1024 * 1024;

/** Compression methods: the data of a stored entry is the file's bytes themselves. */
export const ZIP_METHOD_STORED = 0;
export const ZIP_METHOD_DEFLATE = 8;

/** One entry of the central directory. Offsets are absolute in the source. */
export interface ZipEntry {
  /** The name decoded as UTF-8 (replacement characters for bad bytes); never used as a path. */
  name: string;
  /** 0 stored, 8 deflate, anything else as written. */
  method: number;
  flags: number;
  crc32: number;
  compressedSizeBytes: number;
  uncompressedSizeBytes: number;
  localHeaderOffsetBytes: number;
  /** Encrypted entries (flag bit 0) cannot be read as tensors. */
  encrypted: boolean;
}

/** The directory of a ZIP file. */
export interface ZipDirectory {
  entries: ZipEntry[];
  /** Where the central directory starts: every entry's data must end at or before it. */
  centralDirectoryOffsetBytes: number;
}

export interface ReadZipOptions {
  /** Shown in error messages. */
  fileName: string;
}

function u16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** A u64 as a number; values above 2^53 - 1 are returned as Infinity so every range check rejects them. */
function u64(b: Uint8Array, at: number): number {
  const value = u32(b, at) + u32(b, at + 4) * 2 ** 32;
  return Number.isSafeInteger(value) ? value : Number.POSITIVE_INFINITY;
}

const UTF8 = new TextDecoder('utf-8');

/**
 * Reads `lengthBytes` at `offsetBytes`, or throws FORMAT_TRUNCATED naming `what` when the range passes the end.
 *
 * @example
 * const header = await readChecked(source, 0, 30, { fileName: 'a.npz', what: 'local header of "a.npy"' });
 */
export async function readChecked(
  source: ByteSource,
  offsetBytes: number,
  lengthBytes: number,
  options: { fileName: string; what: string },
): Promise<Uint8Array> {
  if (!(offsetBytes >= 0 && lengthBytes >= 0 && offsetBytes + lengthBytes <= source.sizeBytes)) {
    throw new FormatError(
      'FORMAT_TRUNCATED',
      `${options.fileName}: ${options.what} ends at byte ${offsetBytes + lengthBytes} but the file has ${source.sizeBytes} bytes`,
      { file: options.fileName },
    );
  }
  return source.read(offsetBytes, lengthBytes);
}

/** The absolute position of the EOCD record whose comment ends exactly at the end of the file. */
function findEndOfCentralDirectory(tail: Uint8Array, tailStart: number, fileName: string, size: number): number {
  let mismatched = -1;
  for (let i = tail.length - EOCD_BYTES; i >= 0; i--) {
    if (u32(tail, i) !== SIG_EOCD) continue;
    if (i + EOCD_BYTES + u16(tail, i + 20) === tail.length) return tailStart + i;
    if (mismatched < 0) mismatched = tailStart + i;
  }
  if (mismatched >= 0) {
    throw new FormatError(
      'FORMAT_TRAILING_BYTES',
      `${fileName}: the zip end-of-central-directory record at byte ${mismatched} does not end at the end of the file (${size} bytes)`,
      { file: fileName },
    );
  }
  throw new FormatError(
    'FORMAT_BAD_HEADER',
    `${fileName}: no zip end-of-central-directory record in the last ${Math.min(size, MAX_EOCD_SEARCH_BYTES)} bytes`,
    { file: fileName },
  );
}

/** Applies an entry's ZIP64 extra field to the 32-bit fields that are saturated (0xFFFFFFFF). */
function applyZip64Extra(
  extra: Uint8Array,
  entry: { compressedSizeBytes: number; uncompressedSizeBytes: number; localHeaderOffsetBytes: number },
  fileName: string,
  name: string,
): void {
  const needUncompressed = entry.uncompressedSizeBytes === 0xffffffff;
  const needCompressed = entry.compressedSizeBytes === 0xffffffff;
  const needOffset = entry.localHeaderOffsetBytes === 0xffffffff;
  if (!needUncompressed && !needCompressed && !needOffset) return;
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = u16(extra, at);
    const length = u16(extra, at + 2);
    const body = at + 4;
    if (body + length > extra.length) break;
    if (id === ZIP64_EXTRA_ID) {
      let p = body;
      const take = (): number => {
        if (p + 8 > body + length) {
          throw new FormatError(
            'FORMAT_BAD_HEADER',
            `${fileName}: zip entry ${quoteName(name)} has a ZIP64 extra field of ${length} bytes, too short for its saturated sizes`,
            { file: fileName },
          );
        }
        const v = u64(extra, p);
        p += 8;
        return v;
      };
      if (needUncompressed) entry.uncompressedSizeBytes = take();
      if (needCompressed) entry.compressedSizeBytes = take();
      if (needOffset) entry.localHeaderOffsetBytes = take();
      return;
    }
    at = body + length;
  }
  throw new FormatError(
    'FORMAT_BAD_HEADER',
    `${fileName}: zip entry ${quoteName(name)} has a saturated size or offset but no ZIP64 extra field`,
    { file: fileName },
  );
}

/**
 * Reads the central directory of a ZIP file: finds the end-of-central-directory record in the last 64 KiB + 22
 * bytes, follows the ZIP64 locator when a field is saturated, checks the entry count, name lengths and the
 * directory's size against limits before allocating, and lists the entries. Throws FormatError.
 *
 * @example
 * const { entries } = await readZipDirectory(source, { fileName: 'model.pt' });
 */
export async function readZipDirectory(source: ByteSource, options: ReadZipOptions): Promise<ZipDirectory> {
  const { fileName } = options;
  const size = source.sizeBytes;
  if (size < EOCD_BYTES) {
    throw new FormatError(
      'FORMAT_TRUNCATED',
      `${fileName}: file has ${size} bytes, fewer than the ${EOCD_BYTES}-byte zip end-of-central-directory record`,
      { file: fileName },
    );
  }
  const tailLength = Math.min(size, MAX_EOCD_SEARCH_BYTES);
  const tailStart = size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const eocdAt = findEndOfCentralDirectory(tail, tailStart, fileName, size);
  const eocd = tail.subarray(eocdAt - tailStart, eocdAt - tailStart + EOCD_BYTES);
  let disk = u16(eocd, 4);
  let cdDisk = u16(eocd, 6);
  let entriesOnDisk = u16(eocd, 8);
  let entryCount = u16(eocd, 10);
  let cdSize = u32(eocd, 12);
  let cdOffset = u32(eocd, 16);
  let cdLimit = eocdAt;
  const saturated =
    disk === 0xffff ||
    cdDisk === 0xffff ||
    entriesOnDisk === 0xffff ||
    entryCount === 0xffff ||
    cdSize === 0xffffffff ||
    cdOffset === 0xffffffff;
  const locatorAt = eocdAt - ZIP64_LOCATOR_BYTES;
  if (locatorAt >= 0 && (saturated || u32(tail, locatorAt - tailStart) === SIG_ZIP64_LOCATOR)) {
    const locator =
      locatorAt >= tailStart
        ? tail.subarray(locatorAt - tailStart, eocdAt - tailStart)
        : await source.read(locatorAt, ZIP64_LOCATOR_BYTES);
    if (u32(locator, 0) === SIG_ZIP64_LOCATOR) {
      const zip64At = u64(locator, 8);
      if (!(zip64At + ZIP64_EOCD_BYTES <= locatorAt)) {
        throw new FormatError(
          'FORMAT_BAD_OFFSETS',
          `${fileName}: ZIP64 end-of-central-directory offset ${zip64At} is not before its locator at byte ${locatorAt}`,
          { file: fileName },
        );
      }
      const z = await source.read(zip64At, ZIP64_EOCD_BYTES);
      if (u32(z, 0) !== SIG_ZIP64_EOCD) {
        throw new FormatError(
          'FORMAT_BAD_HEADER',
          `${fileName}: no ZIP64 end-of-central-directory record at byte ${zip64At}`,
          { file: fileName },
        );
      }
      disk = u32(z, 16);
      cdDisk = u32(z, 20);
      entriesOnDisk = u64(z, 24);
      entryCount = u64(z, 32);
      cdSize = u64(z, 40);
      cdOffset = u64(z, 48);
      cdLimit = zip64At;
    } else if (saturated) {
      throw new FormatError(
        'FORMAT_BAD_HEADER',
        `${fileName}: the zip end-of-central-directory record has saturated fields but no ZIP64 locator`,
        { file: fileName },
      );
    }
  }
  if (disk !== 0 || cdDisk !== 0 || entriesOnDisk !== entryCount) {
    throw new FormatError('FORMAT_UNSUPPORTED', `${fileName}: multi-disk (split) zip archives are not supported`, {
      file: fileName,
    });
  }
  if (entryCount > MAX_ZIP_ENTRIES) {
    throw new FormatError(
      'FORMAT_LIMIT',
      `${fileName}: zip declares ${entryCount} entries, over the limit of ${MAX_ZIP_ENTRIES}`,
      { file: fileName },
    );
  }
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) {
    throw new FormatError(
      'FORMAT_LIMIT',
      `${fileName}: zip central directory of ${cdSize} bytes exceeds the limit of ${MAX_CENTRAL_DIRECTORY_BYTES} bytes`,
      { file: fileName },
    );
  }
  if (!(cdOffset + cdSize <= cdLimit)) {
    throw new FormatError(
      'FORMAT_BAD_OFFSETS',
      `${fileName}: zip central directory at byte ${cdOffset} of ${cdSize} bytes runs past its end record at byte ${cdLimit}`,
      { file: fileName },
    );
  }
  if (entryCount * CENTRAL_HEADER_BYTES > cdSize) {
    throw new FormatError(
      'FORMAT_BAD_HEADER',
      `${fileName}: zip declares ${entryCount} entries but its central directory has only ${cdSize} bytes`,
      { file: fileName },
    );
  }
  const cd = await source.read(cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < entryCount; i++) {
    if (at + CENTRAL_HEADER_BYTES > cd.length || u32(cd, at) !== SIG_CENTRAL) {
      throw new FormatError(
        'FORMAT_BAD_HEADER',
        `${fileName}: zip central directory entry ${i} at byte ${cdOffset + at} is missing or has a bad signature`,
        { file: fileName },
      );
    }
    const nameLength = u16(cd, at + 28);
    const extraLength = u16(cd, at + 30);
    const commentLength = u16(cd, at + 32);
    if (nameLength > MAX_ZIP_NAME_BYTES) {
      throw new FormatError(
        'FORMAT_LIMIT',
        `${fileName}: zip entry ${i} has a name of ${nameLength} bytes, over the limit of ${MAX_ZIP_NAME_BYTES}`,
        { file: fileName },
      );
    }
    const end = at + CENTRAL_HEADER_BYTES + nameLength + extraLength + commentLength;
    if (end > cd.length) {
      throw new FormatError(
        'FORMAT_TRUNCATED',
        `${fileName}: zip central directory entry ${i} ends at byte ${cdOffset + end}, past its directory's end at byte ${cdOffset + cdSize}`,
        { file: fileName },
      );
    }
    const nameStart = at + CENTRAL_HEADER_BYTES;
    const name = UTF8.decode(cd.subarray(nameStart, nameStart + nameLength));
    const flags = u16(cd, at + 8);
    const entry: ZipEntry = {
      name,
      method: u16(cd, at + 10),
      flags,
      crc32: u32(cd, at + 16),
      compressedSizeBytes: u32(cd, at + 20),
      uncompressedSizeBytes: u32(cd, at + 24),
      localHeaderOffsetBytes: u32(cd, at + 42),
      encrypted: (flags & 1) !== 0,
    };
    applyZip64Extra(cd.subarray(nameStart + nameLength, nameStart + nameLength + extraLength), entry, fileName, name);
    if (!(entry.localHeaderOffsetBytes + LOCAL_HEADER_BYTES <= cdOffset)) {
      throw new FormatError(
        'FORMAT_BAD_OFFSETS',
        `${fileName}: zip entry ${quoteName(name)} has its local header at byte ${entry.localHeaderOffsetBytes}, not before the central directory at byte ${cdOffset}`,
        { file: fileName },
      );
    }
    entries.push(entry);
    at = end;
  }
  return { entries, centralDirectoryOffsetBytes: cdOffset };
}

/**
 * The byte offset where an entry's (possibly compressed) data starts, from its local header, after checking that
 * the header's signature and name match the central directory and that the data ends before the central directory.
 *
 * @example
 * const dataAt = await resolveEntryData(source, directory, entry, { fileName: 'a.npz' });
 */
export async function resolveEntryData(
  source: ByteSource,
  directory: ZipDirectory,
  entry: ZipEntry,
  options: ReadZipOptions,
): Promise<number> {
  const { fileName } = options;
  const what = `local header of zip entry ${quoteName(entry.name)}`;
  const header = await readChecked(source, entry.localHeaderOffsetBytes, LOCAL_HEADER_BYTES, { fileName, what });
  if (u32(header, 0) !== SIG_LOCAL) {
    throw new FormatError(
      'FORMAT_BAD_HEADER',
      `${fileName}: zip entry ${quoteName(entry.name)} has no local header signature at byte ${entry.localHeaderOffsetBytes}`,
      { file: fileName },
    );
  }
  const nameLength = u16(header, 26);
  const extraLength = u16(header, 28);
  const nameAt = entry.localHeaderOffsetBytes + LOCAL_HEADER_BYTES;
  const localName = await readChecked(source, nameAt, nameLength, { fileName, what });
  if (UTF8.decode(localName) !== entry.name) {
    throw new FormatError(
      'FORMAT_BAD_HEADER',
      `${fileName}: zip entry ${quoteName(entry.name)} is named ${quoteName(UTF8.decode(localName))} in its local header`,
      { file: fileName },
    );
  }
  const dataAt = nameAt + nameLength + extraLength;
  const dataEnd = dataAt + entry.compressedSizeBytes;
  if (!(dataEnd <= directory.centralDirectoryOffsetBytes)) {
    throw new FormatError(
      'FORMAT_BAD_OFFSETS',
      `${fileName}: zip entry ${quoteName(entry.name)} data ends at byte ${dataEnd}, past the central directory at byte ${directory.centralDirectoryOffsetBytes}`,
      { file: fileName },
    );
  }
  return dataAt;
}

/**
 * The first local header's entry name, if `head` starts with one and holds the whole name; `truncated` when
 * the name runs past `head`. For detection only: nothing here is trusted.
 *
 * @example
 * readFirstEntryName(head); // → { name: 'archive/data.pkl', truncated: false }
 */
export function readFirstEntryName(head: Uint8Array): { name: string; truncated: boolean } | undefined {
  if (head.length < LOCAL_HEADER_BYTES || u32(head, 0) !== SIG_LOCAL) return undefined;
  const nameLength = u16(head, 26);
  if (nameLength === 0) return undefined;
  const end = LOCAL_HEADER_BYTES + nameLength;
  const visible = head.subarray(LOCAL_HEADER_BYTES, Math.min(end, head.length));
  return { name: new TextDecoder('latin1').decode(visible), truncated: end > head.length };
}
