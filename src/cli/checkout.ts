// `weft checkout [--include <glob>]… [--exclude <glob>]… [--all] [-- <path>…]`: partial checkout — materialise only
// the selected tensors (the others are zeros in the work tree and keep their committed entries).

import { checkoutPartial, openRepo } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { parseTransfers, withTransferProgress } from './push.js';
import { formatBytes } from './render.js';

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

export const checkoutCommand: CommandSpec = {
  name: 'checkout',
  summary: 'materialise only some tensors of the tracked model files (partial checkout), or all of them again',
  usage: '[--include <glob>]… [--exclude <glob>]… [--all] [--remote <name>] [--transfers <n>] [--json] [-- <path>…]',
  details:
    "Like git-lfs's lfs.fetchinclude/fetchexclude, per tensor. The selection is kept in this repository's git\n" +
    'config (weft.include / weft.exclude) and replaces the previous one; with neither option the current one is\n' +
    're-applied; --all clears it. Only the selected tensors are downloaded; every tracked file whose work-tree\n' +
    'copy matches the index is rewritten: selected tensors (and any the store already holds) get their real\n' +
    'bytes, the others zeros of the same size, so the file is a valid checkpoint of the right layout. git status\n' +
    'stays clean, and committing an edit of a selected tensor keeps the other tensors as they were committed.\n' +
    'Caveat: while a tensor is not materialised, setting it to all zeros yourself reads as "unchanged".\n' +
    'Files with local changes are left alone and listed. <path> limits which files are rewritten.',
  options: {
    include: {
      type: 'string',
      multiple: true,
      description: "<glob> materialise tensors whose names match ('*' any characters, '?' one; repeatable)",
    },
    exclude: { type: 'string', multiple: true, description: '<glob> but not those matching this (repeatable)' },
    all: { type: 'boolean', description: 'clear the selection: fetch and materialise every tensor' },
    remote: { type: 'string', description: '<name> download from this remote (default: see weft fetch)' },
    transfers: { type: 'string', description: '<n> parallel downloads (default 8)' },
    json: { type: 'boolean', description: 'print {selection, objects, downloaded, files, skipped} as JSON' },
  },
  async run({ io, values, positionals }) {
    const repo = await openRepo({ cwd: io.cwd });
    const transfers = parseTransfers(values.transfers);
    const result = await withTransferProgress(io, 'weft checkout', (onProgress) =>
      checkoutPartial({
        repo,
        include: strings(values.include),
        exclude: strings(values.exclude),
        all: values.all === true,
        paths: positionals.filter((p) => p !== '--'),
        ...(typeof values.remote === 'string' ? { remote: values.remote } : {}),
        env: io.env,
        ...(transfers ? { transfers } : {}),
        onProgress,
      }),
    );
    if (values.json) {
      await printJson(io, result);
      return 0;
    }
    const s = result.selection;
    const lines = [
      s
        ? `selection: ${s.include.length ? s.include.join(' ') : '*'}${s.exclude.length ? ` except ${s.exclude.join(' ')}` : ''}`
        : 'selection: every tensor',
      `fetched ${result.downloaded} of ${result.objects} objects (${formatBytes(result.downloadedBytes)})${result.remote ? ` from ${result.remote}` : ''}`,
    ];
    for (const f of result.files) {
      lines.push(
        f.notMaterialised > 0
          ? `  partial  ${f.path}: ${f.notMaterialised} of ${f.tensors} tensors not materialised (zeros)`
          : `  full     ${f.path}: ${f.tensors} tensors`,
      );
    }
    for (const k of result.skipped) lines.push(`  skipped  ${k.path}: ${k.reason}`);
    await writeOut(io.stdout, `${lines.join('\n')}\n`);
    return 0;
  },
};
