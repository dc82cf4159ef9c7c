// The ONNX FormatModule: walks ModelProto → GraphProto (and subgraphs) → TensorProto in the protobuf wire format,
// making each initializer's `raw_data` (and packed float/double data) a tensor extent; the frame is everything else.
// Constant nodes' tensors count too. Pure: reads only tags and lengths through a ByteSource, never tensor data.

import { FormatError } from '../../errors.js';
import type { Dtype } from '../../tensor/dtype.js';
import { dtypeSize } from '../../tensor/dtype.js';
import type { ByteSource, Checkpoint, FormatModule, ParseOptions, TensorExtent, TensorView } from '../format-module.js';
import { type Field, ProtobufReader, WIRE_LEN, WIRE_VARINT } from './protobuf-reader.js';

/** Tensor count limit (CWE-770: an array sized by hostile input). */
export const MAX_ONNX_TENSORS = 1_000_000;
/** Graphs nest (If/Loop bodies) at most this deep (CWE-674: unbounded recursion). */
export const MAX_ONNX_DEPTH = 32;
/** Dimensions of one tensor (CWE-770). */
export const MAX_ONNX_DIMS = 64;
/** Longest name read into memory (the manifest must hold it). */
export const MAX_ONNX_NAME_BYTES = 4096;
/** Longest metadata string read into memory (producer name, metadata_props); longer ones are noted by size. */
const MAX_ONNX_TEXT_BYTES = 64 * 1024;

/** TensorProto.DataType → [name, Weft dtype if the values are plain little-endian numbers of that dtype]. */
const ONNX_TYPES: ReadonlyMap<number, readonly [string, Dtype | undefined]> = new Map([
  [1, ['FLOAT', 'F32']],
  [2, ['UINT8', 'U8']],
  [3, ['INT8', 'I8']],
  [4, ['UINT16', 'U16']],
  [5, ['INT16', 'I16']],
  [6, ['INT32', 'I32']],
  [7, ['INT64', 'I64']],
  [8, ['STRING', undefined]],
  [9, ['BOOL', 'BOOL']],
  [10, ['FLOAT16', 'F16']],
  [11, ['DOUBLE', 'F64']],
  [12, ['UINT32', 'U32']],
  [13, ['UINT64', 'U64']],
  [14, ['COMPLEX64', undefined]],
  [15, ['COMPLEX128', undefined]],
  [16, ['BFLOAT16', 'BF16']],
  [17, ['FLOAT8E4M3FN', 'F8_E4M3']],
  [18, ['FLOAT8E4M3FNUZ', undefined]],
  [19, ['FLOAT8E5M2', 'F8_E5M2']],
  [20, ['FLOAT8E5M2FNUZ', undefined]],
  [21, ['UINT4', undefined]],
  [22, ['INT4', undefined]],
  [23, ['FLOAT4E2M1', undefined]],
  [24, ['FLOAT8E8M0', undefined]],
] as const);
const DATA_TYPE_FLOAT = 1;
const DATA_TYPE_DOUBLE = 11;
const DATA_TYPE_STRING = 8;
const LOCATION_EXTERNAL = 1n;

/** ModelProto field number → wire type, for detection. */
const MODEL_FIELDS: ReadonlyMap<number, number> = new Map([
  [1, WIRE_VARINT],
  [2, WIRE_LEN],
  [3, WIRE_LEN],
  [4, WIRE_LEN],
  [5, WIRE_VARINT],
  [6, WIRE_LEN],
  [7, WIRE_LEN],
  [8, WIRE_LEN],
  [14, WIRE_LEN],
  [20, WIRE_LEN],
  [25, WIRE_LEN],
  [26, WIRE_LEN],
]);
/** Highest ONNX IR version detection accepts (IR 11 is ONNX 1.17; room for a few more). */
const MAX_IR_VERSION = 20;

/** Reads a varint from `bytes` at `at`: [value, next offset], or undefined when it does not end inside. */
function headVarint(bytes: Uint8Array, at: number): [number, number] | undefined {
  let value = 0;
  for (let i = 0; i < 5 && at + i < bytes.length; i++) {
    const b = bytes[at + i] as number;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [value, at + i + 1];
  }
  return undefined;
}

