// The text file git stores in place of a checkpoint: parse, print, validate. Pure: no I/O. The format is
// line-oriented, deterministic (same file → same bytes) and self-validating (parse errors name the line).
//
//   weft 1 safetensors
//   size 69400
//   frame 248 <oid>
//   tensor "fc1.weight" F32 [128,64] @248 32768 <content-id> dense <oid>:0-32768
//
// `frame` lines, concatenated in order, hold every byte of the file that is not inside a tensor; `tensor` lines
// (in file order) say where each tensor lies, its content id (SHA-256 of its bytes) and how it is encoded.

import { FormatError } from '../errors.js';
import { type Dtype, dtypeSize, isDtype } from '../tensor/dtype.js';

export const MANIFEST_MAGIC = 'weft';
export const MANIFEST_VERSION = 1;

/** A manifest is small text; anything larger is not one (protects `clean` pass-through from reading a model). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
/** Longest tensor name accepted (CWE-770: unbounded allocation from hostile input). */
const MAX_NAME_LENGTH = 64 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;

/** SHA-256 of a tensor's bytes, as 64 lowercase hex digits. */
export type ContentId = string & { readonly __brand: 'ContentId' };
/** SHA-256 of an object's stored bytes, as 64 lowercase hex digits. */
export type ObjectRefId = string & { readonly __brand: 'ObjectId' };

/** A byte range of an object's decoded bytes: the whole object when `start`/`end` are absent. */
export interface ObjectRef {
  id: ObjectRefId;
  start?: number;
  end?: number;
}

/** How a tensor's bytes are rebuilt from objects. `dense`: the concatenated refs are the bytes. */
export interface TensorEncoding {
  kind: string;
  /** Objects holding the data, in order. */
  refs: ObjectRef[];
  /** Encoding parameters (`parent=<content-id>`, `rank=8`, …), in the order printed. */
  params: Record<string, string>;
}

export interface FrameEntry {
  sizeBytes: number;
  refs: ObjectRef[];
}

export interface ManifestTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  offsetBytes: number;
  sizeBytes: number;
  contentId: ContentId;
  encoding: TensorEncoding;
}

/**
 * The encoding of a tensor version that a tensor of this manifest is encoded against (directly or through other
 * parents): what a reader needs, with the store, to rebuild it. At most `max_chain` links deep.
 */
export interface ManifestParent {
  contentId: ContentId;
  sizeBytes: number;
  encoding: TensorEncoding;
}

export interface Manifest {
  format: string;
  sizeBytes: number;
  frames: FrameEntry[];
  tensors: ManifestTensor[];
  /** Parent versions the tensors' encodings depend on, each once; printed after the tensors. */
  parents?: ManifestParent[];
}

/** Encoding parameters whose values are object reference lists (factors, sparse positions, scale vectors). */
export const REF_PARAMS: readonly string[] = ['a', 'b', 'd', 'f', 'idx', 'v'];

/** Every object an encoding names: its `refs` and the reference lists in its parameters. */
export function listEncodingRefs(encoding: TensorEncoding): ObjectRef[] {
  const out = [...encoding.refs];
  for (const key of REF_PARAMS) {
    const value = encoding.params[key];
    if (value !== undefined) out.push(...parseRefs(value));
  }
  return out;
}

/** Every object a manifest names: frames, tensors, parents. */
export function listManifestRefs(manifest: Manifest): ObjectRef[] {
  const out: ObjectRef[] = [];
  for (const f of manifest.frames) out.push(...f.refs);
  for (const t of manifest.tensors) out.push(...listEncodingRefs(t.encoding));
  for (const p of manifest.parents ?? []) out.push(...listEncodingRefs(p.encoding));
  return out;
}

/** Prints a reference list as in a manifest (`-` when empty). */
export function printRefs(refs: readonly ObjectRef[]): string {
  return formatRefs(refs);
}

/** Parses a reference list as printed by {@link printRefs}; throws RangeError when it does not parse. */
export function parseRefList(text: string): ObjectRef[] {
  try {
    return parseRefs(text);
  } catch (e) {
    if (e instanceof LineError) throw new RangeError(e.message);
    throw e;
  }
}

/** Makes a ContentId from 64 lowercase hex digits; throws on anything else. */
export function parseContentId(text: string): ContentId {
  if (!HEX64.test(text)) throw new RangeError(`not a content id: ${text.slice(0, 80)}`);
  return text as ContentId;
}

