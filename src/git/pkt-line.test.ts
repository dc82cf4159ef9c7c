// pkt-line framing: reader edge cases (bad headers, truncation, any chunking), content coalescing, writer
// bytes and backpressure. Packets are built by hand.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GitError } from '../errors.js';
import { CONTENT_CHUNK_BYTES, PKT_MAX_DATA_BYTES, PktLineReader, PktLineWriter } from './pkt-line.js';

// Built by hand, never with PktLineWriter, so that a writer bug cannot hide a reader bug.
function header(totalLength: number): Buffer {
  return Buffer.from(totalLength.toString(16).padStart(4, '0'), 'latin1');
}
function packet(payload: Uint8Array | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  return Buffer.concat([header(body.length + 4), body]);
}
function text(line: string): Buffer {
  return packet(`${line}\n`);
}
const FLUSH = Buffer.from('0000', 'latin1');
/** `bytes` as content packets of `size` bytes (git uses the maximum), then a flush. */
function content(bytes: Uint8Array, size = PKT_MAX_DATA_BYTES): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) parts.push(packet(bytes.subarray(at, at + size)));
  parts.push(FLUSH);
  return Buffer.concat(parts);
}
/** A stream delivering `bytes` in chunks of the given sizes (cycled), then ending. */
function streamOf(bytes: Uint8Array, chunkSizes: readonly number[] = [bytes.length || 1]): PassThrough {
  const stream = new PassThrough();
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const size = Math.max(1, chunkSizes[i++ % chunkSizes.length]!);
    stream.write(bytes.subarray(at, at + size));
    at += size;
  }
  stream.end();
  return stream;
}
async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(Buffer.from(chunk));
  return out;
}
async function expectProtocolError(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitError);
  expect((error as GitError).code).toBe('GIT_PROTOCOL');
  expect((error as GitError).message).toMatch(message);
}

