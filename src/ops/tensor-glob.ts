// Tensor-name globs (`weft fetch --include`, `weft checkout --include`): `*` any run of characters, dots
// included; `?` one character; the rest literal. Checked before use. Also the objects the tensors a glob selects
// need. No I/O here.

import { UsageError } from '../errors.js';
import { listEncodingRefs, type Manifest, type TensorEncoding } from '../manifest/manifest.js';

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

/** Most globs in one `include` list (each is compiled to a regular expression). */
const MAX_INCLUDE_GLOBS = 256;

/**
 * The objects a partial fetch needs from one manifest: its frames, the encodings of the tensors whose names match
 * `include`, and the parent versions those encodings are stored against (followed through the chain).
 *
 * @example
 * objectsOfTensors(manifest, ['model.layers.0.*']) // → frame objects + layer 0's objects
 */
export function objectsOfTensors(manifest: Manifest, include: readonly string[]): string[] {
  if (include.length > MAX_INCLUDE_GLOBS) {
    throw new RangeError(`--include: ${include.length} patterns, at most ${MAX_INCLUDE_GLOBS}`);
  }
  const patterns = include.map((g) => compileTensorGlob(g, '--include'));
  const out = new Set<string>();
  for (const f of manifest.frames) for (const r of f.refs) out.add(r.id);
  const parents = new Map((manifest.parents ?? []).map((p) => [p.contentId as string, p.encoding]));
  const seen = new Set<TensorEncoding>();
  const add = (encoding: TensorEncoding | undefined) => {
    if (encoding === undefined || seen.has(encoding)) return; // `seen` stops a (malformed) cycle
    seen.add(encoding);
    for (const r of listEncodingRefs(encoding)) out.add(r.id);
    const parent = encoding.params.parent;
    if (parent !== undefined) add(parents.get(parent));
  };
  for (const t of manifest.tensors) if (patterns.some((p) => p.test(t.name))) add(t.encoding);
  return [...out];
}
