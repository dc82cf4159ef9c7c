// Pull-style, buffered reading for the git layer's wire protocols (pkt-line, cat-file): exact byte counts with as
// few copies as possible and bounded buffering, from a Node Readable or straight from a file descriptor. It must
// not interpret the bytes.

import { read, readSync } from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * Stop reading the source once this much is buffered and unread: bounds memory when the consumer is slower than
 * the producer (git writes a 1 GiB file as fast as the pipe takes it).
 */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** Bytes read from a descriptor per call: a grown pipe's whole buffer (see pipe-size.ts). */
const FD_CHUNK_BYTES = 1024 * 1024;
/** Consumed chunk buffers a descriptor reader keeps for its next reads. */
const FD_IDLE_CHUNKS = 8;

/**
 * A queue of received chunks, consumed from the front; the two sources below fill it. One consumer at a time.
 */
export abstract class ByteReader {
  protected readonly chunks: Buffer[] = [];
  /** Read position inside `chunks[0]`. */
  protected offset = 0;
  protected bufferedBytes = 0;
  protected ended = false;
  protected failure: { error: unknown } | undefined;
  private waiters: (() => void)[] = [];

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /**
   * Waits until at least `minBytes` are buffered. Resolves `false` if the source ended first (the bytes that
   * did arrive stay buffered); rejects with the source's error if it failed.
   */
  async fill(minBytes: number): Promise<boolean> {
    while (this.bufferedBytes < minBytes) {
      if (this.failure) throw this.failure.error;
      if (this.ended) return false;
      this.want(minBytes);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return true;
  }

  /** The byte `index` bytes past the read position; `index` must be below `buffered`. */
  byteAt(index: number): number {
    let i = this.offset + index;
    for (const chunk of this.chunks) {
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    throw new RangeError(`byteAt(${index}) beyond the ${this.bufferedBytes} buffered bytes`);
  }

  /** Position of the first `byte` at or after the read position (relative to it), or -1 if none is buffered. */
  indexOf(byte: number): number {
    let base = 0;
    let start = this.offset;
    for (const chunk of this.chunks) {
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
    const chunk = this.chunks[0];
    if (chunk === undefined) return 0;
    const n = Math.min(maxBytes, chunk.length - this.offset, target.length - targetOffset);
    chunk.copy(target, targetOffset, this.offset, this.offset + n);
    this.consume(n);
    return n;
  }

  /**
   * Consumes `n` buffered bytes and returns them: a view when they lie in one chunk and the source never reuses
   * its chunks, else a copy.
   */
  take(n: number): Buffer {
    if (n > this.bufferedBytes) throw new RangeError(`take(${n}) beyond the ${this.bufferedBytes} buffered bytes`);
    const chunk = this.chunks[0];
    if (this.viewsStayValid && chunk !== undefined && chunk.length - this.offset >= n) {
      const view = chunk.subarray(this.offset, this.offset + n);
      this.consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) filled += this.copyInto(out, filled, n - filled);
    return out;
  }

  /** Consumes and discards `n` buffered bytes. */
  skip(n: number): void {
    if (n > this.bufferedBytes) throw new RangeError(`skip(${n}) beyond the ${this.bufferedBytes} buffered bytes`);
    while (n > 0) {
      const step = Math.min(n, this.chunks[0]!.length - this.offset);
      this.consume(step);
      n -= step;
    }
  }

  /**
   * Reads up to `length` (≥ 1) bytes straight into `target` at `offset`, blocking until some arrive, when nothing is
   * buffered and the source can (a descriptor with no read in flight): the bytes skip the queue and its copy.
   * Returns the count, 0 at the end of the input, or undefined when it cannot (then `fill` as usual).
   */
  readInto(_target: Uint8Array, _offset: number, _length: number): number | undefined {
    return undefined;
  }

  /** Tries to buffer at least `minBytes` with blocking reads of exactly what is missing; false when it cannot. */
  fillSync(_minBytes: number): boolean {
    return false;
  }

  /**
   * While on, the source reads only when asked (no read-ahead), so that {@link readInto} and {@link fillSync} can
   * take the bytes as they come. For a consumer that will read a long run of known length.
   */
  setDirect(_on: boolean): void {}

  /** Whether a view of a chunk stays valid after it is consumed (false for a source that reuses its buffers). */
  protected abstract readonly viewsStayValid: boolean;
  /** Asks the source for more, at least `minBytes` buffered in all. */
  protected abstract want(minBytes: number): void;
  /** A chunk was used up (a source may reuse its buffer). */
  protected released(_chunk: Buffer): void {}
  /** Something was consumed (a paused source may resume). */
  protected consumed(): void {}

  /** Adds a received chunk. */
  protected push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** Wakes every `fill` waiting (after data, the end, or a failure). */
  protected notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Advances within the current chunk, dropping it once used up. */
  private consume(n: number): void {
    this.offset += n;
    this.bufferedBytes -= n;
    const chunk = this.chunks[0];
    if (chunk !== undefined && this.offset >= chunk.length) {
      this.chunks.shift();
      this.offset = 0;
      this.released(chunk);
    }
    this.consumed();
  }
}

/**
 * Reads a Readable. Chunks are kept as delivered, so a read that falls inside one chunk is a zero-copy view of it.
 */
export class StreamReader extends ByteReader {
  protected readonly viewsStayValid = true;
  readonly #stream: Readable;
  #listening = false;
  #paused = false;

  constructor(stream: Readable) {
    super();
    this.#stream = stream;
  }

  protected want(): void {
    this.#listen();
    // A single read may need more than the high-water mark (a large cat-file object).
    this.#resume();
  }

  protected override consumed(): void {
    if (this.#paused && this.bufferedBytes < HIGH_WATER_BYTES / 2) this.#resume();
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#stream.resume();
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
      this.push(chunk);
      if (this.bufferedBytes >= HIGH_WATER_BYTES && !this.#paused) {
        this.#paused = true;
        stream.pause();
      }
      this.notify();
    });
    const end = () => {
      this.ended = true;
      this.notify();
    };
    stream.once('end', end);
    // A stream destroyed without 'end' (a killed child's pipe) ends here.
    stream.once('close', end);
    stream.on('error', (error: unknown) => {
      this.failure = { error };
      this.notify();
    });
    if (stream.readableEnded || stream.destroyed) end();
  }
}

/**
 * Reads a file descriptor with no Node stream in between: each read lands in a reused 1 MiB buffer, so a
 * gigabyte arriving costs no garbage and no fresh memory. Reads run on libuv's pool (the descriptor must be
 * blocking: never touch `process.stdin` when reading fd 0 this way). `take` always copies.
 */
export class FdReader extends ByteReader {
  protected readonly viewsStayValid = false;
  readonly #fd: number;
  readonly #idle: Buffer[] = [];
  #reading = false;

  constructor(fd: number) {
    super();
    this.#fd = fd;
  }

  protected override released(chunk: Buffer): void {
    // Read-ahead chunks are views of FD_CHUNK_BYTES buffers that own their memory (allocUnsafeSlow): take the whole
    // back. (A header read by fillSync is a small buffer of its own: left to the garbage collector.)
    if (this.#idle.length < FD_IDLE_CHUNKS && chunk.buffer.byteLength === FD_CHUNK_BYTES) {
      this.#idle.push(Buffer.from(chunk.buffer, 0, FD_CHUNK_BYTES));
    }
  }

  protected override consumed(): void {
    if (!this.#direct) this.want(0);
  }

  /** Direct mode (see ByteReader.setDirect); off again when a blocking read is refused (a non-blocking descriptor). */
  #direct = false;
  #directRefused = false;

  override setDirect(on: boolean): void {
    this.#direct = on && !this.#directRefused;
    if (!this.#direct) this.want(0);
  }

  /** One blocking read; undefined when the descriptor turns out to be non-blocking (direct mode is then off). */
  #readSync(target: Uint8Array, offset: number, length: number): number | undefined {
    try {
      return readSync(this.#fd, target, offset, length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        this.#directRefused = true;
        this.#direct = false;
        return undefined;
      }
      this.failure = { error };
      throw error;
    }
  }

  override readInto(target: Uint8Array, offset: number, length: number): number | undefined {
    // 0 means the end of the input: asking for nothing would look like it.
    if (length <= 0) throw new RangeError(`readInto: length ${length} must be at least 1`);
    if (!this.#direct || this.bufferedBytes > 0 || this.#reading || this.failure) return undefined;
    if (this.ended) return 0;
    const n = this.#readSync(target, offset, length);
    if (n === 0) this.ended = true;
    return n;
  }

  override fillSync(minBytes: number): boolean {
    while (this.bufferedBytes < minBytes) {
      if (!this.#direct || this.#reading || this.failure || this.ended) return false;
      const missing = minBytes - this.bufferedBytes;
      const buffer = Buffer.allocUnsafe(missing);
      const n = this.#readSync(buffer, 0, missing);
      if (n === undefined) return false;
      if (n === 0) {
        this.ended = true;
        return false;
      }
      this.push(buffer.subarray(0, n));
    }
    return true;
  }

  /** Keeps one read in flight while less than HIGH_WATER_BYTES (or `atLeast`) is buffered; see setDirect. */
  protected want(atLeast: number): void {
    if (this.#reading || this.ended || this.failure) return;
    // In direct mode only what a reader waits for: the rest is read straight into its buffers.
    if (this.bufferedBytes >= (this.#direct ? atLeast : Math.max(atLeast, HIGH_WATER_BYTES))) return;
    this.#reading = true;
    const buffer = this.#idle.pop() ?? Buffer.allocUnsafeSlow(FD_CHUNK_BYTES);
    read(this.#fd, buffer, 0, buffer.length, null, (error, n) => {
      this.#reading = false;
      if (error) {
        this.#idle.push(buffer);
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          // A non-blocking descriptor after all: poll rather than fail.
          setTimeout(() => this.want(atLeast), 1);
          return;
        }
        this.failure = { error };
      } else if (n === 0) {
        this.ended = true;
        this.#idle.push(buffer);
      } else {
        this.push(buffer.subarray(0, n));
        this.want(atLeast);
      }
      this.notify();
    });
  }
}
