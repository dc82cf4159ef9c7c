// `weft merge <branch>… [--method <m>] [--param k=v]… [--seed n]`: an N-way merge of several branches into the
// current one with one method (or the repository's policy), as one merge commit recording what was done.

import { mergeBranches, openRepo, parseParamArgs, parseTuneArg, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';

export const mergeCommand: CommandSpec = {
  name: 'merge',
  summary: 'merge several branches at once (octopus) with one merge method, as one merge commit',
  usage: '<branch>… [--method <m>] [--param k=v]… [--seed n] [--tune <param>=<v1>,<v2>,…] [-m <message>] [--json]',
  details:
    'Every tracked model is merged tensor by tensor against the branches’ common base: a tensor changed on one\n' +
    'branch is taken whole; one changed on several uses --method (or the policy in .weft/config.toml). Other files\n' +
    'may change on one branch each. Nothing is changed unless the whole merge is clean; exit 1 lists conflicts.\n' +
    'With --tune, one merge is built per value (HEAD does not move), the [gate] target suites score them by\n' +
    'successive halving (through the same cache as weft eval), and the best is committed with every score;\n' +
    '`weft gate HEAD` then gates it against its first parent, reusing the cached scores.',
  options: {
    method: { type: 'string', description: '<m> merge method for tensors changed on several branches' },
    param: { type: 'string', multiple: true, description: '<k=v> a method parameter (repeatable)' },
    seed: { type: 'string', description: '<n> seed of random sparsifiers (default 0)' },
    tune: {
      type: 'string',
      description: '<param=v1,v2,…> try these values and keep the best by the gate’s target suites',
    },
    message: { type: 'string', short: 'm', description: '<text> the merge commit’s first line' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values, positionals }) {
    if (positionals.length === 0) throw new UsageError('USAGE', 'merge needs at least one branch');
    const params = Array.isArray(values.param) ? values.param : [];
    const method = typeof values.method === 'string' ? values.method : undefined;
    if (params.length > 0 && !method) throw new UsageError('USAGE', '--param goes with --method');
    let seed: number | undefined;
    if (typeof values.seed === 'string') {
      seed = Number(values.seed);
      if (!Number.isSafeInteger(seed) || seed < 0)
        throw new UsageError('USAGE', `--seed ${values.seed}: not a whole number`);
    }
    const repo = await openRepo({ cwd: io.cwd });
    const result = await mergeBranches({
      repo,
      branches: positionals,
      ...(method ? { method, params: parseParamArgs(params) } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(typeof values.message === 'string' ? { message: values.message } : {}),
      ...(typeof values.tune === 'string' ? { tune: parseTuneArg(values.tune) } : {}),
    });
    if (values.json) await printJson(io, result);
    else if (result.commit)
      await writeOut(
        io.stdout,
        `merged into ${result.commit.slice(0, 10)}\n${result.message.split('\n').slice(2).join('\n')}\n`,
      );
    else {
      const lines = result.conflicts.flatMap((c) =>
        c.conflicts.map((t) => `conflict: ${c.path}${t.tensor ? `: ${t.tensor}` : ''}: ${t.reason}`),
      );
      await writeOut(io.stderr, `${lines.join('\n')}\nnothing was changed\n`);
    }
    return result.commit ? 0 : 1;
  },
};
