// git's pkt-line framing (4 hex digits of total length, then data; "0000" is a flush): a reader over a Readable
// and a writer over a Writable, built for streaming gigabytes. It knows framing only, never what packets mean.

import type { Readable, Writable } from 'node:stream';
import { GitError } from '../errors.js';
import { type ByteReader, FdReader, StreamReader } from './stream-reader.js';

/** Largest packet git sends or accepts, header included (git's LARGE_PACKET_MAX). */
export const PKT_MAX_LENGTH = 65520;
/** Largest payload of one packet: PKT_MAX_LENGTH minus the 4-byte header. */
export const PKT_MAX_DATA_BYTES = PKT_MAX_LENGTH - 4;
/**
 * Size of the buffers the content reader yields, and of the batches the writer hands to the output: large
 * enough that per-chunk costs vanish, small enough that a 1 GiB stream never holds more than a few MiB.
 */
export const CONTENT_CHUNK_BYTES = 1024 * 1024;
/** What a drain reads at a time (a packet's payload is at most 65 516 bytes). */
const DRAIN_SCRATCH_BYTES = 64 * 1024;
/** A drain of direct reads returns to the event loop after this many bytes. */
const DRAIN_YIELD_BYTES = 16 * 1024 * 1024;
/** The writer's batch: a whole number of full packets, ~1 MiB. */
const BATCH_BYTES = 16 * PKT_MAX_LENGTH;
/**
 * Chunks at least this big are not copied into batches: their packets go out as views of the chunk, headers
 * between them, in gathered writes of up to DIRECT_WRITE_BYTES (a checkout's gigabyte is written, not copied).
 */
const DIRECT_MIN_BYTES = 256 * 1024;
const DIRECT_WRITE_BYTES = 15 * PKT_MAX_DATA_BYTES;

const FLUSH_BYTES = Buffer.from('0000', 'latin1');
const HEX_DIGITS = '0123456789abcdef';
/** ASCII byte → hex digit value, or -1. git accepts both cases. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE[HEX_DIGITS.charCodeAt(i)] = i;
  HEX_VALUE[HEX_DIGITS.toUpperCase().charCodeAt(i)] = i;
}

function protocolError(message: string): GitError {
  return new GitError('GIT_PROTOCOL', `git protocol: ${message}`);
}

/**
 * Reads one packet header: the payload length of a data packet, 'flush', or 'eof' if the input ended cleanly
 * before it. Rejects special packets ("0001"–"0003"), non-hex digits and lengths over PKT_MAX_LENGTH, leaving
 * the bad header unconsumed so that reading on meets the same error (a broken stream never resynchronises).
 */
async function readPayloadLength(bytes: ByteReader): Promise<number | 'flush' | 'eof'> {
  if (!(await bytes.fill(4))) {
    if (bytes.buffered === 0) return 'eof';
    throw protocolError(`input ended inside a pkt-line header (${bytes.buffered} of 4 bytes)`);
  }
  let length = 0;
  for (let i = 0; i < 4; i++) {
    const digit = HEX_VALUE[bytes.byteAt(i)]!;
    if (digit < 0) {
      const header = JSON.stringify(String.fromCharCode(...[0, 1, 2, 3].map((j) => bytes.byteAt(j))));
      throw protocolError(`bad pkt-line header ${header}: expected 4 hex digits`);
    }
    length = length * 16 + digit;
  }
  if (length === 0) {
    bytes.skip(4);
    return 'flush';
  }
  if (length < 4) {
    // 0001 (delim) and 0002 (response end) belong to protocol v2 of the transport, not to filters.
    throw protocolError(`bad pkt-line length ${length.toString(16).padStart(4, '0')}: not allowed here`);
  }
  if (length > PKT_MAX_LENGTH) {
    throw protocolError(`pkt-line length ${length} exceeds the limit of ${PKT_MAX_LENGTH}`);
  }
  bytes.skip(4);
  return length - 4;
}

async function fillOrFail(bytes: ByteReader, n: number, where: string): Promise<void> {
  if (!(await bytes.fill(n))) {
    throw protocolError(`input ended inside ${where} (${bytes.buffered} of ${n} bytes arrived)`);
  }
}

