// A ByteSource over the head of a stream: reads pull bytes from the stream into memory on demand, up to a
// limit, so a format parser can read a header before the stream is consumed. Afterwards the buffered bytes are
// given back to the stream. A read past the limit means the format needs the whole file (its index is at the end).

import type { ByteSource } from '../formats/format-module.js';
import type { ByteStream } from './byte-stream.js';

/** Thrown when a parser reads past the buffering limit: the caller must spool the stream to disk instead. */
export class NeedsWholeFile extends Error {}
/** Thrown when the stream ends before the size the caller announced: the input changed or lied. */
export class StreamShorterThanSize extends Error {}

export class PrefixSource implements ByteSource {
  private buffer = new Uint8Array(64 * 1024);
  private length = 0;

  constructor(
    private readonly stream: ByteStream,
    readonly sizeBytes: number,
    private readonly limitBytes: number,
  ) {}

  async read(offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    const need = offsetBytes + lengthBytes;
    if (offsetBytes < 0 || lengthBytes < 0 || need > this.sizeBytes) {
      throw new RangeError(`read of ${lengthBytes} bytes at ${offsetBytes} is outside ${this.sizeBytes} bytes`);
    }
    if (need > this.limitBytes) throw new NeedsWholeFile();
    while (this.length < need) {
      const part = await this.stream.next(need - this.length);
      if (part.length === 0) throw new StreamShorterThanSize();
      if (this.length + part.length > this.buffer.length) {
        const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + part.length));
        grown.set(this.buffer.subarray(0, this.length));
        this.buffer = grown;
      }
      this.buffer.set(part, this.length);
      this.length += part.length;
    }
    return this.buffer.slice(offsetBytes, need);
  }

  /** Gives every buffered byte back to the stream, so it can be read again from offset 0. */
  release(): void {
    this.stream.unshift(this.buffer.subarray(0, this.length));
    this.length = 0;
  }
}
