// The NumPy `.npz` FormatModule: a zip of `.npy` arrays. Stored entries become tensors named by the entry name
// without `.npy`; deflated ones stay in the frame (exact opaque bytes) and are listed in metadata. Pure: entries are
// only ever byte ranges of the source — nothing is extracted or written, whatever their names say.

import { FormatError } from '../../errors.js';
import { quoteName } from '../describe-value.js';
import type { ByteSource, Checkpoint, FormatModule, ParseOptions, TensorExtent, TensorView } from '../format-module.js';
import {
  readChecked,
  readFirstEntryName,
  readZipDirectory,
  resolveEntryData,
  ZIP_METHOD_STORED,
} from '../zip/read-zip.js';
import { describeNpyArray } from './npy-module.js';
import { NPY_PREFIX_BYTES, parseNpyHeader, resolveNpyHeaderLength } from './parse-npy-header.js';

const NPY_SUFFIX = '.npy';
/** Names of compressed arrays listed in metadata; the rest are counted. */
const MAX_LISTED_COMPRESSED = 64;

/**
 * True when `head` is a zip whose first entry's name (wholly inside `head`) ends with `.npy`.
 *
 * @example
 * detectNpz(head, size); // → true for np.savez('a.npz', w=x)
 */
export function detectNpz(head: Uint8Array, _sizeBytes: number): boolean {
  const first = readFirstEntryName(head);
  return first !== undefined && !first.truncated && first.name.endsWith(NPY_SUFFIX) && first.name.length > 0;
}

/**
 * Parses a `.npz` file: its zip directory, then the `.npy` header of every stored entry. Extents are the stored
 * arrays' data in file order; compressed (deflated) entries and entries that are not `.npy` stay in the frame.
 * Throws FormatError (FORMAT_UNSAFE for an object-dtype array).
 *
 * @example
 * const checkpoint = await parseNpz(bytesSource(bytes), { fileName: 'weights.npz' });
 */
export async function parseNpz(source: ByteSource, options: ParseOptions): Promise<Checkpoint> {
  const { fileName } = options;
  const directory = await readZipDirectory(source, { fileName });
  const arrays: { extent: TensorExtent; view: TensorView }[] = [];
  const compressed: string[] = [];
  const names = new Set<string>();
  for (const entry of directory.entries) {
    if (!entry.name.endsWith(NPY_SUFFIX)) continue;
    // `.npy` alone would leave an empty name, which manifests refuse: keep the entry name then.
    const name = entry.name.length > NPY_SUFFIX.length ? entry.name.slice(0, -NPY_SUFFIX.length) : entry.name;
    if (names.has(name)) {
      throw new FormatError('FORMAT_BAD_HEADER', `${fileName}: the zip holds the array ${quoteName(name)} twice`, {
        file: fileName,
        tensor: name,
      });
    }
    names.add(name);
    if (entry.method !== ZIP_METHOD_STORED || entry.encrypted) {
      compressed.push(name);
      continue;
    }
    const array = `array ${quoteName(name)}`;
    if (entry.uncompressedSizeBytes !== entry.compressedSizeBytes) {
      throw new FormatError(
        'FORMAT_BAD_OFFSETS',
        `${fileName}: stored ${array} declares ${entry.compressedSizeBytes} stored but ${entry.uncompressedSizeBytes} uncompressed bytes`,
        { file: fileName, tensor: name },
      );
    }
    const dataAt = await resolveEntryData(source, directory, entry, { fileName });
    const available = entry.compressedSizeBytes;
    const naming = { fileName, array, available };
    const what = `${array}`;
    const prefix = await readChecked(source, dataAt, Math.min(available, NPY_PREFIX_BYTES + 2), { fileName, what });
    const headerLength = resolveNpyHeaderLength(prefix, naming);
    const header = parseNpyHeader(await readChecked(source, dataAt, headerLength, { fileName, what }), naming);
    if (header.headerBytes + header.dataBytes !== available) {
      throw new FormatError(
        'FORMAT_BAD_OFFSETS',
        `${fileName}: ${array} needs ${header.headerBytes + header.dataBytes} bytes (header and data) but its zip entry has ${available}`,
        { file: fileName, tensor: name },
      );
    }
    arrays.push(describeNpyArray(header, { name, offsetBytes: dataAt + header.headerBytes, extent: 0 }));
  }
  arrays.sort((a, b) => a.extent.offsetBytes - b.extent.offsetBytes);
  let end = 0;
  arrays.forEach((a, i) => {
    if (a.extent.offsetBytes < end) {
      throw new FormatError(
        'FORMAT_BAD_OFFSETS',
        `${fileName}: array ${quoteName(a.extent.name)} at byte ${a.extent.offsetBytes} overlaps the previous array, which ends at byte ${end}`,
        { file: fileName, tensor: a.extent.name },
      );
    }
    end = a.extent.offsetBytes + a.extent.sizeBytes;
    a.view.extent = i;
  });
  const metadata: Record<string, string> = {};
  if (compressed.length > 0) {
    const shown = compressed.slice(0, MAX_LISTED_COMPRESSED).map((n) => JSON.stringify(n));
    if (compressed.length > shown.length) shown.push(`… ${compressed.length - shown.length} more`);
    metadata['npz.compressed'] = shown.join(', ');
  }
  return {
    format: 'npz',
    metadata,
    extents: arrays.map((a) => a.extent),
    tensors: arrays.map((a) => a.view),
    sizeBytes: source.sizeBytes,
  };
}

/** The NumPy `.npz` format: `{name: 'npz', detect, parse}`. */
export const npzModule: FormatModule = {
  name: 'npz',
  detect: detectNpz,
  parse: parseNpz,
};
