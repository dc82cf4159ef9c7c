// A hostile-safe reader of the protobuf wire format over a ByteSource: varints of at most 10 bytes, field tags,
// and length-delimited fields checked against the enclosing message before anything is read. Pure: no I/O.

import { FormatError } from '../../errors.js';
import type { ByteSource } from '../format-module.js';
import { SourceCursor } from '../gguf/source-cursor.js';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** One field: its number, wire type, and either its varint value or the byte range of its payload. */
export interface Field {
  number: number;
  wireType: number;
  /** Varint value (wire type 0), as a bigint so 64-bit values survive. */
  value: bigint;
  /** Payload start (wire types 1, 2, 5). */
  offsetBytes: number;
  /** Payload length (wire types 1, 2, 5). */
  sizeBytes: number;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Reads protobuf fields front to back; `fields(end)` walks the fields of one message ending at `end`. */
export class ProtobufReader {
  readonly cursor: SourceCursor;

  constructor(
    source: ByteSource,
    readonly fileName: string,
  ) {
    this.cursor = new SourceCursor(source, fileName);
  }

  fail(code: ConstructorParameters<typeof FormatError>[0], message: string, tensor?: string): never {
    throw new FormatError(code, `${this.fileName}: ${message}`, {
      file: this.fileName,
      ...(tensor === undefined ? {} : { tensor }),
    });
  }

  /** A varint of at most 10 bytes that must end before `end`. */
  async varint(end: number, what: string): Promise<bigint> {
    const c = this.cursor;
    const start = c.at;
    const available = Math.min(10, end - start);
    if (available <= 0) this.fail('FORMAT_TRUNCATED', `${what} at byte ${start} is cut off`);
    const bytes = await c.bytes(Math.min(available, c.remaining), what);
    let value = 0n;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        c.at = start + i + 1;
        return value;
      }
    }
    if (bytes.length === 10)
      this.fail('FORMAT_BAD_HEADER', `${what} at byte ${start} is a varint longer than 10 bytes`);
    return this.fail('FORMAT_TRUNCATED', `${what} at byte ${start} is cut off`);
  }

  /** The next field of a message ending at `end`; payloads are skipped (read them with `bytes`/`walk`). */
  async field(end: number, what: string): Promise<Field> {
    const c = this.cursor;
    const tagAt = c.at;
    const tag = await this.varint(end, `field tag in ${what}`);
    const number = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (number === 0 || tag >> 3n > 0x1fffffffn) {
      this.fail('FORMAT_BAD_HEADER', `${what} has an invalid field number ${tag >> 3n} at byte ${tagAt}`);
    }
    const field: Field = { number, wireType, value: 0n, offsetBytes: 0, sizeBytes: 0 };
    let size: number;
    if (wireType === WIRE_VARINT) {
      field.value = await this.varint(end, `field ${number} of ${what}`);
      return field;
    } else if (wireType === WIRE_I64) {
      size = 8;
    } else if (wireType === WIRE_I32) {
      size = 4;
    } else if (wireType === WIRE_LEN) {
      const n = await this.varint(end, `length of field ${number} of ${what}`);
      if (n > BigInt(end - c.at)) {
        const code = n > BigInt(c.remaining) ? 'FORMAT_TRUNCATED' : 'FORMAT_BAD_HEADER';
        this.fail(
          code,
          `field ${number} of ${what} at byte ${tagAt} declares ${n} bytes, past the end of its message at byte ${end}`,
        );
      }
      size = Number(n);
    } else {
      return this.fail(
        'FORMAT_BAD_HEADER',
        `field ${number} of ${what} at byte ${tagAt} has unsupported wire type ${wireType}`,
      );
    }
    if (size > end - c.at) this.fail('FORMAT_TRUNCATED', `field ${number} of ${what} at byte ${tagAt} is cut off`);
    field.offsetBytes = c.at;
    field.sizeBytes = size;
    c.at += size;
    return field;
  }

  /** The payload of a length-delimited field as UTF-8 text, refusing more than `limit` bytes. */
  async text(field: Field, limit: number, what: string): Promise<string> {
    if (field.sizeBytes > limit)
      this.fail('FORMAT_LIMIT', `${what} is ${field.sizeBytes} bytes, over the limit of ${limit}`);
    const c = this.cursor;
    const back = c.at;
    c.at = field.offsetBytes;
    const bytes = await c.bytes(field.sizeBytes, what);
    c.at = back;
    try {
      return UTF8.decode(bytes);
    } catch {
      return this.fail('FORMAT_BAD_HEADER', `${what} at byte ${field.offsetBytes} is not valid UTF-8`);
    }
  }

  /** Calls `onField` for every field of the message occupying the payload of `field` (or `[start, end)`). */
  async walk(start: number, end: number, what: string, onField: (f: Field) => Promise<void> | void): Promise<void> {
    const c = this.cursor;
    c.at = start;
    while (c.at < end) {
      const f = await this.field(end, what);
      const after = c.at;
      await onField(f);
      c.at = after;
    }
  }

  /** Packed varints in a length-delimited payload (or one unpacked varint), as numbers ≤ 2^53. */
  async packedVarints(field: Field, limitCount: number, what: string): Promise<bigint[]> {
    if (field.wireType === WIRE_VARINT) return [field.value];
    if (field.wireType !== WIRE_LEN) this.fail('FORMAT_BAD_HEADER', `${what} has wire type ${field.wireType}`);
    const c = this.cursor;
    const back = c.at;
    const end = field.offsetBytes + field.sizeBytes;
    c.at = field.offsetBytes;
    const out: bigint[] = [];
    while (c.at < end) {
      if (out.length >= limitCount) this.fail('FORMAT_LIMIT', `${what} has more than ${limitCount} values`);
      out.push(await this.varint(end, what));
    }
    c.at = back;
    return out;
  }
}
