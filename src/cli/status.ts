// `weft status [--json] [-- <path>…]`: tracked model files and their tensor-level changes in the work tree.

import { openRepo, statusRepo } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { describeChanges } from './diff.js';
import { formatBytes, renderTable } from './render.js';

export const statusCommand: CommandSpec = {
  name: 'status',
  summary: 'tracked model files and which tensors changed in the work tree since the index',
  usage: '[--json] [<path>…]',
  options: {
    json: { type: 'boolean', description: 'print {tracked, changes, touchedModules, conflicts, partial} as JSON' },
  },
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
      // Partial checkout: how many tensors the work tree leaves out (zeros until `weft checkout --all`).
      const partial = result.partial.find((p) => p.path === t.path);
      const left = partial ? `, partial: ${partial.notMaterialised.length} not materialised` : '';
      lines.push(
        `  ${changed ? 'modified' : 'clean   '}  ${t.path}  [${t.format}, ${t.tensors} tensors, ${formatBytes(t.sizeBytes)}${left}]`,
      );
    }
    if (result.touchedModules.length > 0) lines.push(`modules touched: ${result.touchedModules.join(', ')}`);
    for (const c of result.conflicts) {
      lines.push(`\nunmerged  ${c.path}: ${c.conflicts.length} tensor(s) changed on both sides with no merge method`);
      const rows = c.conflicts.map((t) => {
        const r = t.report;
        return [
          `  ${t.tensor || '(layout)'}`,
          r ? `${(100 * r.changedBoth).toFixed(1)}%` : '',
          r ? `${(100 * r.oppositeSigns).toFixed(1)}%` : '',
          r ? r.cosine.toFixed(4) : '',
          r ? `${r.normOurs.toPrecision(3)} / ${r.normTheirs.toPrecision(3)}` : t.reason,
        ];
      });
      lines.push(
        renderTable(
          ['  tensor', '>changed on both', '>opposite signs', '>cosine', '>norms ours / theirs'],
          rows,
        ).trimEnd(),
      );
    }
    if (result.conflicts.length > 0) {
      lines.push(
        "\nsettle with 'weft resolve <pattern> --ours|--theirs|--base|--method <m> [--param k=v]', then git add and git commit",
      );
    }
    const text = `${lines.join('\n')}\n${result.changes.length ? `\n${describeChanges(result.changes, false)}` : ''}`;
    await writeOut(io.stdout, text);
    return 0;
  },
};
