// The PyTorch FormatModule: `torch.save` zip files, and the pre-1.6 format (a sequence of pickles, then the
// storages). Interprets the pickles without executing them (unpickle.ts); each storage is an extent and each tensor a
// (possibly strided) view of one (state-dict.ts). Pure: reads only through a ByteSource.

import { FormatError } from '../../errors.js';
import { type Dtype, dtypeSize } from '../../tensor/dtype.js';
import { quoteName } from '../describe-value.js';
import type { ByteSource, Checkpoint, FormatModule, ParseOptions } from '../format-module.js';
import {
  readChecked,
  readFirstEntryName,
  readZipDirectory,
  resolveEntryData,
  ZIP_METHOD_STORED,
  type ZipDirectory,
  type ZipEntry,
} from '../zip/read-zip.js';
import { assembleStateDict, createStorageLoader } from './state-dict.js';
import { MAX_PICKLE_BYTES, type PickleValue, unpickle } from './unpickle.js';

/** `version` and `byteorder` records are a few bytes; larger ones are not what torch writes. */
const MAX_SMALL_RECORD_BYTES = 64;

/** `\x80\x02` then LONG1 of the legacy magic number 0x1950a86a20f9469cfc6c: the pre-1.6 `torch.save` format. */
const LEGACY_MAGIC = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19);
const ZIP_LOCAL_MAGIC = Uint8Array.of(0x50, 0x4b, 0x03, 0x04);
const DATA_PKL = '/data.pkl';

function startsWith(head: Uint8Array, magic: Uint8Array): boolean {
  if (head.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[i] !== magic[i]) return false;
  return true;
}

/**
 * True for a `torch.save` file: a zip whose first entry is `<root>/data.pkl` (when the head shows only part of a
 * long root, a root without `/` is accepted), or the pre-1.6 pickle format (also parsed).
 *
 * @example
 * detectPytorch(head, size); // → true for torch.save(model.state_dict(), 'model.pt')
 */
export function detectPytorch(head: Uint8Array, _sizeBytes: number): boolean {
  if (startsWith(head, LEGACY_MAGIC)) return true;
  if (!startsWith(head, ZIP_LOCAL_MAGIC)) return false;
  const first = readFirstEntryName(head);
  if (!first) return false;
  if (first.truncated) return first.name.length > 0 && !first.name.includes('/') && /^[\x20-\x7e]+$/.test(first.name);
  const slash = first.name.indexOf('/');
  return slash > 0 && first.name.slice(slash) === DATA_PKL;
}

async function readSmallRecord(
  source: ByteSource,
  directory: ZipDirectory,
  entry: ZipEntry | undefined,
  fileName: string,
): Promise<string | undefined> {
  if (!entry) return undefined;
  if (entry.method !== ZIP_METHOD_STORED || entry.compressedSizeBytes > MAX_SMALL_RECORD_BYTES) return undefined;
  const at = await resolveEntryData(source, directory, entry, { fileName });
  const bytes = await readChecked(source, at, entry.compressedSizeBytes, {
    fileName,
    what: `record ${quoteName(entry.name)}`,
  });
  return new TextDecoder('latin1').decode(bytes).trim();
}

/**
 * Parses a `torch.save` zip file: finds `<root>/data.pkl`, interprets it with the allow-listed globals only, and
 * maps each storage to its stored zip entry. Extents are the storages in file order, named after the first tensor
 * (in pickle order) that views them; views are the tensors. Throws FormatError (FORMAT_UNSAFE names a refused
 * global; FORMAT_UNSUPPORTED for the pre-1.6 format or compressed storages).
 *
 * @example
 * const checkpoint = await parsePytorch(bytesSource(bytes), { fileName: 'pytorch_model.bin' });
 */
