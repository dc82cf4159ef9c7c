// SHA-256 of tensors on worker threads: the filter's main thread only reads git's stream and hands pieces over;
// tensors are hashed in parallel, one worker per tensor. Pieces are moved to the worker and moved back (never
// copied), so the main thread keeps them for compression. Falls back to the calling thread where the compiled
// worker is absent (running from TypeScript sources).

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** An incremental SHA-256 whose work may happen on another thread. */
export interface TensorHash {
  /**
   * Adds bytes. The piece may move to another thread: use only the returned bytes afterwards (same contents;
   * a piece that does not own its whole buffer is copied first).
   */
  update(piece: Uint8Array): Promise<Uint8Array>;
  digest(): Promise<string>;
}

class LocalHash implements TensorHash {
  private readonly h = createHash('sha256');
  update(piece: Uint8Array): Promise<Uint8Array> {
    this.h.update(piece);
    return Promise.resolve(piece);
  }
  digest(): Promise<string> {
    return Promise.resolve(this.h.digest('hex'));
  }
}

interface Waiting {
  pieces: ((piece: Uint8Array) => void)[];
  digest?: (hex: string) => void;
  /** Rejects everything still awaited from this hash (its worker failed). */
  fail: (error: Error) => void;
  worker: Worker;
}

export class HashPool {
  private readonly workers: { worker: Worker; open: number }[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private key = 0;
  private next = 0;

  private constructor(script: URL, size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script);
      const slot = { worker, open: 0 };
      worker.on('message', (m: { key: number; piece?: Uint8Array; hex?: string }) => {
        const w = this.waiting.get(m.key);
        if (!w) return;
        if (m.piece) w.pieces.shift()?.(m.piece);
        if (m.hex !== undefined) {
          this.waiting.delete(m.key);
          w.digest?.(m.hex);
        }
        if (--slot.open === 0) worker.unref();
      });
      // A worker that dies must not leave a filter waiting forever: fail what it owed.
      const failAll = (error: Error) => {
        for (const [key, w] of this.waiting) {
          if (w.worker !== worker) continue;
          this.waiting.delete(key);
          w.fail(error);
        }
        slot.open = 0;
        worker.unref();
      };
      worker.on('error', failAll);
      worker.on('exit', (code) => failAll(new Error(`hash worker exited with code ${code}`)));
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
    const rejects: ((error: Error) => void)[] = [];
    const waiting: Waiting = {
      pieces: [],
      worker: slot.worker,
      fail: (error) => {
        for (const r of rejects.splice(0)) r(error);
      },
    };
    this.waiting.set(key, waiting);
    const expect = () => {
      // Every answer expected keeps the process alive until it comes.
      if (slot.open++ === 0) slot.worker.ref();
    };
    return {
      update: (piece) => {
        // (a copy by construction: Buffer#slice would be a view, and moving it would detach the whole buffer)
        const owned =
          piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength ? piece : new Uint8Array(piece);
        expect();
        const back = new Promise<Uint8Array>((resolve, reject) => {
          waiting.pieces.push(resolve);
          rejects.push(reject);
        });
        slot.worker.postMessage({ key, piece: owned }, [owned.buffer as ArrayBuffer]);
        return back;
      },
      digest: () =>
        new Promise<string>((resolve, reject) => {
          waiting.digest = resolve;
          rejects.push(reject);
          expect();
          slot.worker.postMessage({ key, end: true });
        }),
    };
  }
}

/** An incremental hash on a worker when possible, else on this thread. */
export function beginTensorHash(): TensorHash {
  return HashPool.shared()?.begin() ?? new LocalHash();
}
