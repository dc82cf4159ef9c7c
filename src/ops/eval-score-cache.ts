// Scores already computed, per (model content, suite definition, example id), under `<weftDir>/scores/`: a
// baseline that many proposals are gated against is scored once. Append-only JSON lines; torn lines are ignored.

import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A cache file bigger than this is not read (it would be a corrupted or hostile file, not scores). */
const MAX_CACHE_FILE_BYTES = 1024 * 1024 * 1024;

/**
 * The score cache of a repository's store. One file per (suite definition, model): `scores/<suite>/<model>.jsonl`,
 * lines `{"id":"3","score":1}`. Writers append whole lines, so a crash loses at most the line being written.
 *
 * @example
 * const cache = new ScoreCache(repo.weftDir);
 * const known = await cache.read(modelKey, suiteHash); // Map id → score
 */
export class ScoreCache {
  readonly root: string;
  constructor(weftDir: string) {
    this.root = join(weftDir, 'scores');
  }

  private file(modelKey: string, suiteHash: string): string {
    return join(this.root, suiteHash, `${modelKey}.jsonl`);
  }

  /** Every cached score of a model on a suite. */
  async read(modelKey: string, suiteHash: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let text: string;
    try {
      const bytes = await readFile(this.file(modelKey, suiteHash));
      if (bytes.length > MAX_CACHE_FILE_BYTES) return out;
      text = bytes.toString('utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw error;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const v = JSON.parse(line) as { id?: unknown; score?: unknown };
        if (typeof v.id === 'string' && typeof v.score === 'number' && Number.isFinite(v.score)) out.set(v.id, v.score);
      } catch {
        // a torn last line from an interrupted run: that score is simply computed again
      }
    }
    return out;
  }

  /** Adds scores (ids and scores in the same order). */
  async append(modelKey: string, suiteHash: string, ids: readonly string[], scores: readonly number[]): Promise<void> {
    const file = this.file(modelKey, suiteHash);
    await mkdir(join(this.root, suiteHash), { recursive: true });
    const text = ids.map((id, i) => `${JSON.stringify({ id, score: scores[i] })}\n`).join('');
    await appendFile(file, text);
  }
}