/** True when `bytes` begins like a manifest (cheap test before a full parse). */
export function looksLikeManifest(bytes: Uint8Array): boolean {
  const head = `${MANIFEST_MAGIC} ${MANIFEST_VERSION} `;
  if (bytes.length < head.length) return false;
  for (let i = 0; i < head.length; i++) if (bytes[i] !== head.charCodeAt(i)) return false;
  return true;
}

function formatRef(ref: ObjectRef): string {
  return ref.start === undefined || ref.end === undefined ? ref.id : `${ref.id}:${ref.start}-${ref.end}`;
}

function formatRefs(refs: readonly ObjectRef[]): string {
  return refs.length === 0 ? '-' : refs.map(formatRef).join(',');
}

/** Prints an encoding as on a tensor line: `dense <refs>` or `<kind> k=v … <refs>`. */
export function printEncoding(encoding: TensorEncoding): string {
  const params = Object.entries(encoding.params).map(([k, v]) => ` ${k}=${v}`);
  return `${encoding.kind}${params.join('')} ${formatRefs(encoding.refs)}`;
}

/** Parses what {@link printEncoding} prints; undefined when it does not parse. */
export function parseEncoding(text: string): TensorEncoding | undefined {
  try {
    return parseEncodingWords(text.split(' '));
  } catch (e) {
    if (e instanceof LineError) return undefined;
    throw e;
  }
}

/** Prints a manifest. Deterministic: the same manifest always gives the same text. */
export function printManifest(manifest: Manifest): string {
  const lines = [`${MANIFEST_MAGIC} ${MANIFEST_VERSION} ${manifest.format}`, `size ${manifest.sizeBytes}`];
  for (const f of manifest.frames) lines.push(`frame ${f.sizeBytes} ${formatRefs(f.refs)}`);
  for (const t of manifest.tensors) {
    lines.push(
      `tensor ${JSON.stringify(t.name)} ${t.dtype} [${t.shape.join(',')}] @${t.offsetBytes} ${t.sizeBytes} ` +
        `${t.contentId} ${printEncoding(t.encoding)}`,
    );
  }
  for (const p of manifest.parents ?? [])
    lines.push(`parent ${p.contentId} ${p.sizeBytes} ${printEncoding(p.encoding)}`);
  return `${lines.join('\n')}\n`;
}

/** Total bytes held by the frame entries. */
export function frameSizeOf(manifest: Manifest): number {
  let n = 0;
  for (const f of manifest.frames) n += f.sizeBytes;
  return n;
}

class LineError extends Error {}