/**
 * True when `head` looks like an ONNX ModelProto: field 1 (`ir_version`) first with a value from 1 to 20, then only
 * known ModelProto fields with their proper wire types and lengths that fit the file. ONNX has no magic number, so
 * this is strict on purpose: every writer (onnx, PyTorch, paddle2onnx, tf2onnx) puts `ir_version` first.
 *
 * @example
 * detectOnnx(fileHead, fileSize); // → true for `08 08 3a …` (IR 8, then the graph)
 */
export function detectOnnx(head: Uint8Array, sizeBytes: number): boolean {
  if (head.length < 3 || head[0] !== 0x08) return false;
  const ir = headVarint(head, 1);
  if (!ir || ir[0] < 1 || ir[0] > MAX_IR_VERSION) return false;
  let at = ir[1];
  let fields = 0;
  while (at < head.length) {
    const tag = headVarint(head, at);
    if (!tag) return fields > 0;
    const number = Math.floor(tag[0] / 8);
    const wire = tag[0] % 8;
    if (MODEL_FIELDS.get(number) !== wire || number === 1) return false;
    at = tag[1];
    const value = headVarint(head, at);
    if (!value) return fields > 0;
    if (wire === WIRE_LEN && value[1] + value[0] > sizeBytes) return false;
    fields++;
    // A length-delimited payload usually runs past the head: stop there.
    if (wire === WIRE_LEN) return true;
    at = value[1];
  }
  return fields > 0 || at === sizeBytes;
}

/** A tensor whose bytes live in an external data file (`data_location` EXTERNAL). */
export interface OnnxExternalTensor {
  name: string;
  /** The file, relative to the model (`external_data` key `location`). */
  location: string;
  offsetBytes: number;
  sizeBytes: number;
  dtype: Dtype;
  shape: number[];
  storedType?: string;
  storedShape?: number[];
}

interface PendingTensor {
  name: string;
  /** Where it was found, for a name when the TensorProto has none. */
  where: string;
  extents: { field: Field; dtype: Dtype; shape: number[]; storedType?: string; storedShape?: number[] }[];
}

class OnnxParser {
  readonly r: ProtobufReader;
  readonly pending: PendingTensor[] = [];
  readonly metadata: Record<string, string> = {};
  readonly external = new Map<string, { tensors: number; bytes: number }>();
  readonly externalTensors: OnnxExternalTensor[] = [];
  tensorCount = 0;

  constructor(source: ByteSource, fileName: string) {
    this.r = new ProtobufReader(source, fileName);
  }

  private expectLen(f: Field, what: string): void {
    if (f.wireType !== WIRE_LEN) this.r.fail('FORMAT_BAD_HEADER', `${what} has wire type ${f.wireType}, not 2`);
  }

  async model(): Promise<void> {
    const r = this.r;
    const opsets: string[] = [];
    await r.walk(0, r.cursor.sizeBytes, 'ModelProto', async (f) => {
      if (f.number === 1 && f.wireType === WIRE_VARINT) this.metadata['onnx.ir_version'] = String(f.value);
      else if (f.number === 2 && f.wireType === WIRE_LEN)
        this.metadata['onnx.producer_name'] = await this.metaText(f, 'producer_name');
      else if (f.number === 3 && f.wireType === WIRE_LEN)
        this.metadata['onnx.producer_version'] = await this.metaText(f, 'producer_version');
      else if (f.number === 5 && f.wireType === WIRE_VARINT) this.metadata['onnx.model_version'] = String(f.value);
      else if (f.number === 7) {
        this.expectLen(f, 'ModelProto.graph');
        await this.graph(f, 'graph', 0);
      } else if (f.number === 8 && f.wireType === WIRE_LEN) {
        let domain = '';
        let version = '';
        await r.walk(f.offsetBytes, f.offsetBytes + f.sizeBytes, 'opset_import', async (g) => {
          if (g.number === 1 && g.wireType === WIRE_LEN) domain = await this.metaText(g, 'opset domain');
          else if (g.number === 2 && g.wireType === WIRE_VARINT) version = String(g.value);
        });
        if (opsets.length < 64) opsets.push(`${domain || 'ai.onnx'}:${version}`);
      } else if (f.number === 14 && f.wireType === WIRE_LEN) {
        const [key, value] = await this.keyValue(f, 'metadata_props');
        if (Object.keys(this.metadata).length < 1024) this.metadata[`onnx.metadata.${key}`] = value;
      }
    });
    if (opsets.length > 0) this.metadata['onnx.opset_import'] = opsets.join(', ');
  }

