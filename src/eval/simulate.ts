// In-process gate simulations with Bernoulli scores of known means (EVALUATION.md "What to measure"): what the
// statistical tests and `bench/gate.mjs` measure. Pure and seeded; the same decisions code as real gates.

import { fillUniform } from '../tensor/rng.js';
import { type GateDecision, SequentialSuite } from './sequential-suite.js';

export interface GateScenario {
  /** True mean difference Δ = P(candidate right) − P(baseline right). */
  delta: number;
  /** P(baseline correct); default 0.70. */
  baseRate?: number;
  /** Paired: the candidate disagrees with the baseline on this fraction of examples (default 0.10).
   *  Unpaired (`paired: false`): the two models' 0/1 scores are independent. */
  disagreement?: number;
  paired?: boolean;
  suiteSize: number;
  minImprovement?: number;
  alpha?: number;
  batch?: number;
  seed: number;
}

export interface SimulatedGate {
  decision: GateDecision;
  used: number;
}

/**
 * Simulates one single-target gate (run number `run` of the scenario; runs use separate Philox streams):
 * paired 0/1 differences are +1 with probability (q + Δ)/2 and −1 with (q − Δ)/2 (q = disagreement), so the
 * mean is Δ and the baseline's rate is untouched; unpaired, both scores are independent Bernoulli draws.
 *
 * @example simulateGate({ delta: 0.05, suiteSize: 10_000, seed: 1 }, 0).decision // usually 'accept'
 */
export function simulateGate(scenario: GateScenario, run: number): SimulatedGate {
  const baseRate = scenario.baseRate ?? 0.7;
  const q = scenario.disagreement ?? 0.1;
  const paired = scenario.paired ?? true;
  const batch = scenario.batch ?? 32;
  const pPlus = (q + scenario.delta) / 2;
  const pMinus = (q - scenario.delta) / 2;
  const candRate = baseRate + scenario.delta;
  const suite = new SequentialSuite({
    name: 'simulated',
    role: 'target',
    threshold: scenario.minImprovement ?? 0,
    alpha: scenario.alpha ?? 0.05,
    scoreRange: [0, 1],
    available: scenario.suiteSize,
  });
  const draws = paired ? 1 : 2;
  const u = new Float32Array(batch * draws);
  const d = new Float64Array(batch);
  let at = 0;
  while (suite.decide() === 'running') {
    const n = Math.min(batch, scenario.suiteSize - at);
    const uniforms = n === batch ? u : u.subarray(0, n * draws);
    fillUniform(uniforms, scenario.seed, run, at * draws);
    const diffs = n === batch ? d : d.subarray(0, n);
    for (let i = 0; i < n; i++) {
      if (paired) {
        const x = uniforms[i]!;
        diffs[i] = x < pPlus ? 1 : x < pPlus + pMinus ? -1 : 0;
      } else {
        diffs[i] = (uniforms[2 * i]! < candRate ? 1 : 0) - (uniforms[2 * i + 1]! < baseRate ? 1 : 0);
      }
    }
    suite.observeDifferences(diffs);
    at += n;
  }
  const decision = suite.decision;
  return { decision: decision === 'running' ? 'inconclusive' : decision, used: suite.used };
}

export interface ScenarioStats {
  runs: number;
  accept: number;
  reject: number;
  inconclusive: number;
  medianUsed: number;
}

/**
 * Runs `runs` simulated gates of a scenario and summarises them (rates are fractions of runs).
 *
 * @example summariseScenario({ delta: 0, suiteSize: 2000, seed: 3 }, 2000).accept // ≤ 0.05
 */
export function summariseScenario(scenario: GateScenario, runs: number): ScenarioStats {
  const used = new Float64Array(runs);
  let accept = 0;
  let reject = 0;
  let inconclusive = 0;
  for (let r = 0; r < runs; r++) {
    const g = simulateGate(scenario, r);
    used[r] = g.used;
    if (g.decision === 'accept') accept++;
    else if (g.decision === 'reject') reject++;
    else inconclusive++;
  }
  used.sort();
  const m = runs >> 1;
  const medianUsed = runs % 2 ? used[m]! : (used[m - 1]! + used[m]!) / 2;
  return { runs, accept: accept / runs, reject: reject / runs, inconclusive: inconclusive / runs, medianUsed };
}
