// Turns an unpickled torch state dict into a Checkpoint: names tensors by their key path, makes one extent per
// storage (named after its first tensor) and one view per tensor, checked to stay inside its storage. Shared by the
// zip and the pre-1.6 formats. Pure: the caller says where each storage's bytes are.

import { FormatError } from '../../errors.js';
import { dtypeSize } from '../../tensor/dtype.js';
import { byteSizeOf, numelOf } from '../../tensor/shape.js';
import { quoteName } from '../describe-value.js';
import type { Checkpoint, TensorExtent, TensorView } from '../format-module.js';
import { type PickleStorage, type PickleTensor, type PickleValue, STORAGE_DTYPES } from './unpickle.js';

/** How deep containers may nest in a state dict before the walk stops (hostile self-nesting, CWE-674). */
export const MAX_NESTING_DEPTH = 64;
/** Values visited while naming tensors; shared sub-trees are walked again, so a DAG could blow up (CWE-400). */
export const MAX_WALKED_VALUES = 1 << 22;
/** Longest tensor name (a key path); manifests and messages carry names (CWE-770). */
export const MAX_TENSOR_NAME_CHARS = 4096;
/** The name of a tensor saved on its own (`torch.save(t)`), whose key path is empty. */
export const ROOT_TENSOR_NAME = 'tensor';
/** Non-tensor values copied to `metadata`, and the longest one kept whole; the rest stay in the frame only. */
const MAX_METADATA_ENTRIES = 64;
const MAX_METADATA_VALUE_CHARS = 256;

interface NamedTensor {
  name: string;
  tensor: PickleTensor;
}

function renderKey(key: PickleValue): string | undefined {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint') return String(key);
  return undefined;
}

/** Python-like text for a scalar or a short tuple/list of scalars; undefined for anything else. */
function renderScalar(value: PickleValue, depth = 0): string | undefined {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') {
    return value.length > MAX_METADATA_VALUE_CHARS ? `${value.slice(0, MAX_METADATA_VALUE_CHARS)}…` : value;
  }
  if (value instanceof Uint8Array || depth > 0) return undefined;
  if (value.kind !== 'tuple' && value.kind !== 'list') return undefined;
  if (value.items.length > 16) return undefined;
  const parts: string[] = [];
  for (const item of value.items) {
    const t = renderScalar(item, depth + 1);
    if (t === undefined) return undefined;
    parts.push(typeof item === 'string' ? JSON.stringify(item) : t);
  }
  if (value.kind === 'list') return `[${parts.join(', ')}]`;
  return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
}

/** Walks the unpickled value depth-first, naming tensors by their key path (`model.layer.weight`). */
function collectTensors(root: PickleValue, fileName: string): { tensors: NamedTensor[]; scalars: [string, string][] } {
  const tensors: NamedTensor[] = [];
  const scalars: [string, string][] = [];
  let visited = 0;
  const walk = (value: PickleValue, path: string[], depth: number): void => {
    const primitive = typeof value !== 'object' || value === null || value instanceof Uint8Array;
    // Plain values past the metadata quota need no path: skip them cheaply (a vocabulary list may hold millions).
    if (primitive && scalars.length >= MAX_METADATA_ENTRIES) return;
    if (++visited > MAX_WALKED_VALUES) {
      throw new FormatError('FORMAT_LIMIT', `${fileName}: state dict has more than ${MAX_WALKED_VALUES} values`, {
        file: fileName,
      });
    }
    if (depth > MAX_NESTING_DEPTH) {
      throw new FormatError(
        'FORMAT_LIMIT',
        `${fileName}: state dict nests deeper than ${MAX_NESTING_DEPTH} at ${quoteName(path.slice(0, 8).join('.'))}`,
        { file: fileName },
      );
    }
    if (primitive) {
      if (path.length > 0) {
        const text = renderScalar(value);
        if (text !== undefined) scalars.push([path.join('.'), text]);
      }
      return;
    }
    switch (value.kind) {
      case 'tensor':
        tensors.push({ name: path.join('.'), tensor: value });
        return;
      case 'dict':
        for (const [key, v] of value.entries) {
          const k = renderKey(key);
          const plain = typeof v !== 'object' || v === null || v instanceof Uint8Array;
          if (k !== undefined && (!plain || scalars.length < MAX_METADATA_ENTRIES)) walk(v, [...path, k], depth + 1);
        }
        return;
      case 'list':
      case 'tuple':
      case 'set': {
        const text = renderScalar(value);
        if (text !== undefined && path.length > 0 && scalars.length < MAX_METADATA_ENTRIES) {
          scalars.push([path.join('.'), text]);
          return;
        }
        value.items.forEach((v, i) => {
          const plain = typeof v !== 'object' || v === null || v instanceof Uint8Array;
          if (!plain || scalars.length < MAX_METADATA_ENTRIES) walk(v, [...path, String(i)], depth + 1);
        });
        return;
      }
      default:
        return;
    }
  };
  walk(root, [], 0);
  return { tensors, scalars };
}