function parseUint(text: string | undefined, what: string): number {
  if (text === undefined || !/^(0|[1-9][0-9]*)$/.test(text)) throw new LineError(`bad ${what} ${JSON.stringify(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new LineError(`${what} ${text} exceeds 2^53`);
  return n;
}

function parseRefs(text: string | undefined): ObjectRef[] {
  if (text === undefined) throw new LineError('missing object list');
  if (text === '-') return [];
  return text.split(',').map((part) => {
    const m = /^([0-9a-f]{64})(?::(0|[1-9][0-9]*)-(0|[1-9][0-9]*))?$/.exec(part);
    if (!m) throw new LineError(`bad object reference ${JSON.stringify(part.slice(0, 100))}`);
    const ref: ObjectRef = { id: m[1] as ObjectRefId };
    if (m[2] !== undefined && m[3] !== undefined) {
      ref.start = parseUint(m[2], 'range start');
      ref.end = parseUint(m[3], 'range end');
      if (ref.end < ref.start) throw new LineError(`object range ${m[2]}-${m[3]} ends before it starts`);
    }
    return ref;
  });
}

function refsSize(refs: readonly ObjectRef[]): number | undefined {
  let n = 0;
  for (const r of refs) {
    if (r.start === undefined || r.end === undefined) return undefined;
    n += r.end - r.start;
  }
  return n;
}

/** Splits a tensor line after its quoted name: returns the name and the rest. */
function splitName(rest: string): [string, string] {
  if (rest[0] !== '"') throw new LineError('tensor name must be a JSON string');
  let i = 1;
  while (i < rest.length && rest[i] !== '"') i += rest[i] === '\\' ? 2 : 1;
  if (i >= rest.length) throw new LineError('unterminated tensor name');
  if (i > MAX_NAME_LENGTH) throw new LineError(`tensor name longer than ${MAX_NAME_LENGTH} characters`);
  let name: unknown;
  try {
    name = JSON.parse(rest.slice(0, i + 1));
  } catch {
    throw new LineError('tensor name is not a valid JSON string');
  }
  if (typeof name !== 'string' || name.length === 0) throw new LineError('empty tensor name');
  return [name, rest.slice(i + 2)];
}

function parseTensorLine(rest: string): ManifestTensor {
  const [name, tail] = splitName(rest);
  const words = tail.split(' ');
  const [dtype, shapeText, offsetText, sizeText, cid] = words;
  if (!isDtype(dtype)) throw new LineError(`unknown dtype ${JSON.stringify(dtype)}`);
  if (shapeText === undefined || !/^\[((0|[1-9][0-9]*)(,(0|[1-9][0-9]*))*)?\]$/.test(shapeText)) {
    throw new LineError(`bad shape ${JSON.stringify(shapeText)}`);
  }
  const shape =
    shapeText === '[]'
      ? []
      : shapeText
          .slice(1, -1)
          .split(',')
          .map((d) => parseUint(d, 'dimension'));
  if (offsetText === undefined || offsetText[0] !== '@') throw new LineError('missing @offset');
  const offsetBytes = parseUint(offsetText.slice(1), 'offset');
  const sizeBytes = parseUint(sizeText, 'size');
  let numel = 1n;
  for (const d of shape) numel *= BigInt(d);
  if (numel * BigInt(dtypeSize(dtype)) !== BigInt(sizeBytes)) {
    throw new LineError(`shape [${shape.join(',')}] of ${dtype} does not hold ${sizeBytes} bytes`);
  }
  if (cid === undefined || !HEX64.test(cid)) throw new LineError('bad content id');
  const encoding = parseEncodingWords(words.slice(5));
  checkDenseSize(encoding, sizeBytes);
  return { name, dtype, shape, offsetBytes, sizeBytes, contentId: cid as ContentId, encoding };
}

function checkDenseSize(encoding: TensorEncoding, sizeBytes: number): void {
  if (encoding.kind === 'dense') {
    const n = refsSize(encoding.refs);
    if (n !== undefined && n !== sizeBytes)
      throw new LineError(`dense objects hold ${n} bytes, tensor has ${sizeBytes}`);
  }
}

function parseParentLine(rest: string): ManifestParent {
  const words = rest.split(' ');
  const [cid, sizeText] = words;
  if (cid === undefined || !HEX64.test(cid)) throw new LineError('bad parent content id');
  const sizeBytes = parseUint(sizeText, 'parent size');
  const encoding = parseEncodingWords(words.slice(2));
  checkDenseSize(encoding, sizeBytes);
  return { contentId: cid as ContentId, sizeBytes, encoding };
}

function parseEncodingWords(words: string[]): TensorEncoding {
  const [kind, ...tokens] = words;
  if (kind === undefined || !/^[a-z][a-z0-9_]*$/.test(kind)) throw new LineError('missing encoding');
  const params: Record<string, string> = {};
  const refsText = tokens.pop();
  for (const p of tokens) {
    const eq = p.indexOf('=');
    if (eq <= 0 || !/^[a-z][a-z0-9_]*=\S+$/.test(p)) {
      throw new LineError(`bad encoding parameter ${JSON.stringify(p.slice(0, 100))}`);
    }
    const key = p.slice(0, eq);
    if (Object.hasOwn(params, key)) throw new LineError(`encoding parameter ${key} given twice`);
    const value = p.slice(eq + 1);
    params[key] = value;
    if (REF_PARAMS.includes(key)) parseRefs(value);
  }
  return { kind, refs: parseRefs(refsText), params };
}

/**
 * Parses and validates manifest text. Throws FormatError MANIFEST_INVALID naming the file and line.
 * @example parseManifest(text, 'model.safetensors').tensors.map((t) => t.name)
 */
export function parseManifest(text: string, fileName = 'manifest'): Manifest {
  if (text.length > MAX_MANIFEST_BYTES) {
    throw new FormatError('MANIFEST_INVALID', `${fileName}: manifest larger than ${MAX_MANIFEST_BYTES} bytes`, {
      file: fileName,
    });
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let lineNo = 0;
  try {
    const head = /^weft (\d+) ([a-z0-9_.-]+)$/.exec(lines[0] ?? '');
    lineNo = 1;
    if (!head) throw new LineError('first line must be "weft <version> <format>"');
    if (Number(head[1]) !== MANIFEST_VERSION) {
      throw new LineError(`manifest version ${head[1]} is not supported (this Weft reads ${MANIFEST_VERSION})`);
    }
    lineNo = 2;
    const size = /^size (\S+)$/.exec(lines[1] ?? '');
    if (!size) throw new LineError('second line must be "size <bytes>"');
    const manifest: Manifest = {
      format: head[2] ?? '',
      sizeBytes: parseUint(size[1], 'size'),
      frames: [],
      tensors: [],
    };
    let expectOffset = 0; // tensors in file order, non-overlapping
    for (let i = 2; i < lines.length; i++) {
      lineNo = i + 1;
      const line = lines[i] ?? '';
      const sp = line.indexOf(' ');
      const word = sp < 0 ? line : line.slice(0, sp);
      const rest = sp < 0 ? '' : line.slice(sp + 1);
      if (word === 'frame') {
        if (manifest.tensors.length > 0) throw new LineError('frame lines must come before tensor lines');
        const [sizeText, refsText, extra] = rest.split(' ');
        if (extra !== undefined) throw new LineError('unexpected text after the frame objects');
        const refs = parseRefs(refsText);
        const frameSize = parseUint(sizeText, 'frame size');
        const n = refsSize(refs);
        if (n !== undefined && n !== frameSize)
          throw new LineError(`frame objects hold ${n} bytes, line says ${frameSize}`);
        manifest.frames.push({ sizeBytes: frameSize, refs });
      } else if (word === 'parent') {
        const parent = parseParentLine(rest);
        manifest.parents ??= [];
        if (manifest.parents.some((q) => q.contentId === parent.contentId)) {
          throw new LineError(`parent ${parent.contentId.slice(0, 12)}… listed twice`);
        }
        manifest.parents.push(parent);
      } else if (word === 'tensor') {
        if (manifest.parents) throw new LineError('tensor lines must come before parent lines');
        const t = parseTensorLine(rest);
        if (t.offsetBytes < expectOffset)
          throw new LineError(`tensor ${JSON.stringify(t.name)} overlaps the tensor before it`);
        if (t.offsetBytes + t.sizeBytes > manifest.sizeBytes) {
          throw new LineError(
            `tensor ${JSON.stringify(t.name)} ends at ${t.offsetBytes + t.sizeBytes}, past the file size`,
          );
        }
        expectOffset = t.offsetBytes + t.sizeBytes;
        manifest.tensors.push(t);
      } else {
        throw new LineError(`unknown line kind ${JSON.stringify(word.slice(0, 40))}`);
      }
    }
    let tensorBytes = 0;
    for (const t of manifest.tensors) tensorBytes += t.sizeBytes;
    if (frameSizeOf(manifest) + tensorBytes !== manifest.sizeBytes) {
      lineNo = 2;
      throw new LineError(
        `frame (${frameSizeOf(manifest)} bytes) and tensors (${tensorBytes} bytes) do not add up to size ${manifest.sizeBytes}`,
      );
    }
    return manifest;
  } catch (e) {
    if (e instanceof LineError) {
      throw new FormatError('MANIFEST_INVALID', `${fileName}: manifest line ${lineNo}: ${e.message}`, {
        file: fileName,
      });
    }
    throw e;
  }
}

/** The frame ranges of the file a manifest describes (the complement of its tensors), in file order. */
export function listManifestFrameRanges(manifest: Manifest): { offsetBytes: number; sizeBytes: number }[] {
  const out: { offsetBytes: number; sizeBytes: number }[] = [];
  let at = 0;
  for (const t of manifest.tensors) {
    if (t.offsetBytes > at) out.push({ offsetBytes: at, sizeBytes: t.offsetBytes - at });
    at = t.offsetBytes + t.sizeBytes;
  }
  if (manifest.sizeBytes > at) out.push({ offsetBytes: at, sizeBytes: manifest.sizeBytes - at });
  return out;
}
