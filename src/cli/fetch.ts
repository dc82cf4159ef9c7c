// `weft fetch` and `weft pull`: download the objects of commits from a remote, verified; pull also rewrites the
// tracked files still left as manifests. Imports library modules directly until src/index.ts exports them.

import { fetchObjects, openRepo, pullObjects, readPartialSelection, selectionPredicate } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { parseTransfers, withTransferProgress } from './push.js';
import { formatBytes } from './render.js';

export const fetchCommand: CommandSpec = {
  name: 'fetch',
  summary: 'download the model objects of commits (default HEAD) that the store lacks, verifying each',
  usage: '[<remote>] [<ref>…] [--include <glob>]… [--transfers <n>] [--no-notes] [--json]',
  details:
    '<remote> is a Weft remote, else a git remote (its Git LFS endpoint), else a URL; default: origin. Every\n' +
    'object is checked (SHA-256 and header) before it enters the store; a wrong one is an error naming it.\n' +
    'From a git remote it also fetches refs/notes/weft (evaluation results) and merges them into ours.\n' +
    "--include 'model.layers.0.*' fetches only the matching tensors' objects (and every file's headers); a\n" +
    'later checkout fetches the rest on demand, or with WEFT_SKIP_SMUDGE=1 keeps the manifest, and a file whose\n' +
    'objects cannot be had fails naming the tensor (partial work-tree files are not written). With a partial\n' +
    "checkout's selection (weft checkout --include/--exclude), only the selected tensors are fetched, as git-lfs\n" +
    "applies lfs.fetchinclude; --include '*' fetches everything.",
  options: {
    include: {
      type: 'string',
      multiple: true,
      description: "<glob> only tensors whose names match ('*' any characters, '?' one; repeatable)",
    },
    transfers: { type: 'string', description: '<n> parallel downloads (default 8)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
    'no-notes': { type: 'boolean', description: 'leave refs/notes/weft (evaluation results) alone' },
  },
  async run({ io, values, positionals }) {
    const [remote, ...refs] = positionals;
    const repo = await openRepo({ cwd: io.cwd });
    const transfers = parseTransfers(values.transfers);
    const selection = await readPartialSelection({ cwd: repo.topLevel });
    const result = await withTransferProgress(io, 'weft fetch', (onProgress) =>
      fetchObjects({
        repo,
        ...(remote !== undefined ? { remote } : {}),
        refs,
        ...(Array.isArray(values.include) ? { include: values.include as string[] } : {}),
        ...(selection ? { select: selectionPredicate(selection) } : {}),
        env: io.env,
        notes: values['no-notes'] !== true,
        ...(transfers ? { transfers } : {}),
        onProgress,
      }),
    );
    if (values.json) await printJson(io, result);
    else {
      await writeOut(
        io.stdout,
        `${result.remote}: fetched ${result.downloaded} of ${result.objects} objects (${formatBytes(result.downloadedBytes)})\n`,
      );
    }
    return 0;
  },
};

export const pullCommand: CommandSpec = {
  name: 'pull',
  summary: 'fetch the model objects of HEAD and write the tracked files still left as manifests',
  usage: '[<remote>] [<path>…] [--transfers <n>] [--no-notes] [--json]',
  details:
    'Like `git lfs pull`: it does not run `git pull`. Only files whose work-tree bytes are the committed\n' +
    'manifest (a clone made with WEFT_SKIP_SMUDGE=1) or that are missing are rewritten; edits are kept. With a\n' +
    "partial checkout's selection (weft checkout --include/--exclude), only the selected tensors are fetched.",
  options: {
    transfers: { type: 'string', description: '<n> parallel downloads (default 8)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
    'no-notes': { type: 'boolean', description: 'leave refs/notes/weft (evaluation results) alone' },
  },
  async run({ io, values, positionals }) {
    const [remote, ...rest] = positionals;
    const paths = rest;
    const repo = await openRepo({ cwd: io.cwd });
    const transfers = parseTransfers(values.transfers);
    const selection = await readPartialSelection({ cwd: repo.topLevel });
    const result = await withTransferProgress(io, 'weft pull', (onProgress) =>
      pullObjects({
        repo,
        ...(remote !== undefined ? { remote } : {}),
        paths,
        ...(selection ? { select: selectionPredicate(selection) } : {}),
        env: io.env,
        notes: values['no-notes'] !== true,
        ...(transfers ? { transfers } : {}),
        onProgress,
      }),
    );
    if (values.json) await printJson(io, result);
    else {
      await writeOut(
        io.stdout,
        `${result.remote}: fetched ${result.downloaded} of ${result.objects} objects (${formatBytes(result.downloadedBytes)}); ` +
          `wrote ${result.checkedOut.length} file(s)\n`,
      );
    }
    return 0;
  },
};