  /** Display text of a metadata string: over MAX_ONNX_TEXT_BYTES or not UTF-8, a note instead (never an error). */
  private async metaText(f: Field, what: string): Promise<string> {
    if (f.sizeBytes > MAX_ONNX_TEXT_BYTES) return `(${f.sizeBytes} bytes)`;
    try {
      return await this.r.text(f, MAX_ONNX_TEXT_BYTES, what);
    } catch (e) {
      if (e instanceof FormatError && e.code === 'FORMAT_BAD_HEADER') return `(${f.sizeBytes} bytes, not UTF-8)`;
      throw e;
    }
  }

  private async keyValue(f: Field, what: string): Promise<[string, string]> {
    const r = this.r;
    let key = '';
    let value = '';
    await r.walk(f.offsetBytes, f.offsetBytes + f.sizeBytes, what, async (g) => {
      if (g.number === 1 && g.wireType === WIRE_LEN) key = await this.metaText(g, `${what} key`);
      else if (g.number === 2 && g.wireType === WIRE_LEN) value = await this.metaText(g, `${what} value`);
    });
    return [key, value];
  }

  async graph(f: Field, where: string, depth: number): Promise<void> {
    const r = this.r;
    if (depth > MAX_ONNX_DEPTH)
      r.fail('FORMAT_LIMIT', `graphs nest deeper than the limit of ${MAX_ONNX_DEPTH} at ${where}`);
    let nodeIndex = 0;
    await r.walk(f.offsetBytes, f.offsetBytes + f.sizeBytes, where, async (g) => {
      if (g.number === 1) {
        this.expectLen(g, `${where}.node`);
        await this.node(g, `${where}/node${nodeIndex++}`, depth);
      } else if (g.number === 5) {
        this.expectLen(g, `${where}.initializer`);
        await this.tensor(g, `${where}/initializer`);
      }
    });
  }

  private async node(f: Field, where: string, depth: number): Promise<void> {
    const r = this.r;
    let output = '';
    const first = this.pending.length;
    await r.walk(f.offsetBytes, f.offsetBytes + f.sizeBytes, where, async (g) => {
      if (g.number === 2 && g.wireType === WIRE_LEN && output === '') {
        // An output name too long for a tensor name just leaves the tensor named by its place.
        if (g.sizeBytes <= MAX_ONNX_NAME_BYTES) output = await r.text(g, MAX_ONNX_NAME_BYTES, `${where} output`);
      } else if (g.number === 5) {
        this.expectLen(g, `${where}.attribute`);
        await this.attribute(g, where, depth);
      }
    });
    // Tensors of a Constant node are named after the node's output when they have no name of their own.
    for (let i = first; i < this.pending.length; i++) {
      const p = this.pending[i]!;
      if (p.name === '' && output !== '') p.where = output;
    }
  }

  private async attribute(f: Field, where: string, depth: number): Promise<void> {
    const r = this.r;
    let name = '';
    const tensors: Field[] = [];
    const graphs: Field[] = [];
    await r.walk(f.offsetBytes, f.offsetBytes + f.sizeBytes, `${where} attribute`, async (g) => {
      if (g.number === 1 && g.wireType === WIRE_LEN)
        name = await r.text(g, MAX_ONNX_NAME_BYTES, `${where} attribute name`);
      else if ((g.number === 5 || g.number === 10) && g.wireType === WIRE_LEN) tensors.push(g);
      else if ((g.number === 6 || g.number === 11) && g.wireType === WIRE_LEN) graphs.push(g);
    });
    const at = `${where}/${name || 'attribute'}`;
    for (const [i, t] of tensors.entries()) await this.tensor(t, tensors.length > 1 ? `${at}/${i}` : at);
    for (const [i, g] of graphs.entries()) await this.graph(g, graphs.length > 1 ? `${at}/${i}` : at, depth + 1);
  }

