// Anytime-valid confidence sequences for the mean of bounded scores: the predictable plug-in empirical-Bernstein
// CS of Waudby-Smith & Ramdas (JRSS-B 2024, Thm. 2), with a running intersection. Pure arithmetic, no I/O.

import { UsageError } from '../errors.js';

/** The bet cap c of the paper's λ_t = min(…, c); 1/2 keeps ψ(λ) finite and the width stable. */
const LAMBDA_CAP = 0.5;

/**
 * The predictable plug-in empirical-Bernstein confidence sequence for the mean of observations in [0, 1]
 * (Waudby-Smith & Ramdas, "Estimating means of bounded random variables by betting", JRSS-B 2024, Thm. 2):
 * with probability ≥ 1 − α, every interval it reports — after every single observation — contains the true
 * mean, so it may be looked at whenever one likes. The reported interval is the running intersection of the
 * per-step intervals and [0, 1] (still valid, never wider). `lower > upper` can happen only on the rare
 * (≤ α) runs where the sequence has failed; callers treat it as decisive on either side.
 *
 * @example
 * const cs = new EmpiricalBernsteinCS({ alpha: 0.05 });
 * for (const x of [0.5, 1, 0.5, 1]) cs.push(x);
 * cs.lower <= cs.mean && cs.mean <= cs.upper; // true
 */
export class EmpiricalBernsteinCS {
  readonly alpha: number;
  /** ln(2/α), computed once. */
  private readonly logTerm: number;
  /** Observations so far. */
  count = 0;
  private sumX = 0;
  private sumSquaredDeviation = 0;
  /** μ̂_{t} and σ̂²_{t} after the last observation (μ̂_0 = 1/2, σ̂²_0 = 1/4). */
  private muHat = 0.5;
  private sigma2Hat = 0.25;
  private sumLambda = 0;
  private sumLambdaX = 0;
  private sumVPsi = 0;
  /** The running intersection, in [0, 1]. */
  lower = 0;
  upper = 1;

  constructor(options: { alpha: number }) {
    const { alpha } = options;
    if (!(alpha > 0 && alpha < 1)) throw new UsageError('USAGE', `confidence level alpha ${alpha} must be in (0, 1)`);
    this.alpha = alpha;
    this.logTerm = Math.log(2 / alpha);
  }

  /** The plain mean of the observations so far (0.5 before any). */
  get mean(): number {
    return this.count === 0 ? 0.5 : this.sumX / this.count;
  }

  /** Adds one observation x ∈ [0, 1] and narrows the interval. */
  push(x: number): void {
    if (!(x >= 0 && x <= 1)) throw new UsageError('USAGE', `confidence sequence: observation ${x} is outside [0, 1]`);
    const t = this.count + 1;
    // λ_t uses only the past: σ̂²_{t−1}.
    const lambda = Math.min(Math.sqrt((2 * this.logTerm) / (this.sigma2Hat * t * Math.log(1 + t))), LAMBDA_CAP);
    const deviation = x - this.muHat;
    const v = 4 * deviation * deviation;
    const psi = (-Math.log1p(-lambda) - lambda) / 4;
    this.sumLambda += lambda;
    this.sumLambdaX += lambda * x;
    this.sumVPsi += v * psi;
    this.count = t;
    this.sumX += x;
    this.muHat = (0.5 + this.sumX) / (t + 1);
    const d = x - this.muHat;
    this.sumSquaredDeviation += d * d;
    this.sigma2Hat = (0.25 + this.sumSquaredDeviation) / (t + 1);
    const centre = this.sumLambdaX / this.sumLambda;
    const width = (this.logTerm + this.sumVPsi) / this.sumLambda;
    if (centre - width > this.lower) this.lower = centre - width;
    if (centre + width < this.upper) this.upper = centre + width;
  }
}

/**
 * A confidence sequence on the mean paired difference d = s_candidate − s_baseline of scores in
 * `scoreRange = [lo, hi]`: each d ∈ [−R, R] (R = hi − lo) is mapped to x = (d + R) / (2R) ∈ [0, 1], and the
 * interval mapped back (d = x·2R − R).
 *
 * @example
 * const cs = new PairedDifferenceCS({ alpha: 0.05, scoreRange: [0, 1] });
 * cs.push(1); cs.push(0); cs.estimate; // 0.5
 */
export class PairedDifferenceCS {
  private readonly cs: EmpiricalBernsteinCS;
  private readonly range: number;
  private sumD = 0;

  constructor(options: { alpha: number; scoreRange: readonly [number, number] }) {
    const [lo, hi] = options.scoreRange;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) {
      throw new UsageError('USAGE', `score range [${lo}, ${hi}] must be two finite numbers with lo < hi`);
    }
    this.cs = new EmpiricalBernsteinCS({ alpha: options.alpha });
    this.range = hi - lo;
  }

  get count(): number {
    return this.cs.count;
  }
  /** Mean paired difference so far (0 before any). */
  get estimate(): number {
    return this.cs.count === 0 ? 0 : this.sumD / this.cs.count;
  }
  get lower(): number {
    return this.cs.lower * 2 * this.range - this.range;
  }
  get upper(): number {
    return this.cs.upper * 2 * this.range - this.range;
  }

  /** Adds one paired difference d ∈ [−R, R]. */
  push(d: number): void {
    const R = this.range;
    if (!(d >= -R && d <= R)) throw new UsageError('USAGE', `paired difference ${d} is outside [${-R}, ${R}]`);
    this.sumD += d;
    // Clamp guards against rounding just outside [0, 1] for d = ±R.
    this.cs.push(Math.min(1, Math.max(0, (d + R) / (2 * R))));
  }
}
