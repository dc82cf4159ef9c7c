// `weft push`: upload the objects of commits to a remote (the pre-push hook does the same for `git push`), and
// what push, fetch and pull share: their transfer options and progress.

import { openRepo, pushObjects, type TransferProgress, UsageError } from '../index.js';
import { type CliIO, type CommandSpec, printJson, writeOut } from './command.js';
import { formatBytes, progressReporter } from './render.js';

/** Parses `--transfers`: a positive integer up to 64 (more only floods the remote). */
export function parseTransfers(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError('USAGE', `--transfers ${value}: expected 1 to 64`);
  return n;
}

/** The options every transfer command takes (`--transfers`, `--json`, `--no-notes`). */
export function transferOptions(direction: 'uploads' | 'downloads'): CommandSpec['options'] {
  return {
    transfers: { type: 'string', description: `<n> parallel ${direction} (default 8)` },
    json: { type: 'boolean', description: 'print the result as JSON' },
    'no-notes': { type: 'boolean', description: 'leave refs/notes/weft (evaluation results) alone' },
  };
}

/** The settings those options and the command's environment give a transfer (remote, env, notes, transfers). */
export function transferSettings(
  io: CliIO,
  values: Record<string, unknown>,
  remote: string | undefined,
): { remote?: string; env: CliIO['env']; notes: boolean; transfers?: number } {
  const transfers = parseTransfers(values.transfers);
  return {
    ...(remote !== undefined ? { remote } : {}),
    env: io.env,
    notes: values['no-notes'] !== true,
    ...(transfers ? { transfers } : {}),
  };
}

/** A progress callback drawing bytes, rate and ETA on stderr when it is a terminal. */
function transferProgress(io: CliIO, label: string): { onProgress(p: TransferProgress): void; end(): void } {
  const bar = progressReporter(io, label);
  return {
    onProgress: (p) => bar.update(p.doneBytes, p.totalBytes),
    end: () => bar.end(),
  };
}

/** Runs a transfer with its progress bar (stderr, TTY only), ending the bar however the transfer ends. */
export async function withTransferProgress<T>(
  io: CliIO,
  label: string,
  transfer: (onProgress: (p: TransferProgress) => void) => Promise<T>,
): Promise<T> {
  const progress = transferProgress(io, label);
  try {
    return await transfer(progress.onProgress);
  } finally {
    progress.end();
  }
}

export const pushCommand: CommandSpec = {
  name: 'push',
  summary: 'upload the model objects of commits (default HEAD) that a remote lacks',
  usage: '[<remote>] [<ref>…] [--all] [--transfers <n>] [--no-notes] [--json]',
  details:
    '<remote> is a Weft remote (weft remote add), else a git remote (its Git LFS endpoint), else a URL; default:\n' +
    'origin. Sends only what the remote lacks (checked in batches), 8 transfers at a time; rerun after an\n' +
    'interruption to send the rest. `git push` does this by itself through the pre-push hook (set\n' +
    'WEFT_SKIP_PUSH=1 to skip it once). When <remote> is a git remote, weft push also merges in its\n' +
    'refs/notes/weft (evaluation results) and pushes ours there; plain `git push` does not push notes: run\n' +
    '`git push <remote> refs/notes/weft` (or weft push) after `weft eval`.',
  options: {
    all: {
      type: 'boolean',
      description: "check every object in the commits' history, not only those new since the remote's refs",
    },
    ...transferOptions('uploads'),
  },
  async run({ io, values, positionals }) {
    const [remote, ...refs] = positionals;
    const repo = await openRepo({ cwd: io.cwd });
    const settings = transferSettings(io, values, remote);
    const result = await withTransferProgress(io, 'weft push', (onProgress) =>
      pushObjects({ repo, refs, all: values.all === true, ...settings, onProgress }),
    );
    if (values.json) await printJson(io, result);
    else {
      await writeOut(
        io.stdout,
        `${result.remote}: sent ${result.uploaded} of ${result.objects} objects (${formatBytes(result.uploadedBytes)})\n`,
      );
    }
    return 0;
  },
};