function decodeText(payload: Uint8Array): string {
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/**
 * Reads pkt-lines from a Readable (git's stdout, or our stdin in a filter process). One consumer at a time;
 * a content section must be read (or drained) completely before the next packet.
 *
 * @example
 * const reader = new PktLineReader(process.stdin);
 * const hello = await reader.readTextListUntilFlush(); // ['git-filter-client', 'version=2']
 */
export class PktLineReader {
  readonly #bytes: ByteReader;
  #content: PacketContent | undefined;

  /** `{ fd }` reads a descriptor directly (a blocking pipe or file: git's end of a filter process). */
  constructor(input: Readable | { fd: number }) {
    this.#bytes = 'read' in input ? new StreamReader(input) : new FdReader(input.fd);
  }

  /** The next packet: its payload (a view, valid forever), 'flush', or 'eof' if the input ended between packets. */
  async readPacket(): Promise<Uint8Array | 'flush' | 'eof'> {
    this.#assertIdle();
    const length = await readPayloadLength(this.#bytes);
    if (typeof length !== 'number') return length;
    await fillOrFail(this.#bytes, length, 'a packet');
    return this.#bytes.take(length);
  }

  /** The next packet as UTF-8 text without its trailing newline, or `null` for a flush; rejects at EOF. */
  async readTextPacket(): Promise<string | null> {
    const packet = await this.readPacket();
    if (packet === 'eof') throw protocolError('input ended where a text packet was expected');
    return packet === 'flush' ? null : decodeText(packet);
  }

  /** Text packets up to the next flush (consumed). Rejects at EOF. */
  async readTextListUntilFlush(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readTextPacket();
      if (line === null) return lines;
      lines.push(line);
    }
  }

  /** Whether the input ended cleanly at a packet boundary (waits for the next byte or the end). */
  async atEof(): Promise<boolean> {
    this.#assertIdle();
    return !(await this.#bytes.fill(1));
  }

  /**
   * The data packets up to the next flush, as one readable-once stream of large buffers (see PacketContent).
   *
   * @example
   * let size = 0;
   * for await (const chunk of reader.readContent()) size += chunk.length;
   */
  readContent(allocate?: ContentAllocator): PacketContent {
    this.#assertIdle();
    const content = new PacketContent(this.#bytes, allocate);
    this.#content = content;
    return content;
  }

  #assertIdle(): void {
    if (this.#content !== undefined && !this.#content.finished) {
      throw new Error('PktLineReader: the previous content section was not read to its flush; drain() it first');
    }
  }
}

/**
 * One content section: data packets up to a flush, yielded as contiguous buffers of up to CONTENT_CHUNK_BYTES
 * (many 65516-byte packets coalesced with one copy each). Every yielded buffer is fresh and owned by the
 * consumer. Iterate it once; `drain()` discards whatever was not read, after which reading it is an error.
 */
/**
 * Makes the buffers content is delivered in (default: `Buffer.allocUnsafe`). A filter that hands chunks to worker
 * threads can take them from a pool and recycle them, instead of allocating fresh memory for every chunk.
 */
export type ContentAllocator = (bytes: number) => Uint8Array;

export class PacketContent implements AsyncIterable<Uint8Array> {
  readonly #bytes: ByteReader;
  /** Payload bytes of the current packet not yet consumed. */
  #remaining = 0;
  #finished = false;
  #drained = false;
  #started = false;
  #sizeBytes = 0;

  readonly #allocate: (bytes: number) => Buffer;

  constructor(bytes: ByteReader, allocate?: ContentAllocator) {
    this.#bytes = bytes;
    this.#allocate = allocate
      ? (n) => {
          const u = allocate(n);
          return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
        }
      : (n) => Buffer.allocUnsafe(n);
  }

  /** Whether the terminating flush has been read. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Payload bytes consumed so far (read or drained). */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#started) throw new Error('PacketContent can be iterated only once');
    this.#started = true;
    return this.#chunks();
  }

  /**
   * Discards the rest of the section up to and including its flush; returns the bytes discarded. Like reading,
   * it takes the bytes straight from the descriptor where it can (a 1 GiB file git sends a filter that answers
   * without it — a racily clean file — drains in about half the time), through the queue otherwise.
   */
  async drain(): Promise<number> {
    this.#drained = true;
    let discarded = 0;
    let sinceYield = 0;
    let scratch: Uint8Array | undefined;
    const bytes = this.#bytes;
    bytes.setDirect(true);
    try {
      while (!this.#finished) {
        if (this.#remaining === 0) {
          bytes.fillSync(4);
          await this.#nextPacket();
          continue;
        }
        scratch ??= new Uint8Array(DRAIN_SCRATCH_BYTES);
        let n = bytes.readInto(scratch, 0, Math.min(this.#remaining, scratch.length));
        if (n === 0) throw protocolError('input ended inside a content section (no flush)');
        if (n === undefined) {
          await fillOrFail(bytes, 1, 'a content packet');
          n = Math.min(this.#remaining, bytes.buffered);
          bytes.skip(n);
        } else {
          sinceYield += n;
          if (sinceYield >= DRAIN_YIELD_BYTES) {
            // Blocking reads never return to the event loop by themselves: let it run now and then.
            sinceYield = 0;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
        this.#remaining -= n;
        this.#sizeBytes += n;
        discarded += n;
      }
    } finally {
      bytes.setDirect(false);
    }
    return discarded;
  }

  async #nextPacket(): Promise<void> {
    const length = await readPayloadLength(this.#bytes);
    if (length === 'eof') throw protocolError('input ended inside a content section (no flush)');
    if (length === 'flush') this.#finished = true;
    else this.#remaining = length;
  }

  async *#chunks(): AsyncGenerator<Uint8Array> {
    const bytes = this.#bytes;
    let out: Buffer | undefined;
    let filled = 0;
    /** Whether bytes of the current chunk came through blocking reads (see the yield below). */
    let blocked = false;
    // git streams the whole section without waiting for us: read each header and payload straight from the
    // descriptor (payloads into the content buffers themselves), where the source allows it, not through the queue
    // and a copy. The queue takes over whenever it holds bytes or a direct read is refused.
    bytes.setDirect(true);
    try {
      for (;;) {
        if (this.#drained) throw new Error('content was read after it was drained (the response had begun)');
        if (this.#finished) break;
        if (this.#remaining === 0) {
          bytes.fillSync(4);
          await this.#nextPacket();
          continue;
        }
        out ??= this.#allocate(CONTENT_CHUNK_BYTES);
        const want = Math.min(this.#remaining, CONTENT_CHUNK_BYTES - filled);
        let n = bytes.readInto(out, filled, want);
        if (n === 0) throw protocolError('input ended inside a content section (no flush)');
        if (n !== undefined) blocked = true;
        else {
          if (bytes.buffered === 0) await fillOrFail(bytes, 1, 'a content packet');
          n = bytes.copyInto(out, filled, want);
        }
        filled += n;
        this.#remaining -= n;
        this.#sizeBytes += n;
        if (filled === CONTENT_CHUNK_BYTES) {
          const full = out;
          out = undefined;
          filled = 0;
          yield full;
          // Blocking reads never return to the event loop by themselves: let it run once per chunk, so that
          // buffers the consumer's threads hand back are there to read the next chunks into (fresh memory
          // would fault in page by page inside the reads).
          if (blocked) await new Promise<void>((resolve) => setImmediate(resolve));
          blocked = false;
        }
      }
    } finally {
      bytes.setDirect(false);
    }
    if (out !== undefined && filled > 0) {
      // A small tail gets its own right-sized copy rather than pinning a 1 MiB buffer.
      if (filled * 4 < CONTENT_CHUNK_BYTES) {
        const tail = this.#allocate(filled);
        tail.set(out.subarray(0, filled));
        yield tail;
      } else yield out.subarray(0, filled);
    }
  }
}

/**
 * Writes pkt-lines to a Writable, honouring backpressure: every method resolves once the output can take more,
 * so at most about one batch (~1 MiB) waits in memory. One writer per output; await each call in turn.
 *
 * @example
 * const writer = new PktLineWriter(process.stdout);
 * await writer.writeText('status=success');
 * await writer.writeFlush();
 */
export class PktLineWriter {
  readonly #output: Writable;
  #failure: GitError | undefined;

  constructor(output: Writable) {
    this.#output = output;
    output.on('error', (error: unknown) => {
      this.#failure ??= new GitError('GIT_PROTOCOL', `git protocol: writing to git failed: ${messageOf(error)}`, {
        cause: error,
      });
    });
  }

  /** Writes one data packet; `data` may hold at most PKT_MAX_DATA_BYTES. */
  async writePacket(data: Uint8Array): Promise<void> {
    if (data.length > PKT_MAX_DATA_BYTES) {
      throw protocolError(`packet of ${data.length} bytes exceeds ${PKT_MAX_DATA_BYTES}; use writeContent`);
    }
    const packet = Buffer.allocUnsafe(data.length + 4);
    writeHeader(packet, 0, data.length + 4);
    packet.set(data, 4);
    await this.#write(packet);
  }

  /** Writes `text` plus a newline as one packet (the form git's text packets take). */
  async writeText(text: string): Promise<void> {
    await this.writePacket(Buffer.from(`${text}\n`, 'utf8'));
  }

  /** Writes a flush packet ("0000"). */
  async writeFlush(): Promise<void> {
    await this.#write(FLUSH_BYTES);
  }

  /** Writes `bytes` as full-size data packets (no flush), in ~1 MiB batches. */
  async writeContent(bytes: Uint8Array): Promise<void> {
    await this.writeContentStream([bytes]);
  }

  /**
   * Writes a stream of byte chunks as data packets (no flush), coalescing small chunks into full-size packets
   * and packets into ~1 MiB writes; large chunks are written in place (they must not change until written:
   * give it buffers you no longer touch). Returns the payload byte count. Errors of `chunks` propagate unchanged;
   * bytes not yet written when that happens are dropped. `release` is called with each chunk once the output is
   * done with its memory (copied into a batch, or written), so that it can be reused.
   */
  async writeContentStream(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    release?: (chunk: Uint8Array) => void,
  ): Promise<number> {
    let batch = Buffer.allocUnsafe(BATCH_BYTES);
    let pos = 0;
    /** Where the open packet's header sits in `batch`, or -1. */
    let packetStart = -1;
    let total = 0;
    const closePacket = () => {
      if (packetStart >= 0) writeHeader(batch, packetStart, pos - packetStart);
      packetStart = -1;
    };
    const sendBatch = async () => {
      closePacket();
      if (pos === 0) return;
      const ready = batch.subarray(0, pos);
      // A fresh batch: the output may still hold the old one until it is flushed to the pipe.
      batch = Buffer.allocUnsafe(BATCH_BYTES);
      pos = 0;
      await this.#write(ready);
    };
    for await (const chunk of chunks) {
      if (chunk.length >= DIRECT_MIN_BYTES) {
        await sendBatch();
        for (let at = 0; at < chunk.length; at += DIRECT_WRITE_BYTES) {
          const end = Math.min(chunk.length, at + DIRECT_WRITE_BYTES);
          // The output writes in order: once the last part is written, so is the whole chunk.
          const written = end === chunk.length && release ? () => release(chunk) : undefined;
          await this.#writeDirect(chunk.subarray(at, end), written);
        }
        total += chunk.length;
        continue;
      }
      let i = 0;
      while (i < chunk.length) {
        if (packetStart < 0) {
          if (BATCH_BYTES - pos < 5) await sendBatch();
          packetStart = pos;
          pos += 4;
        }
        const n = Math.min(chunk.length - i, packetStart + PKT_MAX_LENGTH - pos, BATCH_BYTES - pos);
        batch.set(chunk.subarray(i, i + n), pos);
        pos += n;
        i += n;
        total += n;
        if (pos - packetStart === PKT_MAX_LENGTH) closePacket();
        if (pos === BATCH_BYTES) await sendBatch();
      }
      release?.(chunk);
    }
    await sendBatch();
    return total;
  }

  /** `bytes` as full-size packets, each a view of it between headers, in one gathered write (cork/uncork). */
  async #writeDirect(bytes: Uint8Array, written?: () => void): Promise<void> {
    const count = Math.ceil(bytes.length / PKT_MAX_DATA_BYTES);
    const headers = Buffer.allocUnsafe(count * 4);
    const parts: Uint8Array[] = [];
    for (let k = 0; k < count; k++) {
      const start = k * PKT_MAX_DATA_BYTES;
      const end = Math.min(bytes.length, start + PKT_MAX_DATA_BYTES);
      writeHeader(headers, k * 4, end - start + 4);
      parts.push(headers.subarray(k * 4, k * 4 + 4), bytes.subarray(start, end));
    }
    await this.#write(parts, written);
  }

  /** Writes `bytes` (in one gathered write when a list); `written` runs once the output has written them all. */
  async #write(bytes: Uint8Array | readonly Uint8Array[], written?: () => void): Promise<void> {
    const output = this.#output;
    if (this.#failure !== undefined) throw this.#failure;
    if (output.destroyed || output.writableEnded) throw protocolError('the output to git is closed');
    const done = written ? (error?: Error | null) => (error ? undefined : written()) : undefined;
    let ready: boolean;
    if (bytes instanceof Uint8Array) ready = output.write(bytes, done);
    else {
      output.cork();
      ready = true;
      for (let i = 0; i < bytes.length; i++) ready = output.write(bytes[i]!, i === bytes.length - 1 ? done : undefined);
      output.uncork();
    }
    if (ready) return;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: GitError) => {
        output.off('drain', onDrain);
        output.off('error', onError);
        output.off('close', onClose);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onDrain = () => done();
      // The constructor's listener records the failure first; report that one.
      const onError = () => done(this.#failure ?? protocolError('writing to git failed'));
      const onClose = () => done(this.#failure ?? protocolError('the output to git closed while writing'));
      output.on('drain', onDrain);
      output.on('error', onError);
      output.on('close', onClose);
    });
  }
}

function writeHeader(target: Buffer, at: number, length: number): void {
  target[at] = HEX_DIGITS.charCodeAt((length >> 12) & 15);
  target[at + 1] = HEX_DIGITS.charCodeAt((length >> 8) & 15);
  target[at + 2] = HEX_DIGITS.charCodeAt((length >> 4) & 15);
  target[at + 3] = HEX_DIGITS.charCodeAt(length & 15);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
