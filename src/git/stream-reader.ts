// Pull-style, buffered reading of a Node Readable for the git layer's wire protocols (pkt-line, cat-file):
// exact byte counts with as few copies as possible and bounded buffering. It must not interpret the bytes.

import type { Readable } from 'node:stream';

/**
 * Pause the source once this much is buffered and unread: bounds memory when the consumer is slower than the
 * producer (git writes a 1 GiB file as fast as the pipe takes it).
 */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

/**
 * A queue of the chunks a Readable has delivered, consumed from the front. Chunks are kept as delivered, so a
 * read that falls inside one chunk is a zero-copy view of it. One consumer at a time.
 */
export class StreamReader {
  readonly #stream: Readable;
  readonly #chunks: Buffer[] = [];
  /** Read position inside `#chunks[0]`. */
  #offset = 0;
  #buffered = 0;
  #ended = false;
  #failed = false;
  #failure: unknown;
  #listening = false;
  #paused = false;
  #waiters: (() => void)[] = [];

  constructor(stream: Readable) {
    this.#stream = stream;
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Waits until at least `minBytes` are buffered. Resolves `false` if the stream ended first (the bytes that
   * did arrive stay buffered); rejects with the stream's error if it failed.
   */
  async fill(minBytes: number): Promise<boolean> {
    while (this.#buffered < minBytes) {
      if (this.#failed) throw this.#failure;
      if (this.#ended) return false;
      this.#listen();
      // A single read may need more than the high-water mark (a large cat-file object).
      this.#resume();
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return true;
  }

  /** The byte `index` bytes past the read position; `index` must be below `buffered`. */
  byteAt(index: number): number {
    let i = this.#offset + index;
    for (const chunk of this.#chunks) {
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    throw new RangeError(`byteAt(${index}) beyond the ${this.#buffered} buffered bytes`);
  }

  /** Position of the first `byte` at or after the read position (relative to it), or -1 if none is buffered. */
  indexOf(byte: number): number {
    let base = 0;
    let start = this.#offset;
    for (const chunk of this.#chunks) {
      const at = chunk.indexOf(byte, start);
      if (at >= 0) return base + at - start;
      base += chunk.length - start;
      start = 0;
    }
    return -1;
  }

  /**
   * Copies up to `maxBytes` from the current chunk only into `target` at `targetOffset` and consumes them;
   * returns the count (0 when nothing is buffered). The hot path of content reading: one memcpy per call.
   */
  copyInto(target: Uint8Array, targetOffset: number, maxBytes: number): number {
    const chunk = this.#chunks[0];
    if (chunk === undefined) return 0;
    const n = Math.min(maxBytes, chunk.length - this.#offset, target.length - targetOffset);
    chunk.copy(target, targetOffset, this.#offset, this.#offset + n);
    this.#consume(n);
    return n;
  }

  /** Consumes `n` buffered bytes and returns them: a view when they lie in one chunk, else a copy. */
  take(n: number): Buffer {
    if (n > this.#buffered) throw new RangeError(`take(${n}) beyond the ${this.#buffered} buffered bytes`);
    const chunk = this.#chunks[0];
    if (chunk !== undefined && chunk.length - this.#offset >= n) {
      const view = chunk.subarray(this.#offset, this.#offset + n);
      this.#consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) filled += this.copyInto(out, filled, n - filled);
    return out;
  }

  /** Consumes and discards `n` buffered bytes. */
  skip(n: number): void {
    if (n > this.#buffered) throw new RangeError(`skip(${n}) beyond the ${this.#buffered} buffered bytes`);
    while (n > 0) {
      const chunk = this.#chunks[0]!;
      const step = Math.min(n, chunk.length - this.#offset);
      this.#consume(step);
      n -= step;
    }
  }

  /** Advances within the current chunk, dropping it once used up. */
  #consume(n: number): void {
    this.#offset += n;
    this.#buffered -= n;
    const chunk = this.#chunks[0];
    if (chunk !== undefined && this.#offset >= chunk.length) {
      this.#chunks.shift();
      this.#offset = 0;
    }
    if (this.#paused && this.#buffered < HIGH_WATER_BYTES / 2) this.#resume();
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#stream.resume();
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Starts the flow lazily, so that constructing a reader does not consume the stream. */
  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    const stream = this.#stream;
    stream.on('data', (data: Buffer | Uint8Array | string) => {
      const chunk = Buffer.isBuffer(data)
        ? data
        : typeof data === 'string'
          ? Buffer.from(data)
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (chunk.length === 0) return;
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= HIGH_WATER_BYTES && !this.#paused) {
        this.#paused = true;
        stream.pause();
      }
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    stream.once('end', end);
    // A stream destroyed without 'end' (a killed child's pipe) ends here.
    stream.once('close', end);
    stream.on('error', (error: unknown) => {
      this.#failed = true;
      this.#failure = error;
      this.#notify();
    });
    if (stream.readableEnded || stream.destroyed) end();
  }
}
