// `weft status [--json] [-- <path>…]`: tracked model files and their tensor-level changes in the work tree.

import { openRepo, statusRepo } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { describeChanges } from './diff.js';
import { formatBytes } from './render.js';

export const statusCommand: CommandSpec = {
  name: 'status',
  summary: 'tracked model files and which tensors changed in the work tree since the index',
  usage: '[--json] [<path>…]',
  options: { json: { type: 'boolean', description: 'print {tracked, changes} as JSON' } },
  async run({ io, values, positionals }) {
    const repo = await openRepo({ cwd: io.cwd });
    const result = await statusRepo({ repo, paths: positionals.filter((p) => p !== '--') });
    if (values.json) {
      await printJson(io, result);
      return 0;
    }
    const lines = [`${result.tracked.length} tracked model file(s)`];
    for (const t of result.tracked) {
      const changed = result.changes.some((c) => c.path === t.path);
      lines.push(
        `  ${changed ? 'modified' : 'clean   '}  ${t.path}  [${t.format}, ${t.tensors} tensors, ${formatBytes(t.sizeBytes)}]`,
      );
    }
    const text = `${lines.join('\n')}\n${result.changes.length ? `\n${describeChanges(result.changes, false)}` : ''}`;
    await writeOut(io.stdout, text);
    return 0;
  },
};
