// Exact-length reads over an async stream of byte chunks (what the git filter protocol delivers), with a
// replayable prefix so a format parser can look at the head of a stream before it is consumed.

/** Reads exact byte counts from an async iterable of chunks. */
export class ByteStream {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private done = false;
  /** Bytes handed out so far. */
  position = 0;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  /** Puts bytes back in front of the stream (they are returned again by the next reads). */
  unshift(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.pending.unshift(bytes);
    this.pendingBytes += bytes.length;
    this.position -= bytes.length;
  }

  private async fill(min: number): Promise<void> {
    while (this.pendingBytes < min && !this.done) {
      const r = await this.iterator.next();
      if (r.done) {
        this.done = true;
        break;
      }
      if (r.value.length === 0) continue;
      this.pending.push(r.value);
      this.pendingBytes += r.value.length;
    }
  }

  /**
   * The next chunk of at most `max` bytes, without copying when possible; an empty array at the end.
   */
  async next(max: number): Promise<Uint8Array> {
    await this.fill(1);
    const first = this.pending[0];
    if (!first) return new Uint8Array(0);
    let out: Uint8Array;
    if (first.length <= max) {
      out = first;
      this.pending.shift();
    } else {
      out = first.subarray(0, max);
      this.pending[0] = first.subarray(max);
    }
    this.pendingBytes -= out.length;
    this.position += out.length;
    return out;
  }

  /** Exactly `n` bytes, or fewer only at the end of the stream. Copies only when a read spans chunks. */
  async read(n: number): Promise<Uint8Array> {
    await this.fill(n);
    const first = this.pending[0];
    if (first && first.length >= n) return this.next(n);
    const out = new Uint8Array(Math.min(n, this.pendingBytes));
    let at = 0;
    while (at < out.length) {
      const part = await this.next(out.length - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Reads and discards the rest of the stream; returns how many bytes that was. */
  async drain(): Promise<number> {
    let n = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    while (!this.done) {
      const r = await this.iterator.next();
      if (r.done) this.done = true;
      else n += r.value.length;
    }
    this.position += n;
    return n;
  }

  /** True when no bytes remain. */
  async atEnd(): Promise<boolean> {
    await this.fill(1);
    return this.pendingBytes === 0;
  }
}

/** Concatenates chunks into one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
