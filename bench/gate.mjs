// `npm run bench -- gate [runs]`: simulated gates (EVALUATION.md "What to measure"): accept / reject /
// inconclusive rates and median examples used per true effect Δ, paired and with independent scores.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { machine, ROOT, table } from './lib.mjs';

export async function run(args) {
  const runs = Number(args[0] ?? 2000);
  const dist = process.env.WEFT_DIST ?? join(ROOT, 'dist');
  const { summariseScenario } = await import(pathToFileURL(join(dist, 'eval', 'simulate.js')).href);
  const deltas = [-0.05, -0.02, 0, 0.02, 0.05];
  const suiteSize = 10_000;
  console.log(`gate simulation: ${machine()}`);
  console.log(
    `${suiteSize}-example 0/1 suite, baseline right with p = 0.70, min_improvement = 0, alpha = 0.05, batch 32, ${runs} runs per row\n`,
  );
  for (const paired of [true, false]) {
    const rows = [];
    for (const delta of deltas) {
      const start = process.hrtime.bigint();
      const s = summariseScenario({ delta, paired, suiteSize, seed: 2026 + (paired ? 0 : 1000), alpha: 0.05 }, runs);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      rows.push([
        `${delta > 0 ? '+' : ''}${delta.toFixed(2)}`,
        s.accept.toFixed(3),
        s.reject.toFixed(3),
        s.inconclusive.toFixed(3),
        `${s.medianUsed} (${((100 * s.medianUsed) / suiteSize).toFixed(1)}%)`,
        `${seconds.toFixed(2)} s`,
      ]);
    }
    console.log(
      paired
        ? '**Paired** (the candidate disagrees with the baseline on 10% of examples)\n'
        : '**Independent scores** (no pairing: candidate right with p = 0.70 + Δ, independently)\n',
    );
    console.log(table(['true Δ', 'accept', 'reject', 'inconclusive', 'median examples', 'sim time'], rows));
    console.log('');
  }
}