/** Checks that a strided view of `numel` storage elements stays inside the storage (exact, BigInt). */
function checkViewInStorage(t: PickleTensor, name: string, numel: number, fileName: string): void {
  const context = { file: fileName, tensor: name };
  const count = numelOf(t.shape, context);
  const where = `${fileName}: tensor ${quoteName(name)} with shape [${t.shape.slice(0, 8).join(',')}], strides [${t.strides.slice(0, 8).join(',')}] and offset ${t.offsetElements}`;
  if (t.strides.length !== t.shape.length) {
    throw new FormatError(
      'FORMAT_BAD_OFFSETS',
      `${where} has ${t.strides.length} strides for ${t.shape.length} dimensions`,
      context,
    );
  }
  if (t.offsetElements < 0 || t.strides.some((s) => s < 0)) {
    throw new FormatError('FORMAT_BAD_OFFSETS', `${where} has a negative offset or stride`, context);
  }
  if (count === 0) return;
  let last = BigInt(t.offsetElements);
  for (let k = 0; k < t.shape.length; k++) last += BigInt(t.shape[k]! - 1) * BigInt(t.strides[k]!);
  if (last >= BigInt(numel)) {
    throw new FormatError(
      'FORMAT_BAD_OFFSETS',
      `${where} reaches element ${last} but its storage has ${numel} elements`,
      context,
    );
  }
}

/**
 * A persistent_load for torch pickles and the storages it has seen, by key. Accepts `('storage', torch.<T>Storage,
 * key, location, numel)` and, with `legacy`, the pre-1.6 6-tuple whose last item (a storage view) must be None.
 *
 * @example
 * const { persistentLoad, storages } = createStorageLoader({ fileName, what: '"archive/data.pkl"' });
 */
export function createStorageLoader(options: { fileName: string; what: string; legacy?: boolean }): {
  persistentLoad: (pid: PickleValue) => PickleValue;
  storages: Map<string, PickleStorage>;
} {
  const { fileName, what } = options;
  const arity = options.legacy ? 6 : 5;
  const storages = new Map<string, PickleStorage>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    const items =
      typeof pid === 'object' && pid !== null && !(pid instanceof Uint8Array) && pid.kind === 'tuple' ? pid.items : [];
    const [tag, type, key, location, numel, view] = items;
    const dtype =
      typeof type === 'object' && type !== null && !(type instanceof Uint8Array) && type.kind === 'global'
        ? STORAGE_DTYPES[type.name]
        : undefined;
    if (
      items.length !== arity ||
      tag !== 'storage' ||
      dtype === undefined ||
      typeof key !== 'string' ||
      typeof location !== 'string' ||
      typeof numel !== 'number' ||
      !Number.isSafeInteger(numel) ||
      numel < 0
    ) {
      throw new FormatError(
        'FORMAT_BAD_HEADER',
        `${fileName}: ${what} has a persistent id that is not ('storage', torch.<Type>Storage, key, location, numel${options.legacy ? ', view' : ''})`,
        { file: fileName },
      );
    }
    if (options.legacy && view !== null) {
      throw new FormatError(
        'FORMAT_UNSUPPORTED',
        `${fileName}: ${what} has a storage view (a pre-1.0 torch feature); it is not supported`,
        { file: fileName },
      );
    }
    if (key.length > MAX_TENSOR_NAME_CHARS) {
      throw new FormatError(
        'FORMAT_LIMIT',
        `${fileName}: ${what} has a storage key of ${key.length} characters, over the limit of ${MAX_TENSOR_NAME_CHARS}`,
        { file: fileName },
      );
    }
    const known = storages.get(key);
    if (known) {
      if (known.dtype !== dtype || known.numel !== numel) {
        throw new FormatError(
          'FORMAT_UNSUPPORTED',
          `${fileName}: storage ${quoteName(key)} is used as ${known.dtype}[${known.numel}] and as ${dtype}[${numel}]; views of one storage with different dtypes are not supported`,
          { file: fileName },
        );
      }
      return known;
    }
    const storage: PickleStorage = { kind: 'storage', dtype, key, location, numel };
    storages.set(key, storage);
    return storage;
  };
  return { persistentLoad, storages };
}