describe('PktLineReader', () => {
  it('reads data packets, text packets, flushes and a clean end of input', async () => {
    const input = Buffer.concat([text('git-filter-client'), text('version=2'), FLUSH, packet('raw'), FLUSH]);
    const reader = new PktLineReader(streamOf(input, [3, 1, 7]));
    expect(await reader.readTextListUntilFlush()).toEqual(['git-filter-client', 'version=2']);
    expect(Buffer.from((await reader.readPacket()) as Uint8Array).toString()).toBe('raw');
    expect(await reader.readTextPacket()).toBeNull();
    expect(await reader.atEof()).toBe(true);
    expect(await reader.readPacket()).toBe('eof');
  });

  it('accepts upper-case hex and strips only one trailing newline', async () => {
    const body = Buffer.from('a\n\n');
    const reader = new PktLineReader(
      streamOf(Buffer.concat([Buffer.from('0007'), body, Buffer.from('000A'), body, Buffer.from('xyz')])),
    );
    expect(await reader.readTextPacket()).toBe('a\n');
    expect(Buffer.from((await reader.readPacket()) as Uint8Array).toString()).toBe('a\n\nxyz');
  });

  it.each([
    ['0001', /bad pkt-line length 0001/],
    ['0002', /bad pkt-line length 0002/],
    ['0003', /bad pkt-line length 0003/],
    ['fff1', /length 65521 exceeds the limit of 65520/],
    ['00g4', /bad pkt-line header "00g4"/],
    ['-004', /bad pkt-line header "-004"/],
  ])('rejects the header %s with GIT_PROTOCOL', async (bad, message) => {
    const reader = new PktLineReader(streamOf(Buffer.from(`${bad}abcdefgh`, 'latin1')));
    await expectProtocolError(reader.readPacket(), message);
    // The bad header stays unread: the stream cannot resynchronise.
    await expectProtocolError(reader.readPacket(), message);
  });

  it('rejects input that ends inside a header, a packet, or a content section', async () => {
    await expectProtocolError(new PktLineReader(streamOf(Buffer.from('00'))).readPacket(), /inside a pkt-line header/);
    await expectProtocolError(new PktLineReader(streamOf(Buffer.from('0010abc'))).readPacket(), /inside a packet/);
    await expectProtocolError(new PktLineReader(streamOf(FLUSH.subarray(0, 0))).readTextPacket(), /text packet/);
    const truncated = content(Buffer.alloc(100)).subarray(0, -4);
    await expectProtocolError(collect(new PktLineReader(streamOf(truncated)).readContent()), /no flush/);
  });

  it.each([0, 1, PKT_MAX_DATA_BYTES, PKT_MAX_DATA_BYTES + 1, 5 * 1024 * 1024 + 3])(
    'reads %i bytes of content as large contiguous chunks',
    async (size) => {
      const bytes = randomBytes(size);
      const input = Buffer.concat([content(bytes), text('after')]);
      const reader = new PktLineReader(streamOf(input, [65536, 1000, 1, 300_000]));
      const chunks = await collect(reader.readContent());
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
      // Every chunk but the last is a full 1 MiB.
      for (const chunk of chunks.slice(0, -1)) expect(chunk.length).toBe(CONTENT_CHUNK_BYTES);
      expect(chunks.length).toBe(Math.ceil(size / CONTENT_CHUNK_BYTES));
      expect(await reader.readTextPacket()).toBe('after');
    },
  );

  it('reassembles packets delivered one byte at a time, and accepts empty packets', async () => {
    const bytes = randomBytes(3000);
    const input = Buffer.concat([
      packet(bytes.subarray(0, 1000)),
      Buffer.from('0004'),
      content(bytes.subarray(1000), 7),
    ]);
    const chunks = await collect(new PktLineReader(streamOf(input, [1])).readContent());
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
  });

  it('reads any payload, split into any packets and delivered in any chunks (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3 * PKT_MAX_DATA_BYTES }),
        fc.integer({ min: 1, max: PKT_MAX_DATA_BYTES }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 8 }),
        async (bytes, packetSize, chunkSizes) => {
          const reader = new PktLineReader(streamOf(Buffer.concat([content(bytes, packetSize), FLUSH]), chunkSizes));
          const chunks = await collect(reader.readContent());
          expect(Buffer.concat(chunks).equals(Buffer.from(bytes))).toBe(true);
          expect(await reader.readPacket()).toBe('flush');
          expect(await reader.readPacket()).toBe('eof');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('drains what a consumer left unread, then refuses to be read again', async () => {
    const bytes = randomBytes(3 * CONTENT_CHUNK_BYTES + 5);
    const reader = new PktLineReader(streamOf(Buffer.concat([content(bytes), text('next')])));
    const section = reader.readContent();
    const iterator = section[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toHaveLength(CONTENT_CHUNK_BYTES);
    await expect(reader.readTextPacket()).rejects.toThrow(/not read to its flush/);
    expect(await section.drain()).toBe(2 * CONTENT_CHUNK_BYTES + 5);
    expect(section.sizeBytes).toBe(bytes.length);
    await expect(iterator.next()).rejects.toThrow(/after it was drained/);
    expect(await reader.readTextPacket()).toBe('next');
  });

  it('bounds its buffering when the consumer is slow', async () => {
    const input = new PassThrough();
    const reader = new PktLineReader(input);
    const payload = Buffer.alloc(PKT_MAX_DATA_BYTES, 7);
    const onePacket = packet(payload);
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < 600; i++) {
        written++;
        if (!input.write(onePacket)) await new Promise((resolve) => input.once('drain', resolve));
      }
      input.end(FLUSH);
    })();
    const iterator = reader.readContent()[Symbol.asyncIterator]();
    await iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // 600 packets are ~39 MiB; the reader pauses its source at 4 MiB.
    expect(written * onePacket.length).toBeLessThan(8 * 1024 * 1024);
    let total = CONTENT_CHUNK_BYTES;
    for (let step = await iterator.next(); !step.done; step = await iterator.next()) total += step.value.length;
    await writing;
    expect(total).toBe(600 * PKT_MAX_DATA_BYTES);
  });
});

/** A sink that takes its time, recording the most it ever had queued. */
class SlowSink extends Writable {
  readonly #parts: Buffer[] = [];
  maxQueuedBytes = 0;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.maxQueuedBytes = Math.max(this.maxQueuedBytes, this.writableLength);
    this.#parts.push(chunk);
    setImmediate(callback);
  }
  /** Everything written, once the writes have been processed. */
  async parts(): Promise<Buffer[]> {
    await new Promise((resolve) => this.end(resolve));
    return this.#parts;
  }
}

