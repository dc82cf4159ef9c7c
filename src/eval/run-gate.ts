// The gate's sequential loop: suites in round-robin batches over their shuffled ids, each decided by its own
// confidence sequence, until the verdict is known or the budget is spent. Pure: scores come from `scorePairs`.

import { UsageError } from '../errors.js';
import {
  type GateDecision,
  gateVerdict,
  SequentialSuite,
  type SuiteRole,
  type SuiteSummary,
} from './sequential-suite.js';

export interface GateSuitePlan {
  name: string;
  role: SuiteRole;
  /** min_improvement (target) or −tolerance (guard). */
  threshold: number;
  scoreRange: readonly [number, number];
  /** The suite's ids in the gate's shuffled order. */
  ids: readonly string[];
}

export interface GateOutcome {
  decision: GateDecision;
  suites: SuiteSummary[];
  /** Paired examples scored, over all suites. */
  examplesUsed: number;
}

/**
 * Runs a paired sequential gate. Each round gives every undecided suite its next `batch` ids (fewer when the
 * budget or the suite runs out); `scorePairs(suite, ids)` returns both models' scores for exactly those ids.
 * Stops at the first rejection, when every suite is decided, or when `budget` paired examples are used.
 * The whole gate's error level `alpha` is split evenly over the suites (Bonferroni).
 *
 * @example
 * const outcome = await runSequentialGate({ suites, alpha: 0.05, batch: 32,
 *   scorePairs: async (s, ids) => ({ candidate: await score(cand, s, ids), baseline: await score(base, s, ids) }) });
 */
export async function runSequentialGate(options: {
  suites: readonly GateSuitePlan[];
  alpha: number;
  batch: number;
  budget?: number | undefined;
  scorePairs: (
    suite: GateSuitePlan,
    ids: readonly string[],
  ) => Promise<{ candidate: readonly number[]; baseline: readonly number[] }>;
  /** Called after each batch with the suite's state (for progress). */
  onBatch?: (summary: SuiteSummary) => void;
}): Promise<GateOutcome> {
  const { suites, batch } = options;
  if (suites.length === 0) throw new UsageError('USAGE', 'the gate has no suites to run');
  if (!Number.isSafeInteger(batch) || batch < 1)
    throw new UsageError('USAGE', `batch ${batch} must be a positive integer`);
  const budget = options.budget ?? Number.POSITIVE_INFINITY;
  const alpha = options.alpha / suites.length;
  const states = suites.map(
    (s) =>
      new SequentialSuite({
        name: s.name,
        role: s.role,
        threshold: s.threshold,
        alpha,
        scoreRange: s.scoreRange,
        available: s.ids.length,
      }),
  );
  let used = 0;
  const verdict = () => gateVerdict(states.map((s) => s.decision));
  while (verdict() === 'running' && used < budget) {
    for (let k = 0; k < suites.length && verdict() === 'running'; k++) {
      const state = states[k]!;
      if (state.decision !== 'running') continue;
      const take = Math.min(batch, state.available - state.used, budget - used);
      if (take <= 0) break;
      const ids = suites[k]!.ids.slice(state.used, state.used + take);
      const { candidate, baseline } = await options.scorePairs(suites[k]!, ids);
      state.observe(candidate, baseline);
      used += take;
      state.decide();
      options.onBatch?.(state.summary());
    }
  }
  for (const s of states) s.finish();
  const decision = verdict();
  return {
    decision: decision === 'running' ? 'inconclusive' : decision,
    suites: states.map((s) => s.summary()),
    examplesUsed: used,
  };
}
