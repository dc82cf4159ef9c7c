// `weft resolve <pattern> --ours|--theirs|--base|--method <m> [--param k=v]…`: settles tensors a merge left
// conflicted; when a file has no conflict left, its merged model is written to the work tree for `git add`.

import { openRepo, parseParamArgs, resolveConflicts, type TensorResolution, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';

export const resolveCommand: CommandSpec = {
  name: 'resolve',
  summary: 'settle tensors a merge left conflicted (a side, or a merge method)',
  usage: '<pattern> --ours|--theirs|--base|--method <m> [--param k=v]… [--json]',
  details:
    'PATTERN is a tensor name or a glob over names (* matches any run of characters). See `weft status` for the\n' +
    'conflicted tensors and how their two changes relate. When a file has no conflict left, the merged model is\n' +
    'written to the work tree: `git add` it and `git commit` as usual.',
  options: {
    ours: { type: 'boolean', description: 'keep our version' },
    theirs: { type: 'boolean', description: 'take their version' },
    base: { type: 'boolean', description: 'go back to the merge base' },
    method: { type: 'string', description: '<m> merge both changes with this method (e.g. task_arithmetic, ties)' },
    param: { type: 'string', multiple: true, description: '<k=v> a parameter of the method (repeatable)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('USAGE', 'resolve takes one tensor name or pattern');
    const sides = (['ours', 'theirs', 'base'] as const).filter((s) => values[s] === true);
    const method = typeof values.method === 'string' ? values.method : undefined;
    if (sides.length + (method ? 1 : 0) !== 1) {
      throw new UsageError('USAGE', 'resolve needs exactly one of --ours, --theirs, --base, --method <m>');
    }
    const params = Array.isArray(values.param) ? values.param : [];
    if (params.length > 0 && !method) throw new UsageError('USAGE', '--param goes with --method');
    const resolution: TensorResolution = method
      ? { kind: 'method', method, params: parseParamArgs(params) }
      : { kind: 'side', side: sides[0]! };
    const repo = await openRepo({ cwd: io.cwd });
    const result = await resolveConflicts({ repo, pattern: positionals[0]!, resolution });
    if (values.json) {
      await printJson(io, result);
      return 0;
    }
    const lines = result.settled.map((s) => `settled ${s.path}: ${s.tensor} (${s.how})`);
    for (const w of result.written) lines.push(`${w}: merged model written; now: git add ${w}`);
    if (result.remaining.length > 0) {
      lines.push(`still conflicted: ${result.remaining.map((r) => `${r.path}: ${r.tensor || '(layout)'}`).join(', ')}`);
    }
    await writeOut(io.stdout, `${lines.join('\n')}\n`);
    return 0;
  },
};
