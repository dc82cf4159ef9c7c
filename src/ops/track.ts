// `weft track` / `weft untrack`: route file patterns through Weft by editing the top-level .gitattributes.
// Only the lines for the given patterns change; the file is replaced atomically.

import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addTrackPattern, listTrackedPatterns, removeTrackPattern } from '../git/attributes.js';
import { resolveTopLevel } from '../git/run-git.js';

export interface TrackResult {
  path: string;
  /** Patterns whose line changed. */
  changed: string[];
  /** Attributes replaced by Weft's (e.g. `filter=lfs`), per pattern. */
  replaced: Record<string, string[]>;
  /** Every pattern tracked after the edit. */
  tracked: string[];
}

async function readAttributes(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.weft-${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/**
 * Tracks (or, with `untrack`, stops tracking) patterns. With no patterns, lists what is tracked.
 * @example await trackPatterns({ cwd, patterns: ['*.safetensors'] });
 */
export async function trackPatterns(options: {
  cwd: string;
  patterns: string[];
  untrack?: boolean;
}): Promise<TrackResult> {
  const top = await resolveTopLevel(options.cwd);
  const path = join(top, '.gitattributes');
  const before = await readAttributes(path);
  let text = before;
  const result: TrackResult = { path, changed: [], replaced: {}, tracked: [] };
  for (const p of options.patterns) {
    if (options.untrack) {
      const edit = removeTrackPattern(text, p);
      if (edit.changed) result.changed.push(p);
      text = edit.text;
    } else {
      const edit = addTrackPattern(text, p);
      if (edit.changed) result.changed.push(p);
      if (edit.replaced.length > 0) result.replaced[p] = edit.replaced;
      text = edit.text;
    }
  }
  if (text !== before) await writeAtomically(path, text);
  result.tracked = listTrackedPatterns(text);
  return result;
}
