// `weft log [<rev>] [-n N] [--json] [-- <path>…]`: per commit, tensors added/removed/changed and store growth.

import { logHistory, openRepo, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { describeChanges } from './diff.js';
import { formatBytes } from './render.js';

export const logCommand: CommandSpec = {
  name: 'log',
  summary: 'history of the tracked models: tensors changed per commit, bytes added to the store',
  usage: '[<rev>] [-n <count>] [--module <name>] [--json] [-- <path>…]',
  options: {
    'max-count': { type: 'string', short: 'n', description: '<count> show at most this many commits' },
    all: { type: 'boolean', description: 'include commits that changed no tracked model' },
    module: {
      type: 'string',
      description: '<name> only the tensors of this module ([modules.<name>] in .weft/config.toml)',
    },
    json: { type: 'boolean', description: 'print the commits as JSON' },
  },
  async run({ io, values, positionals }) {
    const sep = positionals.indexOf('--');
    const revs = sep < 0 ? positionals : positionals.slice(0, sep);
    const paths = sep < 0 ? [] : positionals.slice(sep + 1);
    if (revs.length > 1) throw new UsageError('USAGE', 'log takes at most one revision');
    let maxCount: number | undefined;
    if (typeof values['max-count'] === 'string') {
      maxCount = Number(values['max-count']);
      if (!Number.isInteger(maxCount) || maxCount < 0)
        throw new UsageError('USAGE', `-n ${values['max-count']}: not a count`);
    }
    const repo = await openRepo({ cwd: io.cwd });
    const commits = await logHistory({
      repo,
      ...(revs[0] ? { rev: revs[0] } : {}),
      paths,
      ...(maxCount !== undefined ? { maxCount } : {}),
      all: values.all === true,
      ...(typeof values.module === 'string' ? { module: values.module } : {}),
    });
    if (values.json) {
      await printJson(io, { commits });
      return 0;
    }
    const parts = commits.map(
      (c) =>
        `commit ${c.commit}\nAuthor: ${c.author}\nDate:   ${c.date}\n\n    ${c.subject}\n\n` +
        `store +${formatBytes(c.storedBytesAdded)}${describeGrowth(c.storedBytesByEncoding)} (models at this commit: ${formatBytes(c.logicalBytes)})\n` +
        describeChanges(c.files, false),
    );
    await writeOut(io.stdout, parts.join('\n'));
    return 0;
  },
};

/** " (dense 1.0 MiB, delta 2.0 KiB)" when more than one kind of storage grew; "" otherwise. */
export function describeGrowth(byEncoding: Record<string, number>): string {
  const parts = Object.entries(byEncoding).filter(([, n]) => n > 0);
  if (parts.length === 0 || (parts.length === 1 && parts[0]![0] === 'dense')) return '';
  return ` (${parts.map(([k, n]) => `${k === 'lowrank' ? 'low-rank' : k} ${formatBytes(n)}`).join(', ')})`;
}
