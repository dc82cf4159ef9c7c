// Tensor-name globs (`weft fetch --include`, `weft checkout --include`): `*` any run of characters, dots
// included; `?` one character; the rest literal. Checked before use: no I/O here.

import { UsageError } from '../errors.js';

/** Longest glob: a pattern of megabytes would make every smudge and clean test it against every tensor. */
export const MAX_GLOB_CHARS = 1024;

/**
 * Checks one tensor-name glob (`*` any run of characters, dots included; `?` one character; the rest literal —
 * the syntax of `weft fetch --include`) and compiles it. UsageError naming the option and the glob when it is
 * empty, too long or holds a control character (git config could not keep it on one line).
 *
 * @example
 * compileTensorGlob('model.layers.0.*', '--include').test('model.layers.0.mlp.weight') // true
 */
export function compileTensorGlob(glob: string, option: string): RegExp {
  if (glob.length === 0) throw new UsageError('USAGE', `${option}: an empty pattern matches no tensor`);
  if (glob.length > MAX_GLOB_CHARS) {
    throw new UsageError('USAGE', `${option}: a pattern of ${glob.length} characters, at most ${MAX_GLOB_CHARS}`);
  }
  if (/[\u0000-\u001f\u007f]/.test(glob)) {
    throw new UsageError('USAGE', `${option} ${JSON.stringify(glob)}: a pattern cannot hold control characters`);
  }
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}
