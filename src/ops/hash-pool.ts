// SHA-256 of tensors on worker threads: the filter's main thread only reads git's stream and hands pieces over;
// tensors are hashed in parallel, one worker per tensor. The workers are the codec pool's (one set of threads per
// process, started once, for hashing and for encoding and decoding alike). Pieces are moved to the worker and moved
// back (never copied), so the main thread keeps them for compression. Falls back to the calling thread where the
// compiled worker is absent (running from TypeScript sources).

import { createHash } from 'node:crypto';
import { CodecPool } from '../store/codec-pool.js';

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

/** A running hash on one of the codec pool's workers (sessions go round robin over them). */
class PoolHash implements TensorHash {
  private readonly session: number;
  private index = 0;

  constructor(private readonly pool: CodecPool) {
    this.session = pool.beginHash();
  }

  update(piece: Uint8Array): Promise<Uint8Array> {
    return this.pool.hashPiece(this.session, this.index++, piece);
  }

  digest(): Promise<string> {
    return this.pool.digest(this.session);
  }
}

/** An incremental hash on a worker when possible, else on this thread. */
export function beginTensorHash(): TensorHash {
  const pool = CodecPool.shared();
  return pool ? new PoolHash(pool) : new LocalHash();
}
