// Numeric kernels over float32 arrays, accumulating in float64. Pure: no I/O, no allocation beyond results.
// Two values are "the same" when they are equal (so -0 matches 0) or both NaN.

function sameLength(a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) throw new RangeError(`arrays of ${a.length} and ${b.length} elements`);
}

/**
 * The Euclidean norm, √Σ aᵢ², summed in float64.
 *
 * @example l2Norm(new Float32Array([3, 4])) // 5
 */
export function l2Norm(a: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    sum += x * x;
  }
  return Math.sqrt(sum);
}

/**
 * The inner product Σ aᵢbᵢ, summed in float64. Throws RangeError if the lengths differ.
 *
 * @example dot(new Float32Array([1, 2]), new Float32Array([3, 4])) // 11
 */
export function dot(a: Float32Array, b: Float32Array): number {
  sameLength(a, b);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/**
 * The largest |aᵢ - bᵢ| (exact: float64 holds the difference of two float32s), 0 for empty arrays. Pairs that
 * are the same count 0 (so equal infinities do too); a NaN facing a number makes the result NaN.
 *
 * @example maxAbsDiff(new Float32Array([1, 2]), new Float32Array([1.5, -1])) // 3
 */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  sameLength(a, b);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const d = Math.abs(x - y);
    if (d > max) max = d;
    else if (Number.isNaN(d) && (!Number.isNaN(x) || !Number.isNaN(y))) return Number.NaN;
  }
  return max;
}

/**
 * How many positions hold values that are not the same (see the file header: -0 matches 0, NaN matches NaN).
 *
 * @example countDifferent(new Float32Array([0, NaN, 1]), new Float32Array([-0, NaN, 2])) // 1
 */
export function countDifferent(a: Float32Array, b: Float32Array): number {
  sameLength(a, b);
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && (!Number.isNaN(x) || !Number.isNaN(y))) count++;
  }
  return count;
}