export async function parsePytorch(source: ByteSource, options: ParseOptions): Promise<Checkpoint> {
  const { fileName } = options;
  const head = await source.read(0, Math.min(LEGACY_MAGIC.length, source.sizeBytes));
  if (startsWith(head, LEGACY_MAGIC)) return parseLegacyPytorch(source, options);
  const directory = await readZipDirectory(source, { fileName });
  const byName = new Map<string, ZipEntry>();
  for (const e of directory.entries) if (!byName.has(e.name)) byName.set(e.name, e);
  const firstName = directory.entries[0]?.name ?? '';
  const root = firstName.includes('/') ? firstName.slice(0, firstName.indexOf('/')) : '';
  const pklName = `${root}${DATA_PKL}`;
  const pklEntry = root === '' ? undefined : byName.get(pklName);
  if (!pklEntry) {
    throw new FormatError(
      'FORMAT_BAD_HEADER',
      `${fileName}: zip has no ${quoteName(root === '' ? 'archive/data.pkl' : pklName)} entry; not a torch.save file`,
      { file: fileName },
    );
  }
  if (pklEntry.method !== ZIP_METHOD_STORED || pklEntry.encrypted) {
    throw new FormatError(
      'FORMAT_UNSUPPORTED',
      `${fileName}: ${quoteName(pklName)} is compressed (method ${pklEntry.method}) or encrypted; torch.save stores it uncompressed`,
      { file: fileName },
    );
  }
  if (pklEntry.compressedSizeBytes > MAX_PICKLE_BYTES) {
    throw new FormatError(
      'FORMAT_LIMIT',
      `${fileName}: ${quoteName(pklName)} has ${pklEntry.compressedSizeBytes} bytes, over the limit of ${MAX_PICKLE_BYTES}`,
      { file: fileName },
    );
  }
  const pklAt = await resolveEntryData(source, directory, pklEntry, { fileName });
  const pkl = await readChecked(source, pklAt, pklEntry.compressedSizeBytes, { fileName, what: quoteName(pklName) });

  const byteOrderText = await readSmallRecord(source, directory, byName.get(`${root}/byteorder`), fileName);
  if (byteOrderText !== undefined && byteOrderText !== 'little' && byteOrderText !== 'big') {
    throw new FormatError(
      'FORMAT_BAD_HEADER',
      `${fileName}: ${quoteName(`${root}/byteorder`)} says ${quoteName(byteOrderText)}; expected "little" or "big"`,
      { file: fileName },
    );
  }
  const byteOrder = byteOrderText === 'big' ? 'big' : 'little';

  const what = quoteName(pklName);
  const { persistentLoad, storages } = createStorageLoader({ fileName, what });
  const { value, endOffset } = unpickle(pkl, 0, { fileName, what, persistentLoad });
  if (endOffset !== pkl.length) {
    throw new FormatError(
      'FORMAT_TRAILING_BYTES',
      `${fileName}: ${quoteName(pklName)} has ${pkl.length - endOffset} bytes after its STOP opcode`,
      { file: fileName },
    );
  }

  const metadata: Record<string, string> = {};
  const version = await readSmallRecord(source, directory, byName.get(`${root}/version`), fileName);
  if (version !== undefined) metadata['pytorch.version'] = version;
  if (byteOrderText !== undefined) metadata['pytorch.byteorder'] = byteOrderText;
  const locate = async (storage: { key: string; dtype: Dtype; numel: number }, extentName: string): Promise<number> => {
    const entryName = `${root}/data/${storage.key}`;
    const entry = byName.get(entryName);
    const context = { file: fileName, tensor: extentName };
    if (!entry) {
      throw new FormatError(
        'FORMAT_BAD_HEADER',
        `${fileName}: storage ${quoteName(storage.key)} of tensor ${quoteName(extentName)} has no zip entry ${quoteName(entryName)}`,
        context,
      );
    }
    if (entry.method !== ZIP_METHOD_STORED || entry.encrypted) {
      throw new FormatError(
        'FORMAT_UNSUPPORTED',
        `${fileName}: storage entry ${quoteName(entryName)} is compressed (method ${entry.method}) or encrypted; torch.save stores storages uncompressed`,
        context,
      );
    }
    const sizeBytes = storage.numel * dtypeSize(storage.dtype);
    if (entry.compressedSizeBytes !== sizeBytes || entry.uncompressedSizeBytes !== sizeBytes) {
      throw new FormatError(
        'FORMAT_BAD_OFFSETS',
        `${fileName}: storage entry ${quoteName(entryName)} has ${entry.compressedSizeBytes} bytes but ${storage.numel} ${storage.dtype} elements need ${sizeBytes}`,
        context,
      );
    }
    return resolveEntryData(source, directory, entry, { fileName });
  };
  return assembleStateDict({ fileName, value, storages, locate, byteOrder, metadata, sizeBytes: source.sizeBytes });
}

/** The pre-1.6 magic number, the first pickle of such a file. */
const LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
/** The first read of each pre-1.6 pickle; it grows eightfold until the pickle fits, up to MAX_PICKLE_BYTES. */
const LEGACY_FIRST_READ_BYTES = 64 * 1024;

/**
 * Parses the pre-1.6 `torch.save` format: pickles of the magic number, the protocol version, sys_info, the state
 * dict and the storage keys, then each storage as an 8-byte element count and its bytes, in key order.
 *
 * @example
 * const checkpoint = await parseLegacyPytorch(bytesSource(bytes), { fileName: 'old.pt' });
 */
