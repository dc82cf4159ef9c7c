// The gate's decisions: one sequential state machine per suite (target or guard) over paired differences, and
// the whole-gate verdict. Pure; the scores come from whoever calls `observe`.

import { UsageError } from '../errors.js';
import { PairedDifferenceCS } from './confidence-sequence.js';

/** `target`: must improve by more than min_improvement; `guard`: must not get worse by tolerance or more. */
export type SuiteRole = 'target' | 'guard';

/** A suite's state: still being evaluated, or decided. A guard's `accept` means "satisfied". */
export type SuiteDecision = 'running' | 'accept' | 'reject' | 'inconclusive';

/** The proposal's outcome. */
export type GateDecision = 'accept' | 'reject' | 'inconclusive';

export interface SuiteSummary {
  name: string;
  role: SuiteRole;
  decision: SuiteDecision;
  /** The mean paired difference so far (candidate − baseline). */
  estimate: number;
  /** The confidence sequence's current interval on the mean difference. */
  lower: number;
  upper: number;
  /** The bar: min_improvement for a target, −tolerance for a guard. */
  threshold: number;
  used: number;
  available: number;
  /** The per-suite error level α' = α / number of suites. */
  alpha: number;
}

export interface SequentialSuiteOptions {
  name: string;
  role: SuiteRole;
  /** min_improvement for a target, −tolerance for a guard. */
  threshold: number;
  /** The per-suite level, already divided across suites (Bonferroni). */
  alpha: number;
  scoreRange: readonly [number, number];
  /** How many examples the suite has. */
  available: number;
}

/**
 * One suite's sequential test (EVALUATION.md "Decisions"): accept when the interval's lower end is above the
 * threshold, reject as soon as its upper end is below it, inconclusive when the examples run out (`finish`).
 * A decided suite takes no more observations. Decisions are taken by `decide()`, after each batch.
 *
 * @example
 * const s = new SequentialSuite({ name: 'digits', role: 'target', threshold: 0, alpha: 0.05,
 *   scoreRange: [0, 1], available: 540 });
 * s.observe([1, 0.5], [0, 0.5]); s.decide(); // 'running'
 */
export class SequentialSuite {
  readonly name: string;
  readonly role: SuiteRole;
  readonly threshold: number;
  readonly alpha: number;
  readonly available: number;
  readonly cs: PairedDifferenceCS;
  decision: SuiteDecision = 'running';

  constructor(options: SequentialSuiteOptions) {
    if (!Number.isSafeInteger(options.available) || options.available < 0) {
      throw new UsageError('USAGE', `suite ${options.name}: example count ${options.available} is not valid`);
    }
    this.name = options.name;
    this.role = options.role;
    this.threshold = options.threshold;
    this.alpha = options.alpha;
    this.available = options.available;
    this.cs = new PairedDifferenceCS({ alpha: options.alpha, scoreRange: options.scoreRange });
  }

  get used(): number {
    return this.cs.count;
  }

  /** Adds paired scores (same examples, same order). Throws if the suite is already decided. */
  observe(candidate: ArrayLike<number>, baseline: ArrayLike<number>): void {
    if (candidate.length !== baseline.length) {
      throw new UsageError(
        'USAGE',
        `suite ${this.name}: ${candidate.length} candidate vs ${baseline.length} baseline scores`,
      );
    }
    if (this.decision !== 'running') throw new UsageError('USAGE', `suite ${this.name} is already decided`);
    if (this.used + candidate.length > this.available) {
      throw new UsageError('USAGE', `suite ${this.name}: more observations than its ${this.available} examples`);
    }
    for (let i = 0; i < candidate.length; i++) this.cs.push(candidate[i]! - baseline[i]!);
  }

  /** Adds paired differences directly (for simulations). */
  observeDifferences(differences: ArrayLike<number>): void {
    if (this.decision !== 'running') throw new UsageError('USAGE', `suite ${this.name} is already decided`);
    for (let i = 0; i < differences.length; i++) this.cs.push(differences[i]!);
  }

  /** Takes a decision from the current interval; also marks an exhausted suite inconclusive. */
  decide(): SuiteDecision {
    if (this.decision !== 'running') return this.decision;
    // Rejection first: on a (rare) empty interval the conservative answer wins.
    if (this.cs.upper < this.threshold) this.decision = 'reject';
    else if (this.cs.lower > this.threshold) this.decision = 'accept';
    else if (this.used >= this.available) this.decision = 'inconclusive';
    return this.decision;
  }

  /** Ends evaluation (budget spent): a suite still running becomes inconclusive. */
  finish(): SuiteDecision {
    this.decide();
    if (this.decision === 'running') this.decision = 'inconclusive';
    return this.decision;
  }

  summary(): SuiteSummary {
    return {
      name: this.name,
      role: this.role,
      decision: this.decision,
      estimate: this.cs.estimate,
      lower: this.cs.lower,
      upper: this.cs.upper,
      threshold: this.threshold,
      used: this.used,
      available: this.available,
      alpha: this.alpha,
    };
  }
}

/**
 * The whole gate from its suites' states: `reject` as soon as any suite rejects; `accept` when every suite
 * accepts (targets improved, guards satisfied); `running` while any suite is undecided; else `inconclusive`.
 *
 * @example gateVerdict(['accept', 'running']) // 'running'
 */
export function gateVerdict(decisions: readonly SuiteDecision[]): GateDecision | 'running' {
  if (decisions.includes('reject')) return 'reject';
  if (decisions.every((d) => d === 'accept')) return 'accept';
  if (decisions.includes('running')) return 'running';
  return 'inconclusive';
}
