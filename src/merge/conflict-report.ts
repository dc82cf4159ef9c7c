// Statistics of a tensor changed on both sides of a merge, for `weft status` and conflict reports: how much
// both sides touched, how often they disagree in sign, and how aligned the two task vectors are. Pure.

/** Per-tensor report of a both-sides change; fractions are over all entries. */
export interface ConflictReport {
  numel: number;
  /** Fraction of entries changed (≠ base) on both sides. */
  changedBoth: number;
  /** Fraction of entries whose two changes have opposite signs. */
  oppositeSigns: number;
  /** Cosine of the two task vectors (ours − base, theirs − base); 0 when either is zero. */
  cosine: number;
  /** L2 norms of the two task vectors and of the base. */
  normOurs: number;
  normTheirs: number;
  normBase: number;
}

/**
 * Computes the conflict report of one tensor, summing in float64.
 *
 * @example
 * conflictReport({ base: new Float32Array([0, 0]), ours: new Float32Array([1, 1]), theirs: new Float32Array([1, -1]) })
 * // { numel: 2, changedBoth: 1, oppositeSigns: 0.5, cosine: 0, normOurs: √2, normTheirs: √2, normBase: 0 }
 */
export function conflictReport(options: {
  base: Float32Array;
  ours: Float32Array;
  theirs: Float32Array;
}): ConflictReport {
  const { base, ours, theirs } = options;
  const n = base.length;
  if (ours.length !== n || theirs.length !== n) {
    throw new RangeError(`base, ours and theirs hold ${n}, ${ours.length} and ${theirs.length} entries`);
  }
  let both = 0;
  let opposite = 0;
  let dot = 0;
  let no = 0;
  let nt = 0;
  let nb = 0;
  for (let j = 0; j < n; j++) {
    const b = base[j]!;
    const o = ours[j]! - b;
    const t = theirs[j]! - b;
    if (ours[j] !== b && theirs[j] !== b && !(Number.isNaN(ours[j]!) && Number.isNaN(b))) both++;
    if (o * t < 0) opposite++;
    dot += o * t;
    no += o * o;
    nt += t * t;
    nb += b * b;
  }
  const normOurs = Math.sqrt(no);
  const normTheirs = Math.sqrt(nt);
  return {
    numel: n,
    changedBoth: n === 0 ? 0 : both / n,
    oppositeSigns: n === 0 ? 0 : opposite / n,
    cosine: normOurs === 0 || normTheirs === 0 ? 0 : dot / (normOurs * normTheirs),
    normOurs,
    normTheirs,
    normBase: Math.sqrt(nb),
  };
}