describe('PktLineReader on a descriptor (content read straight into its buffers)', () => {
  /** Text packets, a content section of `bytes` in packets of the given sizes, then more packets. */
  function session(bytes: Uint8Array, sizes: readonly number[]): Buffer {
    const parts: Buffer[] = [text('command=clean'), FLUSH];
    let i = 0;
    for (let at = 0; at < bytes.length; ) {
      const size = Math.max(1, sizes[i++ % sizes.length]!);
      parts.push(packet(bytes.subarray(at, at + size)));
      at += size;
    }
    parts.push(FLUSH, text('after'), FLUSH);
    return Buffer.concat(parts);
  }

  async function readSession(reader: PktLineReader, bytes: Uint8Array, endsAfter = true): Promise<void> {
    expect(await reader.readTextListUntilFlush()).toEqual(['command=clean']);
    const chunks = await collect(reader.readContent());
    expect(Buffer.concat(chunks).equals(Buffer.from(bytes))).toBe(true);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.length).toBe(CONTENT_CHUNK_BYTES);
    expect(await reader.readTextListUntilFlush()).toEqual(['after']);
    if (endsAfter) expect(await reader.readPacket()).toBe('eof');
  }

  function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
    const dir = mkdtempSync(join(tmpdir(), 'weft-pkt-'));
    return run(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
  }

  it('reads a file: full packets, short ones, an empty one, and the packets after the section', async () => {
    await withTempDir(async (dir) => {
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      const file = join(dir, 'input');
      writeFileSync(file, session(bytes, [PKT_MAX_DATA_BYTES, PKT_MAX_DATA_BYTES, 1, 0, 1000]));
      const fd = openSync(file, 'r');
      try {
        await readSession(new PktLineReader({ fd }), bytes);
      } finally {
        closeSync(fd);
      }
    });
  });

  it('drains a section with direct reads, read in part or not at all, and reads on after it', async () => {
    await withTempDir(async (dir) => {
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      const file = join(dir, 'input');
      const one = session(bytes, [PKT_MAX_DATA_BYTES, 5, PKT_MAX_DATA_BYTES, 0]);
      writeFileSync(file, Buffer.concat([one, one]));
      const fd = openSync(file, 'r');
      try {
        const reader = new PktLineReader({ fd });
        // Read one chunk, then drain the rest.
        expect(await reader.readTextListUntilFlush()).toEqual(['command=clean']);
        const section = reader.readContent();
        const iterator = section[Symbol.asyncIterator]();
        expect((await iterator.next()).value).toHaveLength(CONTENT_CHUNK_BYTES);
        expect(await section.drain()).toBe(bytes.length - CONTENT_CHUNK_BYTES);
        expect(section.sizeBytes).toBe(bytes.length);
        expect(await reader.readTextListUntilFlush()).toEqual(['after']);
        // Drain a whole section unread (a filter that answers without the content).
        expect(await reader.readTextListUntilFlush()).toEqual(['command=clean']);
        expect(await reader.readContent().drain()).toBe(bytes.length);
        expect(await reader.readTextListUntilFlush()).toEqual(['after']);
        expect(await reader.readPacket()).toBe('eof');
      } finally {
        closeSync(fd);
      }
    });
  });

  it('reads a blocking pipe (a FIFO) that a slow writer fills in uneven pieces', async () => {
    await withTempDir(async (dir) => {
      const bytes = randomBytes(2 * 1024 * 1024 + 5);
      const input = join(dir, 'input');
      writeFileSync(input, session(bytes, [PKT_MAX_DATA_BYTES, 7, PKT_MAX_DATA_BYTES]));
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      // Pieces of 1–70 000 bytes with pauses: reads return parts of headers and of payloads.
      const writer = spawn(process.execPath, [
        '-e',
        `const fs = require('fs'); const b = fs.readFileSync(${JSON.stringify(input)});
         const fd = fs.openSync(${JSON.stringify(fifo)}, 'w'); let at = 0, i = 0;
         const step = () => { if (at >= b.length) { fs.closeSync(fd); return; }
           const n = [1, 3, 70000, 2, 65520, 4096][i++ % 6]; fs.writeSync(fd, b.subarray(at, at + n)); at += n;
           if (i % 40 === 0) setTimeout(step, 1); else step(); };
         step();`,
      ]);
      const exited = new Promise((resolve) => writer.once('exit', resolve));
      const fd = openSync(fifo, 'r'); // blocks until the writer opens its end
      try {
        await readSession(new PktLineReader({ fd }), bytes);
      } finally {
        closeSync(fd);
      }
      expect(await exited).toBe(0);
    });
  });

  it('falls back to queued reads on a non-blocking descriptor', async () => {
    await withTempDir(async (dir) => {
      const bytes = randomBytes(1024 * 1024 + 3);
      const input = join(dir, 'input');
      writeFileSync(input, session(bytes, [PKT_MAX_DATA_BYTES, 5]));
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      // Read-write and non-blocking: opening never waits, and a blocking read is refused (EAGAIN) when it is empty.
      const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      const writer = spawn('cp', [input, fifo]);
      const exited = new Promise((resolve) => writer.once('exit', resolve));
      try {
        // This reader holds a write end too, so the input never ends: read up to the last packets only.
        await readSession(new PktLineReader({ fd }), bytes, false);
      } finally {
        closeSync(fd);
      }
      expect(await exited).toBe(0);
    });
  });

  it('reports a section cut short by the end of input', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'input');
      writeFileSync(file, Buffer.concat([text('x'), FLUSH, content(randomBytes(200_000)).subarray(0, 150_000)]));
      const fd = openSync(file, 'r');
      try {
        const reader = new PktLineReader({ fd });
        await reader.readTextListUntilFlush();
        await expectProtocolError(collect(reader.readContent()), /input ended inside/);
      } finally {
        closeSync(fd);
      }
    });
  });
});