export async function parseLegacyPytorch(source: ByteSource, options: ParseOptions): Promise<Checkpoint> {
  const { fileName } = options;
  const size = source.sizeBytes;
  let at = 0;
  const readPickle = async (
    what: string,
    persistentLoad: (pid: PickleValue) => PickleValue = () => {
      throw new FormatError('FORMAT_BAD_HEADER', `${fileName}: ${what} has a persistent id`, { file: fileName });
    },
    onRetry: () => void = () => {},
  ): Promise<PickleValue> => {
    for (let want = LEGACY_FIRST_READ_BYTES; ; want *= 8) {
      const length = Math.min(want, size - at, MAX_PICKLE_BYTES);
      const bytes = await source.read(at, length);
      try {
        const { value, endOffset } = unpickle(bytes, 0, { fileName, what, persistentLoad });
        at += endOffset;
        return value;
      } catch (e) {
        const more = length < size - at && length < MAX_PICKLE_BYTES;
        if (!(e instanceof FormatError && e.code === 'FORMAT_TRUNCATED' && more)) throw e;
        onRetry();
      }
    }
  };
  const bad = (why: string): FormatError =>
    new FormatError('FORMAT_BAD_HEADER', `${fileName}: pre-1.6 torch.save file ${why}`, { file: fileName });

  if ((await readPickle('magic number pickle')) !== LEGACY_MAGIC_NUMBER) throw bad('has a wrong magic number');
  const protocol = await readPickle('protocol version pickle');
  if (protocol !== LEGACY_PROTOCOL_VERSION) {
    throw new FormatError(
      'FORMAT_UNSUPPORTED',
      `${fileName}: pre-1.6 torch.save protocol version ${typeof protocol === 'number' ? protocol : '?'} is not supported (only ${LEGACY_PROTOCOL_VERSION})`,
      { file: fileName },
    );
  }
  const sysInfo = await readPickle('sys_info pickle');
  const littleEndian =
    typeof sysInfo === 'object' && sysInfo !== null && !(sysInfo instanceof Uint8Array) && sysInfo.kind === 'dict'
      ? sysInfo.entries.find(([k]) => k === 'little_endian')?.[1]
      : undefined;
  if (typeof littleEndian !== 'boolean') throw bad('has no sys_info little_endian flag');

  const what = 'state dict pickle';
  let loader = createStorageLoader({ fileName, what, legacy: true });
  const value = await readPickle(
    what,
    (pid) => loader.persistentLoad(pid),
    () => {
      loader = createStorageLoader({ fileName, what, legacy: true });
    },
  );
  const keys = await readPickle('storage keys pickle');
  if (typeof keys !== 'object' || keys === null || keys instanceof Uint8Array || keys.kind !== 'list') {
    throw bad('has storage keys that are not a list');
  }
  const offsets = new Map<string, number>();
  for (const key of keys.items) {
    const storage = typeof key === 'string' ? loader.storages.get(key) : undefined;
    if (!storage || offsets.has(storage.key)) {
      throw bad(
        `lists the storage key ${typeof key === 'string' ? quoteName(key) : '?'} that no tensor uses, or twice`,
      );
    }
    const countBytes = await readChecked(source, at, 8, { fileName, what: `storage ${quoteName(storage.key)}` });
    const count = new DataView(countBytes.buffer, countBytes.byteOffset, 8).getBigInt64(0, littleEndian);
    if (count !== BigInt(storage.numel)) {
      throw new FormatError(
        'FORMAT_BAD_OFFSETS',
        `${fileName}: storage ${quoteName(storage.key)} holds ${count} elements but its tensors say ${storage.numel}`,
        { file: fileName },
      );
    }
    const sizeBytes = storage.numel * dtypeSize(storage.dtype);
    offsets.set(storage.key, at + 8);
    at += 8 + sizeBytes;
    if (at > size) {
      throw new FormatError(
        'FORMAT_TRUNCATED',
        `${fileName}: storage ${quoteName(storage.key)} ends at byte ${at} but the file has ${size} bytes`,
        { file: fileName },
      );
    }
  }
  if (at !== size) {
    throw new FormatError('FORMAT_TRAILING_BYTES', `${fileName}: ${size - at} bytes after the last storage`, {
      file: fileName,
    });
  }
  const locate = async (storage: { key: string }, extentName: string): Promise<number> => {
    const offset = offsets.get(storage.key);
    if (offset === undefined) throw bad(`does not store the storage of tensor ${quoteName(extentName)}`);
    return offset;
  };
  return assembleStateDict({
    fileName,
    value,
    storages: loader.storages,
    locate,
    byteOrder: littleEndian ? 'little' : 'big',
    metadata: { 'pytorch.format': 'legacy (pre-1.6)' },
    sizeBytes: size,
  });
}

/** The PyTorch format: `{name: 'pytorch', detect, parse}`. */
export const pytorchModule: FormatModule = {
  name: 'pytorch',
  detect: detectPytorch,
  parse: parsePytorch,
};