  private async tensor(f: Field, where: string): Promise<void> {
    const r = this.r;
    if (++this.tensorCount > MAX_ONNX_TENSORS) r.fail('FORMAT_LIMIT', `more than ${MAX_ONNX_TENSORS} tensors`);
    const dims: bigint[] = [];
    let dataType = 0;
    let name = '';
    let location = 0n;
    const data: Field[] = [];
    const external: Field[] = [];
    await r.walk(f.offsetBytes, f.offsetBytes + f.sizeBytes, `tensor at ${where}`, async (g) => {
      if (g.number === 1) {
        for (const d of await r.packedVarints(g, MAX_ONNX_DIMS + 1, `dims of tensor at ${where}`)) dims.push(d);
        if (dims.length > MAX_ONNX_DIMS)
          r.fail('FORMAT_LIMIT', `tensor at ${where} has more than ${MAX_ONNX_DIMS} dimensions`);
      } else if (g.number === 2 && g.wireType === WIRE_VARINT) dataType = Number(g.value & 0xffffffffn);
      else if (g.number === 8 && g.wireType === WIRE_LEN)
        name = await r.text(g, MAX_ONNX_NAME_BYTES, `tensor name at ${where}`);
      else if ((g.number === 9 || g.number === 4 || g.number === 10) && g.wireType === WIRE_LEN) data.push(g);
      else if (g.number === 13 && g.wireType === WIRE_LEN) external.push(g);
      else if (g.number === 14 && g.wireType === WIRE_VARINT) location = g.value;
    });
    const label = name || where;
    let numel = 1n;
    const shape: number[] = [];
    for (const d of dims) {
      // int64 dims: a negative one arrives as a huge unsigned varint.
      numel *= d;
      if (d > BigInt(Number.MAX_SAFE_INTEGER) || numel > BigInt(Number.MAX_SAFE_INTEGER)) {
        r.fail(
          'FORMAT_BAD_SHAPE',
          `tensor ${JSON.stringify(label)} has a negative or overflowing shape (dimension ${d})`,
          label,
        );
      }
      shape.push(Number(d));
    }
    const type = ONNX_TYPES.get(dataType);
    if (location === LOCATION_EXTERNAL) {
      let file = '';
      let offset = 0;
      let length: number | undefined;
      for (const e of external) {
        const [key, value] = await this.keyValue(e, `external_data of ${JSON.stringify(label)}`);
        const n = /^\d{1,15}$/.test(value) ? Number(value) : undefined;
        if (key === 'location') file = value;
        else if (key === 'offset' && n !== undefined) offset = n;
        else if (key === 'length' && n !== undefined) length = n;
      }
      const dtype = type?.[1];
      const plainBytes = dtype ? Number(numel) * dtypeSize(dtype) : undefined;
      const sizeBytes = length ?? plainBytes ?? 0;
      const entry = this.external.get(file) ?? { tensors: 0, bytes: 0 };
      entry.tensors++;
      entry.bytes += sizeBytes;
      if (this.external.size < 1024) this.external.set(file, entry);
      const t: OnnxExternalTensor = {
        name: label,
        location: file,
        offsetBytes: offset,
        sizeBytes,
        dtype: 'U8',
        shape: [sizeBytes],
      };
      if (dtype && plainBytes === sizeBytes) {
        t.dtype = dtype;
        t.shape = shape;
      } else {
        t.storedType = type?.[0] ?? `onnx data type ${dataType}`;
        t.storedShape = shape;
      }
      this.externalTensors.push(t);
      return;
    }
    const pending: PendingTensor = { name, where, extents: [] };
    for (const d of data) {
      if (d.number === 9) {
        if (dataType === DATA_TYPE_STRING) continue;
        const dtype = type?.[1];
        if (dtype) {
          if (BigInt(d.sizeBytes) !== numel * BigInt(dtypeSize(dtype))) {
            r.fail(
              'FORMAT_BAD_SHAPE',
              `tensor ${JSON.stringify(label)} has shape [${shape.join(', ')}] of ${type[0]} (${numel * BigInt(dtypeSize(dtype))} bytes) but ${d.sizeBytes} bytes of raw_data`,
              label,
            );
          }
          pending.extents.push({ field: d, dtype, shape });
        } else {
          const storedType = type?.[0] ?? `onnx data type ${dataType}`;
          pending.extents.push({ field: d, dtype: 'U8', shape: [d.sizeBytes], storedType, storedShape: shape });
        }
      } else if (d.number === 4 && dataType === DATA_TYPE_FLOAT && d.sizeBytes === Number(numel) * 4) {
        pending.extents.push({ field: d, dtype: 'F32', shape });
      } else if (d.number === 10 && dataType === DATA_TYPE_DOUBLE && d.sizeBytes === Number(numel) * 8) {
        pending.extents.push({ field: d, dtype: 'F64', shape });
      }
    }
    if (pending.extents.length > 0) this.pending.push(pending);
  }