export interface AssembleOptions {
  fileName: string;
  /** The unpickled state dict (or lone tensor). */
  value: PickleValue;
  storages: ReadonlyMap<string, PickleStorage>;
  /** Where a storage's bytes start; throws FormatError when it has none. Sizes are checked by the caller too. */
  locate: (storage: PickleStorage, extentName: string) => Promise<number>;
  byteOrder: 'little' | 'big';
  /** Format-level metadata; the state dict's scalars are added after it (never overriding it). */
  metadata: Record<string, string>;
  sizeBytes: number;
}

/**
 * The Checkpoint of an unpickled state dict: extents are the storages in file order, named after the first tensor
 * (in pickle order) that views them (stable across saves, so versions pair by name); views are the tensors.
 *
 * @example
 * const checkpoint = await assembleStateDict({ fileName, value, storages, locate, byteOrder, metadata, sizeBytes });
 */
export async function assembleStateDict(options: AssembleOptions): Promise<Checkpoint> {
  const { fileName, value, storages, byteOrder, metadata } = options;
  const { tensors, scalars } = collectTensors(value, fileName);
  const usedNames = new Set<string>();
  const named = tensors.map(({ name: path, tensor }) => {
    // A tensor saved alone (or under the key "") has an empty path; manifests need a non-empty name.
    const name = path === '' ? ROOT_TENSOR_NAME : path;
    if (name.length > MAX_TENSOR_NAME_CHARS) {
      throw new FormatError(
        'FORMAT_LIMIT',
        `${fileName}: tensor ${quoteName(name)} has a name of ${name.length} characters, over the limit of ${MAX_TENSOR_NAME_CHARS}`,
        { file: fileName },
      );
    }
    let unique = name;
    for (let n = 1; usedNames.has(unique); n++) unique = `${name}#${n}`;
    usedNames.add(unique);
    return { name: unique, tensor };
  });

  const firstViewer = new Map<string, { name: string; serial: number }>();
  for (const { name, tensor } of named) {
    const known = firstViewer.get(tensor.storage.key);
    if (!known || tensor.serial < known.serial) firstViewer.set(tensor.storage.key, { name, serial: tensor.serial });
  }
  const located: { storage: PickleStorage; extent: TensorExtent }[] = [];
  for (const storage of storages.values()) {
    const extentName = firstViewer.get(storage.key)?.name ?? `data/${storage.key}`;
    const sizeBytes = byteSizeOf(storage.dtype, [storage.numel], { file: fileName, tensor: extentName });
    const offsetBytes = await options.locate(storage, extentName);
    located.push({
      storage,
      extent: { name: extentName, dtype: storage.dtype, shape: [storage.numel], offsetBytes, sizeBytes },
    });
  }
  located.sort((a, b) => a.extent.offsetBytes - b.extent.offsetBytes);
  const extentIndex = new Map<string, number>();
  let end = 0;
  located.forEach(({ storage, extent }, i) => {
    if (extent.offsetBytes < end) {
      throw new FormatError(
        'FORMAT_BAD_OFFSETS',
        `${fileName}: storage of tensor ${quoteName(extent.name)} at byte ${extent.offsetBytes} overlaps the previous storage, which ends at byte ${end}`,
        { file: fileName, tensor: extent.name },
      );
    }
    end = extent.offsetBytes + extent.sizeBytes;
    extentIndex.set(storage.key, i);
  });

  const views: TensorView[] = named.map(({ name, tensor }) => {
    checkViewInStorage(tensor, name, tensor.storage.numel, fileName);
    const view: TensorView = {
      name,
      dtype: tensor.storage.dtype,
      shape: tensor.shape,
      extent: extentIndex.get(tensor.storage.key)!,
      offsetElements: tensor.offsetElements,
      strides: tensor.strides,
    };
    if (byteOrder === 'big' && dtypeSize(tensor.storage.dtype) > 1) view.byteOrder = 'big';
    return view;
  });

  const allMetadata = { ...metadata };
  for (const [k, v] of scalars) if (k !== '__proto__' && !Object.hasOwn(allMetadata, k)) allMetadata[k] = v;
  return {
    format: 'pytorch',
    metadata: allMetadata,
    extents: located.map((l) => l.extent),
    tensors: views,
    sizeBytes: options.sizeBytes,
  };
}
