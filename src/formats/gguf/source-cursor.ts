// A forward reader over a ByteSource for binary headers (GGUF, protobuf): reads through a bounded window, checks
// every length against the bytes left before reading, and turns running off the end into FORMAT_TRUNCATED. Pure.

import { FormatError } from '../../errors.js';
import type { ByteSource } from '../format-module.js';

/** Bytes fetched from the source at once; small reads are served from this window. */
const WINDOW_BYTES = 256 * 1024;

/** Reads a ByteSource front to back; `at` can also jump forward over data it does not need (tensor bytes). */
export class SourceCursor {
  private window: Uint8Array = new Uint8Array(0);
  private windowAt = 0;
  at = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly fileName: string,
  ) {}

  get sizeBytes(): number {
    return this.source.sizeBytes;
  }

  /** Bytes from the cursor to the end of the file. */
  get remaining(): number {
    return this.source.sizeBytes - this.at;
  }

  /** Throws FORMAT_TRUNCATED unless `n` more bytes exist after the cursor. */
  need(n: number, what: string): void {
    if (!(n <= this.remaining)) {
      throw new FormatError(
        'FORMAT_TRUNCATED',
        `${this.fileName}: ${what} at byte ${this.at} needs ${n} bytes but the file ends at byte ${this.sizeBytes}`,
        { file: this.fileName },
      );
    }
  }

  /** The next `n` bytes (a view valid until the next read), advancing the cursor. */
  async bytes(n: number, what: string): Promise<Uint8Array> {
    this.need(n, what);
    const offset = this.at - this.windowAt;
    if (offset < 0 || offset + n > this.window.length) {
      const length = Math.min(Math.max(n, WINDOW_BYTES), this.remaining);
      this.window = await this.source.read(this.at, length);
      this.windowAt = this.at;
    }
    const start = this.at - this.windowAt;
    this.at += n;
    return this.window.subarray(start, start + n);
  }

  /** Advances over `n` bytes without reading them. */
  skip(n: number, what: string): void {
    this.need(n, what);
    this.at += n;
  }

  async view(n: number, what: string): Promise<DataView> {
    const b = await this.bytes(n, what);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  async u8(what: string): Promise<number> {
    return (await this.bytes(1, what))[0] as number;
  }

  async u32(what: string): Promise<number> {
    return (await this.view(4, what)).getUint32(0, true);
  }

  async u64(what: string): Promise<bigint> {
    return (await this.view(8, what)).getBigUint64(0, true);
  }
}