  checkpoint(sizeBytes: number): Checkpoint {
    const extents: TensorExtent[] = [];
    const tensors: TensorView[] = [];
    const used = new Set<string>();
    const all = this.pending.flatMap((p) => p.extents.map((e) => ({ p, e })));
    all.sort((a, b) => a.e.field.offsetBytes - b.e.field.offsetBytes);
    for (const { p, e } of all) {
      let name = p.name || p.where;
      if (used.has(name)) {
        let k = 2;
        while (used.has(`${name}#${k}`)) k++;
        name = `${name}#${k}`;
      }
      used.add(name);
      extents.push({
        name,
        dtype: e.dtype,
        shape: e.shape,
        offsetBytes: e.field.offsetBytes,
        sizeBytes: e.field.sizeBytes,
      });
      const view: TensorView = { name, dtype: e.dtype, shape: e.shape, extent: extents.length - 1 };
      if (e.storedType !== undefined) view.storedType = e.storedType;
      if (e.storedShape !== undefined) view.storedShape = e.storedShape;
      tensors.push(view);
    }
    const metadata = { ...this.metadata };
    if (this.external.size > 0) {
      metadata['onnx.external_data'] = [...this.external]
        .map(([file, { tensors: n, bytes }]) => `${JSON.stringify(file)}: ${n} tensors, ${bytes} bytes`)
        .join('; ');
    }
    return { format: 'onnx', metadata, extents, tensors, sizeBytes };
  }
}

/**
 * Parses an ONNX model: every TensorProto in the graph's initializers, in Constant (and other) node attributes and
 * in subgraphs becomes a tensor extent over its `raw_data` (or packed `float_data`/`double_data`); types without a
 * Weft dtype (FLOAT8E4M3FNUZ, INT4, …) are opaque U8 extents with `storedType`. Tensors stored in external data
 * files are listed in `metadata['onnx.external_data']`. Throws `FormatError`.
 *
 * @example
 * const checkpoint = await parseOnnx(bytesSource(bytes), { fileName: 'model.onnx' });
 */
export async function parseOnnx(source: ByteSource, options: ParseOptions): Promise<Checkpoint> {
  const parser = new OnnxParser(source, options.fileName);
  await parser.model();
  return parser.checkpoint(source.sizeBytes);
}

/**
 * The tensors of an ONNX model stored in external data files (name, file, byte range, dtype, shape), as the model
 * declares them. Throws `FormatError` like `parseOnnx`.
 *
 * @example
 * const external = await listOnnxExternalTensors(source, { fileName: 'model.onnx' });
 */
export async function listOnnxExternalTensors(
  source: ByteSource,
  options: ParseOptions,
): Promise<OnnxExternalTensor[]> {
  const parser = new OnnxParser(source, options.fileName);
  await parser.model();
  return parser.externalTensors;
}

/** The ONNX format: `{name: 'onnx', detect, parse}`. */
export const onnxModule: FormatModule = { name: 'onnx', detect: detectOnnx, parse: parseOnnx };