describe('PktLineWriter', () => {
  it('writes text packets, data packets and flushes byte for byte', async () => {
    const sink = new SlowSink();
    const writer = new PktLineWriter(sink);
    await writer.writeText('status=success');
    await writer.writeFlush();
    await writer.writePacket(new Uint8Array([0, 255]));
    expect(Buffer.concat(await sink.parts()).toString('latin1')).toBe('0013status=success\n00000006\x00\xff');
  });

  it('splits content into maximal packets, with exact headers', async () => {
    const sink = new SlowSink();
    const bytes = randomBytes(PKT_MAX_DATA_BYTES + 1);
    await new PktLineWriter(sink).writeContent(bytes);
    const expected = Buffer.concat([
      Buffer.from('fff0'),
      bytes.subarray(0, -1),
      Buffer.from('0005'),
      bytes.subarray(-1),
    ]);
    expect(Buffer.concat(await sink.parts()).equals(expected)).toBe(true);
  });

  it('coalesces small chunks into full packets and ~1 MiB writes', async () => {
    const sink = new SlowSink();
    const pieces = Array.from({ length: 3000 }, (_, i) => randomBytes(i % 1000));
    const total = await new PktLineWriter(sink).writeContentStream(pieces);
    const bytes = Buffer.concat(pieces);
    expect(total).toBe(bytes.length);
    const parts = await sink.parts();
    expect(Buffer.concat(parts).equals(content(bytes).subarray(0, -4))).toBe(true);
    expect(parts.length).toBe(Math.ceil(bytes.length / (16 * PKT_MAX_DATA_BYTES)));
  });

  it('waits for a slow output: 64 MiB never queue more than ~1 MiB', async () => {
    const sink = new SlowSink();
    const block = Buffer.alloc(3 * 1024 * 1024 + 17, 1);
    async function* blocks() {
      for (let i = 0; i < 21; i++) yield block;
    }
    const total = await new PktLineWriter(sink).writeContentStream(blocks());
    expect(total).toBe(21 * block.length);
    expect(sink.maxQueuedBytes).toBeLessThanOrEqual(16 * 65520);
  });

  it('releases each chunk once, only after the output has its bytes', async () => {
    class CopyingSink extends SlowSink {
      override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
        super._write(Buffer.from(chunk), encoding, callback); // a copy, taken when the output gets to it
      }
    }
    const sink = new CopyingSink();
    const chunks = [randomBytes(5000), randomBytes(3 * 1024 * 1024 + 5), randomBytes(70_000), randomBytes(600_000)];
    const expected = Buffer.concat(chunks.map((c) => Buffer.from(c)));
    const released: Uint8Array[] = [];
    const total = await new PktLineWriter(sink).writeContentStream(chunks, (chunk) => {
      released.push(chunk);
      chunk.fill(0xee); // reused at once: a release before the write would corrupt the output
    });
    expect(total).toBe(expected.length);
    expect(released.length).toBe(chunks.length);
    expect(released.every((r, i) => r === chunks[i])).toBe(true);
    const framed = Buffer.concat(await sink.parts());
    const payload: Buffer[] = [];
    for (let at = 0; at < framed.length; ) {
      const length = Number.parseInt(framed.subarray(at, at + 4).toString('latin1'), 16);
      payload.push(framed.subarray(at + 4, at + length));
      at += length;
    }
    expect(Buffer.concat(payload).equals(expected)).toBe(true);
  });

  it('rejects oversized packets and writes to a closed output', async () => {
    const sink = new SlowSink();
    const writer = new PktLineWriter(sink);
    await expect(writer.writePacket(new Uint8Array(PKT_MAX_DATA_BYTES + 1))).rejects.toThrow(/exceeds 65516/);
    sink.destroy();
    await expectProtocolError(writer.writeFlush(), /closed/);
  });

  it('round-trips 8 MiB through the reader', async () => {
    const pipe = new PassThrough();
    const bytes = randomBytes(8 * 1024 * 1024 + 11);
    const writing = (async () => {
      const writer = new PktLineWriter(pipe);
      await writer.writeContent(bytes);
      await writer.writeFlush();
      pipe.end();
    })();
    const chunks = await collect(new PktLineReader(pipe).readContent());
    await writing;
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
  });
});
