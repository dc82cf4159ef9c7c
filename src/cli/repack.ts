// `weft repack`: keeps local dense copies (keyframes) of tensor versions so no checkout follows more than K
// parent links. Local storage only: it never rewrites a manifest, a commit, or what `weft push` sends.

import { MAX_REPACK_CHAIN, openRepo, type RepackProgress, repackRepo, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { formatBytes, progressReporter } from './render.js';

/** Parses `--max-chain`: a whole number of parent links, 1 to MAX_REPACK_CHAIN. */
function parseMaxChain(text: string): number {
  const k = /^\d{1,3}$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(k) || k < 1 || k > MAX_REPACK_CHAIN) {
    throw new UsageError(
      'USAGE',
      `--max-chain ${JSON.stringify(text)}: must be a whole number of parent links from 1 to ${MAX_REPACK_CHAIN}`,
    );
  }
  return k;
}

export const repackCommand: CommandSpec = {
  name: 'repack',
  summary: 'bound the parent links a checkout follows to K by keeping local dense keyframes',
  usage: '[--max-chain <K>] [--dry-run] [--json]',
  details:
    'Every tensor version reachable from refs, reflog and index whose chain of update encodings would need more\n' +
    'than K links is decoded, checked and stored densely in the local store as a keyframe override; overrides no\n' +
    'longer needed under K are dropped (`weft gc` then deletes their objects). Manifests in git never change, so\n' +
    'commits and what `weft push` sends stay the same. K defaults to `[encoding] max_chain` (8).',
  options: {
    'max-chain': {
      type: 'string',
      description: `<K> parent links at most, 1–${MAX_REPACK_CHAIN} (default: max_chain)`,
    },
    'dry-run': { type: 'boolean', short: 'n', description: 'report what would change, write nothing' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values }) {
    const raw = values['max-chain'];
    const maxChain = typeof raw === 'string' ? parseMaxChain(raw) : undefined;
    const repo = await openRepo({ cwd: io.cwd });
    const bar = progressReporter(io, 'weft repack');
    const onProgress = (p: RepackProgress) => {
      if (p.phase === 'keyframes') bar.update(p.done, p.total);
    };
    let result: Awaited<ReturnType<typeof repackRepo>>;
    try {
      result = await repackRepo({
        repo,
        dryRun: values['dry-run'] === true,
        onProgress,
        ...(maxChain !== undefined ? { maxChain } : {}),
      });
    } finally {
      bar.end();
    }
    if (values.json) {
      await printJson(io, result);
      return 0;
    }
    const would = result.dryRun ? 'would add' : 'added';
    const lines = [
      `${result.manifests} manifests, ${result.versions} tensor versions; K = ${result.maxChain}`,
      `${would} ${result.added} keyframes (${formatBytes(result.dryRun ? result.rawBytesAdded : result.bytesAdded)}${
        result.dryRun ? ' before compression' : ''
      }), ${result.dryRun ? 'would remove' : 'removed'} ${result.removed}, kept ${result.kept}`,
      `deepest decode: ${result.maxDepthBefore} → ${result.maxDepthAfter} parent links`,
    ];
    for (const s of result.skipped)
      await writeOut(io.stderr, `weft repack: skipped ${s.what} (${s.contentId.slice(0, 12)}…): ${s.reason}\n`);
    if (result.removed > 0 && !result.dryRun) lines.push("run 'weft gc' to delete the objects of removed keyframes");
    await writeOut(io.stdout, `${lines.join('\n')}\n`);
    return 0;
  },
};
