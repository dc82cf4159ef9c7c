// Reads the `weightsManifest` of a TensorFlow.js model.json and lays out each group's logical buffer (its shards
// concatenated): which bytes belong to which weight. Pure: takes the JSON text, never reads files.

import { FormatError } from '../../errors.js';
import type { Dtype } from '../../tensor/dtype.js';

/** Groups in one manifest (CWE-770: arrays sized by hostile input). */
export const MAX_TFJS_GROUPS = 10_000;
/** Weights in one manifest (CWE-770). */
export const MAX_TFJS_WEIGHTS = 1_000_000;
/** Dimensions of one weight (CWE-770). */
export const MAX_TFJS_DIMS = 64;
/** Longest weight name (the manifest line must hold it). */
export const MAX_TFJS_NAME_CHARS = 4096;

/** TF.js dtypes with a fixed element size → the Weft dtype of their bytes (complex64 is pairs of float32). */
const TFJS_DTYPES: Readonly<Record<string, { dtype: Dtype; size: number }>> = {
  float32: { dtype: 'F32', size: 4 },
  int32: { dtype: 'I32', size: 4 },
  bool: { dtype: 'BOOL', size: 1 },
  complex64: { dtype: 'F32', size: 8 },
  float16: { dtype: 'F16', size: 2 },
  uint8: { dtype: 'U8', size: 1 },
  uint16: { dtype: 'U16', size: 2 },
  int8: { dtype: 'I8', size: 1 },
  int16: { dtype: 'I16', size: 2 },
};

/** One weight in a group's buffer. */
export interface TfjsWeight {
  name: string;
  /** The dtype of the stored bytes (the quantized dtype for a quantized weight). */
  dtype: Dtype;
  /** Bytes per stored element. */
  elementBytes: number;
  /** The declared shape (complex64 gets a trailing 2). */
  shape: number[];
  /** Byte range in the group's logical buffer. */
  offsetBytes: number;
  sizeBytes: number;
  /** For a quantized weight: e.g. `uint8 quantized float32 (min -6.16, scale 0.055)`. */
  storedType?: string;
}

export interface TfjsGroup {
  /** Shard paths, relative to the model.json, in buffer order. */
  paths: string[];
  weights: TfjsWeight[];
  /** Bytes of the group's logical buffer that its weights cover. */
  totalBytes: number;
}

function fail(fileName: string, message: string): never {
  throw new FormatError('FORMAT_BAD_HEADER', `${fileName}: ${message}`, { file: fileName });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * True when `value` (parsed JSON) has a `weightsManifest` array: a TF.js model.json.
 *
 * @example
 * hasWeightsManifest(JSON.parse(text)); // → true for a TF.js model.json
 */
export function hasWeightsManifest(value: unknown): boolean {
  return isRecord(value) && Array.isArray(value.weightsManifest);
}

/**
 * Validates a model.json and lays out its weight groups. Weights with dtype `string` have no fixed size: the layout of
 * a group stops before the first one (its bytes and everything after stay frame). Throws `FormatError`
 * (FORMAT_BAD_HEADER, FORMAT_LIMIT, FORMAT_BAD_SHAPE, FORMAT_BAD_DTYPE) naming `fileName` and the weight.
 *
 * @example
 * const groups = parseWeightsManifest(await readFile('model.json', 'utf8'), { fileName: 'model.json' });
 */
export function parseWeightsManifest(text: string, options: { fileName: string }): TfjsGroup[] {
  const { fileName } = options;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(fileName, `is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(json) || !Array.isArray(json.weightsManifest)) fail(fileName, 'has no "weightsManifest" array');
  const manifest = json.weightsManifest as unknown[];
  if (manifest.length > MAX_TFJS_GROUPS) {
    throw new FormatError(
      'FORMAT_LIMIT',
      `${fileName}: ${manifest.length} weight groups, over the limit of ${MAX_TFJS_GROUPS}`,
      {
        file: fileName,
      },
    );
  }
  let weightCount = 0;
  return manifest.map((g, gi) => {
    if (!isRecord(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      fail(fileName, `weightsManifest[${gi}] needs "paths" and "weights" arrays`);
    }
    const paths = g.paths.map((p, pi) => {
      if (typeof p !== 'string' || p.length === 0)
        fail(fileName, `weightsManifest[${gi}].paths[${pi}] is not a file name`);
      return p;
    });
    const weights: TfjsWeight[] = [];
    let at = 0;
    for (const [wi, w] of (g.weights as unknown[]).entries()) {
      if (++weightCount > MAX_TFJS_WEIGHTS) {
        throw new FormatError('FORMAT_LIMIT', `${fileName}: more than ${MAX_TFJS_WEIGHTS} weights`, { file: fileName });
      }
      if (!isRecord(w) || typeof w.name !== 'string' || typeof w.dtype !== 'string' || !Array.isArray(w.shape)) {
        fail(fileName, `weightsManifest[${gi}].weights[${wi}] needs "name", "dtype" and "shape"`);
      }
      const name = w.name;
      if (name.length === 0 || name.length > MAX_TFJS_NAME_CHARS) {
        throw new FormatError(
          'FORMAT_LIMIT',
          `${fileName}: weight name of ${name.length} characters (1 to ${MAX_TFJS_NAME_CHARS} allowed)`,
          {
            file: fileName,
          },
        );
      }
      if (w.shape.length > MAX_TFJS_DIMS) {
        throw new FormatError(
          'FORMAT_LIMIT',
          `${fileName}: weight ${JSON.stringify(name)} has ${w.shape.length} dimensions, over ${MAX_TFJS_DIMS}`,
          {
            file: fileName,
            tensor: name,
          },
        );
      }
      let numel = 1;
      const shape: number[] = [];
      for (const d of w.shape) {
        if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0 || !Number.isSafeInteger(numel * d)) {
          throw new FormatError(
            'FORMAT_BAD_SHAPE',
            `${fileName}: weight ${JSON.stringify(name)} has a bad shape ${JSON.stringify(w.shape)}`,
            {
              file: fileName,
              tensor: name,
            },
          );
        }
        numel *= d;
        shape.push(d);
      }
      if (w.dtype === 'string') break;
      const q = isRecord(w.quantization) ? w.quantization : undefined;
      const storedName = q ? q.dtype : w.dtype;
      const stored = typeof storedName === 'string' ? TFJS_DTYPES[storedName] : undefined;
      if (!stored || (q && !TFJS_DTYPES[w.dtype])) {
        throw new FormatError(
          'FORMAT_BAD_DTYPE',
          `${fileName}: weight ${JSON.stringify(name)} has unknown dtype ${JSON.stringify(storedName)}`,
          {
            file: fileName,
            tensor: name,
          },
        );
      }
      const sizeBytes = numel * stored.size;
      if (!Number.isSafeInteger(at + sizeBytes)) fail(fileName, `weights of group ${gi} exceed 2^53 bytes`);
      const weight: TfjsWeight = {
        name,
        dtype: stored.dtype,
        elementBytes: stored.size === 8 ? 4 : stored.size,
        shape: w.dtype === 'complex64' && !q ? [...shape, 2] : shape,
        offsetBytes: at,
        sizeBytes,
      };
      if (q) {
        const num = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : '?');
        weight.storedType = `${storedName} quantized ${w.dtype} (min ${num(q.min)}, scale ${num(q.scale)})`;
      }
      weights.push(weight);
      at += sizeBytes;
    }
    return { paths, weights, totalBytes: at };
  });
}
