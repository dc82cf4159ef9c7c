// `weft fetch` and `weft pull`: download the objects of commits from a remote, verified; pull also rewrites the
// tracked files still left as manifests. Both follow a partial checkout's selection.

import { fetchObjects, openRepo, pullObjects, type Repo, readPartialSelection, selectionPredicate } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { transferOptions, transferSettings, withTransferProgress } from './push.js';
import { formatBytes } from './render.js';

/** The partial checkout's selection as a `select` option (nothing when every tensor is selected). */
async function selectionOption(repo: Repo): Promise<{ select?: (tensorName: string) => boolean }> {
  const selection = await readPartialSelection({ cwd: repo.topLevel });
  return selection ? { select: selectionPredicate(selection) } : {};
}

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
    ...transferOptions('downloads'),
  },
  async run({ io, values, positionals }) {
    const [remote, ...refs] = positionals;
    const repo = await openRepo({ cwd: io.cwd });
    const settings = { ...transferSettings(io, values, remote), ...(await selectionOption(repo)) };
    const include = Array.isArray(values.include) ? { include: values.include as string[] } : {};
    const result = await withTransferProgress(io, 'weft fetch', (onProgress) =>
      fetchObjects({ repo, refs, ...include, ...settings, onProgress }),
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
    ...transferOptions('downloads'),
  },
  async run({ io, values, positionals }) {
    const [remote, ...rest] = positionals;
    const paths = rest;
    const repo = await openRepo({ cwd: io.cwd });
    const settings = { ...transferSettings(io, values, remote), ...(await selectionOption(repo)) };
    const result = await withTransferProgress(io, 'weft pull', (onProgress) =>
      pullObjects({ repo, paths, ...settings, onProgress }),
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
