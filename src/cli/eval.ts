// `weft eval <rev> [--suite s]… [--json]`: score a model version on every example of the gate's suites (cached),
// print mean and interval per suite, and record them in the commit's note under refs/notes/weft.

import { evaluateRevision, openRepo, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { renderTable } from './render.js';

export const evalCommand: CommandSpec = {
  name: 'eval',
  summary: "score a model version on the gate's suites (every example; scores are cached)",
  usage: '<rev> [--suite <name>]… [-v] [--json]',
  details: [
    'Runs the evaluators of [gate] in .weft/config.toml on the model files of <rev>, rebuilt into a temporary',
    'folder from the store (the work tree is not touched). Scores are cached per (model content, suite',
    'definition, example id): an unchanged model is never scored twice. The summary (mean, interval, n) is',
    "written to the commit's note under refs/notes/weft. The interval is a (1 - alpha) empirical-Bernstein",
    "confidence interval for the mean over the suite's task distribution.",
  ].join('\n'),
  options: {
    suite: { type: 'string', multiple: true, description: '<name> evaluate only this suite (repeatable)' },
    verbose: { type: 'boolean', short: 'v', description: "show the evaluators' stderr" },
    json: { type: 'boolean', description: 'print the results as JSON' },
  },
  async run({ io, values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('USAGE', "eval takes one revision; see 'weft eval --help'");
    const repo = await openRepo({ cwd: io.cwd });
    const suites = Array.isArray(values.suite) ? values.suite : [];
    let last = '';
    const result = await evaluateRevision({
      repo,
      rev: positionals[0]!,
      suites,
      env: io.env,
      ...(values.verbose ? { onEvaluatorStderr: (text: string) => io.stderr.write(text) } : {}),
      onProgress: (p) => {
        if (p.kind !== 'eval' || !io.stderrIsTTY) return;
        const line = `weft eval: ${p.suite}: ${p.done}/${p.total}`;
        if (line !== last) io.stderr.write(`\r${line}${p.done === p.total ? '\n' : ''}`);
        last = line;
      },
    });
    if (values.json) {
      await printJson(io, result);
      return 0;
    }
    const rows = result.suites.map((s) => [
      s.suite,
      s.mean.toFixed(4),
      `[${s.lower.toFixed(4)}, ${s.upper.toFixed(4)}]`,
      String(s.n),
      String(s.evaluatorCalls),
    ]);
    await writeOut(
      io.stdout,
      `${result.rev} (${result.commit.slice(0, 12)})\n\n${renderTable(['suite', '>mean', 'interval', '>n', '>evaluator calls'], rows)}`,
    );
    return 0;
  },
};
