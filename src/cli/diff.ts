// `weft diff [<rev> [<rev>]] [--stat] [--json] [-- <path>…]`: tensor-level differences between versions.

import { diffVersions, type FileChange, openRepo, type Side, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { formatBytes, renderTable } from './render.js';

function shape(s: number[] | undefined): string {
  return s ? `[${s.join(',')}]` : '';
}

/** Human lines for file changes (shared with log and status). */
export function describeChanges(files: readonly FileChange[], withStats: boolean): string {
  const out: string[] = [];
  for (const f of files) {
    const size =
      f.sizeBytes.before !== undefined && f.sizeBytes.after !== undefined && f.sizeBytes.before !== f.sizeBytes.after
        ? ` (${formatBytes(f.sizeBytes.before)} → ${formatBytes(f.sizeBytes.after)})`
        : '';
    const counts = ['added', 'removed', 'changed']
      .map((k) => [k, f.tensors.filter((t) => t.change === k).length] as const)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`);
    out.push(
      `${f.change} ${f.path} [${f.format}]${size}${counts.length ? `: ${counts.join(', ')}` : ''}${f.frameChanged ? ' (header/metadata changed)' : ''}`,
    );
    const rows = f.tensors.map((t) => {
      const what =
        t.change === 'changed'
          ? [
              t.dtype ? `${t.dtype.before}→${t.dtype.after}` : '',
              t.shape ? `${shape(t.shape.before)}→${shape(t.shape.after)}` : '',
            ]
              .filter(Boolean)
              .join(' ') || (t.storedAs ? `values, stored as ${t.storedAs}` : 'values')
          : `${t.dtype?.before ?? t.dtype?.after ?? ''} ${shape(t.shape?.before ?? t.shape?.after)}`;
      const row = [`  ${t.change === 'added' ? '+' : t.change === 'removed' ? '-' : '~'} ${t.name}`, what];
      if (withStats) {
        const s = t.stats;
        row.push(
          s ? s.relativeL2.toPrecision(3) : '',
          s ? s.maxAbsDiff.toPrecision(3) : '',
          s ? `${(100 * s.fractionChanged).toFixed(2)}%` : '',
          s ? s.cosine.toFixed(6) : '',
        );
      }
      return row;
    });
    if (rows.length > 0) {
      const headers = withStats
        ? ['  tensor', 'change', '>rel L2', '>max |Δ|', '>changed', '>cosine']
        : ['  tensor', 'change'];
      out.push(renderTable(headers, rows).trimEnd());
    }
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

export const diffCommand: CommandSpec = {
  name: 'diff',
  summary: 'show which tensors changed between versions (commits, index, work tree)',
  usage: '[<rev> [<rev>]] [--stat] [--module <name>] [--json] [-- <path>…]',
  details:
    'No revision: index → work tree. One: <rev> → work tree. Two: <rev> → <rev>. --cached compares <rev> (default\n' +
    'HEAD) with the index. With --exit-code, exit 1 when there are differences (like git diff).',
  options: {
    stat: { type: 'boolean', description: 'per changed tensor: relative L2 change, max |Δ|, fraction changed, cosine' },
    cached: { type: 'boolean', description: 'compare with the index instead of the work tree' },
    module: {
      type: 'string',
      description: '<name> only the tensors of this module ([modules.<name>] in .weft/config.toml)',
    },
    json: { type: 'boolean', description: 'print the changes as JSON' },
    'exit-code': { type: 'boolean', description: 'exit 1 when there are differences, 0 when there are none' },
  },
  async run({ io, values, positionals }) {
    const sep = positionals.indexOf('--');
    const revs = sep < 0 ? positionals : positionals.slice(0, sep);
    const paths = sep < 0 ? [] : positionals.slice(sep + 1);
    if (revs.length > 2) throw new UsageError('USAGE', 'diff takes at most two revisions');
    const repo = await openRepo({ cwd: io.cwd });
    let before: Side;
    let after: Side;
    if (revs.length === 2)
      [before, after] = [
        { kind: 'rev', rev: revs[0]! },
        { kind: 'rev', rev: revs[1]! },
      ];
    else if (values.cached) [before, after] = [{ kind: 'rev', rev: revs[0] ?? 'HEAD' }, { kind: 'index' }];
    else if (revs.length === 1) [before, after] = [{ kind: 'rev', rev: revs[0]! }, { kind: 'worktree' }];
    else [before, after] = [{ kind: 'index' }, { kind: 'worktree' }];
    const changes = await diffVersions({
      repo,
      before,
      after,
      paths,
      stat: values.stat === true,
      ...(typeof values.module === 'string' ? { module: values.module } : {}),
    });
    if (values.json) await printJson(io, { files: changes });
    else await writeOut(io.stdout, describeChanges(changes, values.stat === true));
    return values['exit-code'] && changes.length > 0 ? 1 : 0;
  },
};
