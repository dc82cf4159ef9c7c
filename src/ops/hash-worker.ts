// Worker thread body for HashPool: SHA-256 of tensors streamed in pieces, so the thread reading git's stream never
// hashes. Pieces are moved in and moved back (never copied); it reads nothing else and writes nothing.

import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

const hashes = new Map<number, Hash>();

parentPort?.on('message', (m: { key: number; piece?: Uint8Array; end?: boolean }) => {
  let h = hashes.get(m.key);
  if (!h) {
    h = createHash('sha256');
    hashes.set(m.key, h);
  }
  if (m.piece) {
    h.update(m.piece);
    // Hand the memory back (moved, not copied): the main thread keeps it for compression, and this isolate, which
    // rarely collects garbage, holds nothing.
    parentPort?.postMessage({ key: m.key, piece: m.piece }, [m.piece.buffer as ArrayBuffer]);
  }
  if (m.end) {
    hashes.delete(m.key);
    parentPort?.postMessage({ key: m.key, hex: h.digest('hex') });
  }
});
