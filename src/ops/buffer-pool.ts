// Reuses the 1 MiB buffers git's content arrives in: pieces come back from the hashing and compression threads
// and go out again for the next pieces. Bounds the filter's memory by use, not by when the garbage collector
// runs, and saves faulting in fresh memory for every MiB.

/** Buffers of one size, handed out and taken back explicitly. */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  constructor(
    readonly sizeBytes: number,
    /** Idle buffers kept at most; the rest are left to the garbage collector. */
    private readonly maxIdle: number,
  ) {}

  /** A buffer of `bytes` (from the pool when it is the pool's size). */
  take(bytes: number): Uint8Array {
    if (bytes === this.sizeBytes) {
      const b = this.free.pop();
      if (b) return new Uint8Array(b);
    }
    return new Uint8Array(bytes);
  }

  /** Gives a buffer back; the caller must hold no view of it any more. Other sizes are ignored. */
  give(buffer: ArrayBufferLike): void {
    if (buffer instanceof ArrayBuffer && buffer.byteLength === this.sizeBytes && this.free.length < this.maxIdle) {
      this.free.push(buffer);
    }
  }
}
