// SHA-256 of tensors on worker threads: the filter's main thread only reads git's stream and hands pieces over
// (shared memory, no copy); tensors are hashed in parallel, one worker per tensor. Falls back to the calling
// thread where the compiled worker is absent (running from TypeScript sources).

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** An incremental SHA-256 whose work may happen on another thread. */
export interface TensorHash {
  /** Adds bytes; they must not change afterwards (they may be read later, on another thread). */
  update(piece: Uint8Array): void;
  digest(): Promise<string>;
}

class LocalHash implements TensorHash {
  private readonly h = createHash('sha256');
  update(piece: Uint8Array): void {
    this.h.update(piece);
  }
  digest(): Promise<string> {
    return Promise.resolve(this.h.digest('hex'));
  }
}

export class HashPool {
  private readonly workers: { worker: Worker; open: number }[] = [];
  private readonly waiting = new Map<number, (hex: string) => void>();
  private key = 0;
  private next = 0;

  private constructor(script: URL, size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script);
      const slot = { worker, open: 0 };
      worker.on('message', (m: { key: number; hex: string }) => {
        if (--slot.open === 0) worker.unref();
        this.waiting.get(m.key)?.(m.hex);
        this.waiting.delete(m.key);
      });
      // Unref only now: adding a 'message' listener refs the worker again (Node's MessagePort semantics).
      worker.unref();
      this.workers.push(slot);
    }
  }

  private static instance: HashPool | null | undefined;

  /** The process's pool, or undefined when the compiled worker script is absent. */
  static shared(): HashPool | undefined {
    if (HashPool.instance === undefined) {
      const script = new URL('./hash-worker.js', import.meta.url);
      HashPool.instance =
        script.protocol === 'file:' && existsSync(fileURLToPath(script))
          ? new HashPool(script, Math.max(1, availableParallelism()))
          : null;
    }
    return HashPool.instance ?? undefined;
  }

  /** A new incremental hash on the next worker (round robin). */
  begin(): TensorHash {
    const slot = this.workers[this.next++ % this.workers.length]!;
    const key = this.key++;
    return {
      update: (piece) => {
        // Shared memory crosses threads without a copy; anything else is copied by postMessage.
        slot.worker.postMessage({ key, piece });
      },
      digest: () =>
        new Promise<string>((resolve) => {
          // Only a pending digest keeps the process alive: an abandoned hash never blocks exit.
          if (slot.open++ === 0) slot.worker.ref();
          this.waiting.set(key, resolve);
          slot.worker.postMessage({ key, end: true });
        }),
    };
  }
}

/** An incremental hash on a worker when possible, else on this thread. */
export function beginTensorHash(): TensorHash {
  return HashPool.shared()?.begin() ?? new LocalHash();
}

/** Allocates a buffer on shared memory (so pieces can go to worker threads uncopied). */
export function allocateShared(bytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(bytes));
}
