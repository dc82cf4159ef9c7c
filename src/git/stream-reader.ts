// Pull-style, buffered reading of a Node Readable for the git layer's wire protocols (pkt-line, cat-file):
// exact byte counts with as few copies as possible and bounded buffering. It must not interpret the bytes.

import { read } from 'node:fs';
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

/** Bytes read from a descriptor per call: a grown pipe's whole buffer (see pipe-size.ts). */
const FD_CHUNK_BYTES = 1024 * 1024;
/** Consumed chunk buffers kept for the next reads. */
const FD_IDLE_CHUNKS = 8;

/**
 * The same reads as {@link StreamReader} over a file descriptor, with no Node stream in between: each read
 * lands in a reused 1 MiB buffer, so a gigabyte arriving costs no garbage and no fresh memory. Reads run on
 * libuv's pool (the descriptor must be blocking: never touch `process.stdin` when reading fd 0 this way).
 * Unlike StreamReader, `take` always copies (buffers are reused once consumed).
 */
export class FdReader {
  readonly #fd: number;
  readonly #chunks: { buffer: Buffer; length: number }[] = [];
  readonly #idle: Buffer[] = [];
  #offset = 0;
  #buffered = 0;
  #ended = false;
  #failure: unknown;
  #reading = false;
  #waiters: (() => void)[] = [];

  constructor(fd: number) {
    this.#fd = fd;
  }

  get buffered(): number {
    return this.#buffered;
  }

  async fill(minBytes: number): Promise<boolean> {
    while (this.#buffered < minBytes) {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#ended) return false;
      this.#pump(minBytes);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#pump(0);
    return true;
  }

  byteAt(index: number): number {
    let i = this.#offset + index;
    for (const chunk of this.#chunks) {
      if (i < chunk.length) return chunk.buffer[i]!;
      i -= chunk.length;
    }
    throw new RangeError(`byteAt(${index}) beyond the ${this.#buffered} buffered bytes`);
  }

  indexOf(byte: number): number {
    let base = 0;
    let start = this.#offset;
    for (const chunk of this.#chunks) {
      const at = chunk.buffer.subarray(0, chunk.length).indexOf(byte, start);
      if (at >= 0) return base + at - start;
      base += chunk.length - start;
      start = 0;
    }
    return -1;
  }

  copyInto(target: Uint8Array, targetOffset: number, maxBytes: number): number {
    const chunk = this.#chunks[0];
    if (chunk === undefined) return 0;
    const n = Math.min(maxBytes, chunk.length - this.#offset, target.length - targetOffset);
    chunk.buffer.copy(target, targetOffset, this.#offset, this.#offset + n);
    this.#consume(n);
    return n;
  }

  take(n: number): Buffer {
    if (n > this.#buffered) throw new RangeError(`take(${n}) beyond the ${this.#buffered} buffered bytes`);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) filled += this.copyInto(out, filled, n - filled);
    return out;
  }

  skip(n: number): void {
    if (n > this.#buffered) throw new RangeError(`skip(${n}) beyond the ${this.#buffered} buffered bytes`);
    while (n > 0) {
      const step = Math.min(n, this.#chunks[0]!.length - this.#offset);
      this.#consume(step);
      n -= step;
    }
  }

  #consume(n: number): void {
    this.#offset += n;
    this.#buffered -= n;
    const chunk = this.#chunks[0];
    if (chunk !== undefined && this.#offset >= chunk.length) {
      this.#chunks.shift();
      this.#offset = 0;
      if (this.#idle.length < FD_IDLE_CHUNKS) this.#idle.push(chunk.buffer);
    }
  }

  /** Keeps one read in flight while less than `HIGH_WATER_BYTES` (or `atLeast`) is buffered. */
  #pump(atLeast: number): void {
    if (this.#reading || this.#ended || this.#failure !== undefined) return;
    if (this.#buffered >= Math.max(atLeast, HIGH_WATER_BYTES)) return;
    this.#reading = true;
    const buffer = this.#idle.pop() ?? Buffer.allocUnsafeSlow(FD_CHUNK_BYTES);
    read(this.#fd, buffer, 0, buffer.length, null, (error, n) => {
      this.#reading = false;
      if (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          // A non-blocking descriptor after all: poll rather than fail.
          this.#idle.push(buffer);
          setTimeout(() => this.#pump(atLeast), 1);
          return;
        }
        this.#failure = error;
      } else if (n === 0) {
        this.#ended = true;
        this.#idle.push(buffer);
      } else {
        this.#chunks.push({ buffer, length: n });
        this.#buffered += n;
        this.#pump(atLeast);
      }
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }
}

/** What the pkt-line reader reads from: a Node stream or a descriptor. */
export type ByteReader = StreamReader | FdReader;
