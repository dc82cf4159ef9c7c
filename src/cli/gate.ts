// `weft gate <candidate> [--baseline <rev>] [--budget n] [--suite s] [--json]`: the sequential paired gate; exit 0
// on accept, 1 on reject or inconclusive. Progress on stderr; the decision is also written as a git note.

import { gateCandidate, openRepo, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { renderTable } from './render.js';

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;

export const gateCommand: CommandSpec = {
  name: 'gate',
  summary: 'accept or reject a candidate model version against a baseline, with as few examples as possible',
  usage: '<candidate> [--baseline <rev>] [--budget <n>] [--suite <name>]… [-v] [--json]',
  details: [
    'Scores candidate and baseline on the same examples in one seeded shuffled order, batch by batch, with the',
    'evaluators of [gate] in .weft/config.toml, and stops as soon as an anytime-valid confidence sequence on the',
    'mean paired difference (Waudby-Smith & Ramdas 2024, Thm. 2; Bonferroni over suites) decides: accept when',
    'every target suite is above min_improvement and no guard is below -tolerance; reject as soon as one is',
    'conclusively on the wrong side; inconclusive when the budget or the examples run out. Scores are cached per',
    '(model content, suite definition, example id), so a baseline is scored once. The baseline defaults to the',
    "candidate's first parent. The decision and evidence are added to the candidate's note under refs/notes/weft",
    '(share them with: git push origin refs/notes/weft). Exit 0 accept, 1 reject or inconclusive, 2 on errors',
    '(a failing evaluator records nothing).',
    '',
    'Example .weft/config.toml:',
    '  [gate]',
    '  alpha = 0.05',
    '  batch = 32',
    '  [[gate.suites]]',
    '  name = "digits"',
    '  command = "node eval/digits.mjs"   # run in the repo root with WEFT_MODEL and WEFT_EXAMPLES set',
    '  examples = 540                     # ids 0..539, or a path to a file of ids',
    '  score_range = [0, 1]',
    '  role = "target"                    # or "guard" (with tolerance = …)',
    '  min_improvement = 0.0',
  ].join('\n'),
  options: {
    baseline: { type: 'string', description: "<rev> the version to beat (default: the candidate's first parent)" },
    budget: { type: 'string', description: '<n> at most this many paired examples over all suites' },
    suite: { type: 'string', multiple: true, description: '<name> run only this suite (repeatable)' },
    verbose: { type: 'boolean', short: 'v', description: "show the evaluators' stderr" },
    json: { type: 'boolean', description: 'print the decision and evidence as JSON' },
  },
  async run({ io, values, positionals }) {
    if (positionals.length !== 1)
      throw new UsageError('USAGE', "gate takes one candidate revision; see 'weft gate --help'");
    let budget: number | undefined;
    if (typeof values.budget === 'string') {
      budget = Number(values.budget);
      if (!Number.isSafeInteger(budget) || budget < 1)
        throw new UsageError('USAGE', `--budget ${values.budget}: not a positive count`);
    }
    const repo = await openRepo({ cwd: io.cwd });
    const report = await gateCandidate({
      repo,
      candidate: positionals[0]!,
      baseline: typeof values.baseline === 'string' ? values.baseline : undefined,
      budget,
      suites: Array.isArray(values.suite) ? values.suite : undefined,
      env: io.env,
      ...(values.verbose ? { onEvaluatorStderr: (text: string) => io.stderr.write(text) } : {}),
      onProgress: (p) => {
        if (p.kind !== 'gate') return;
        const s = p.suite;
        io.stderr.write(
          `weft gate: ${s.name}: ${s.used}/${s.available} examples, Δ ${signed(s.estimate)} in [${signed(s.lower)}, ${signed(s.upper)}]${s.decision === 'running' ? '' : ` → ${s.decision}`}\n`,
        );
      },
    });
    if (values.json) await printJson(io, report);
    else {
      const rows = report.suites.map((s) => [
        s.name,
        s.role,
        s.decision,
        signed(s.estimate),
        `[${signed(s.lower)}, ${signed(s.upper)}]`,
        `> ${signed(s.threshold)}`,
        `${s.used}/${s.available}`,
      ]);
      const text = [
        `${report.decision.toUpperCase()}: ${report.candidate.rev} (${report.candidate.commit.slice(0, 12)}) vs ${report.baseline.rev} (${report.baseline.commit.slice(0, 12)})`,
        '',
        renderTable(['suite', 'role', 'decision', '>Δ estimate', 'interval', 'needs', '>examples'], rows).trimEnd(),
        '',
        `alpha ${report.alpha} (per suite ${report.alpha / Math.max(1, report.suites.length)}), seed ${report.seed}, ${report.examplesUsed} paired examples, ${report.evaluatorCalls} evaluator calls, ${report.seconds.toFixed(1)} s` +
          (report.skipped.length ? `; skipped (modules untouched): ${report.skipped.join(', ')}` : ''),
        '',
      ].join('\n');
      await writeOut(io.stdout, text);
    }
    return report.decision === 'accept' ? 0 : 1;
  },
};
