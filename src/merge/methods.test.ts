// Hand-computed expectations for every merge method on tensors of ≤ 16 entries (worked out in the comments).

import { describe, expect, it } from 'vitest';
import type { Scalar } from './params.js';
import { getMergeMethod, MERGE_METHOD_NAMES, runMerge } from './registry.js';

const f = (...xs: number[]) => Float32Array.from(xs);
const B4 = f(0, 0, 0, 0);
const A4 = f(1, -2, 3, 0.5);
const C4 = f(-1, 1, 2, -0.5);

function merge(
  method: string,
  models: Float32Array[],
  options: {
    base?: Float32Array;
    params?: Record<string, Scalar>;
    modelParams?: Record<string, Scalar>[];
    shape?: number[];
    statistics?: (Float32Array | undefined)[];
  } = {},
): number[] {
  const out = runMerge(getMergeMethod(method)!, {
    tensorName: 'layers.0.w',
    shape: options.shape ?? [models[0]!.length],
    ...(options.base ? { base: options.base } : {}),
    models,
    params: options.params ?? {},
    ...(options.modelParams ? { modelParams: options.modelParams } : {}),
    ...(options.statistics ? { statistics: options.statistics } : {}),
  });
  return Array.from(out);
}

function close(actual: number[], expected: number[], digits = 5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    expect(a, `entry ${i}`).toBeCloseTo(expected[i]!, digits);
  });
}

describe('the registry', () => {
  it('holds every method of MERGING.md', () => {
    expect([...MERGE_METHOD_NAMES].sort()).toEqual(
      [
        'linear',
        'task_arithmetic',
        'ties',
        'dare_ties',
        'dare_linear',
        'breadcrumbs',
        'breadcrumbs_ties',
        'della',
        'della_linear',
        'slerp',
        'nuslerp',
        'multislerp',
        'karcher',
        'model_stock',
        'nearswap',
        'sce',
        'ram',
        'passthrough',
        'fisher',
        'regmean',
      ].sort(),
    );
  });
});

describe('task-vector family', () => {
  it('task_arithmetic: B + λ Σ w_i δ_i', () => {
    expect(merge('task_arithmetic', [A4, C4], { base: B4, params: { weight: 1 } })).toEqual([0, -1, 5, 0]);
    expect(merge('task_arithmetic', [A4, C4], { base: B4, params: { weight: 1, lambda: 0.5 } })).toEqual([
      0, -0.5, 2.5, 0,
    ]);
    // normalize divides by Σ w = 1 + 3
    expect(
      merge('task_arithmetic', [A4, C4], {
        base: f(1, 1, 1, 1),
        params: { normalize: true },
        modelParams: [{ weight: 1 }, { weight: 3 }],
      }),
    ).toEqual([1 + (0 - 6) / 4, 1 + (-3 + 0) / 4, 1 + (2 + 3) / 4, 1 + (-0.5 - 4.5) / 4]);
  });

  it('ties: trim to the top half, elect signs, disjoint mean', () => {
    // A' = [0, -2, 3, 0]; C' keeps |2| and the first of the tied |1|s (index 0): [-1, 0, 2, 0].
    // S = [-1, -2, 5, 0] → signs [-, -, +, +]; index 2 averages 3 and 2; index 3 has no agreeing entry.
    expect(merge('ties', [A4, C4], { base: B4, params: { weight: 1, density: 0.5 } })).toEqual([-1, -2, 2.5, 0]);
  });

  it('ties: weighted (mergekit) and unweighted (TIES paper) sign votes', () => {
    const modelParams = [
      { weight: 2, density: 0.5 },
      { weight: 1, density: 0.5 },
    ];
    // D = [0,-4,6,0] and [-1,0,2,0]; weighted: divide by Σ w of the agreeing models.
    close(merge('ties', [A4, C4], { base: B4, modelParams }), [-1, -2, 8 / 3, 0]);
    // unweighted: divide by the count of agreeing models.
    close(merge('ties', [A4, C4], { base: B4, modelParams, params: { sign_vote: 'unweighted' } }), [-1, -4, 4, 0]);
  });

  it('breadcrumbs: drop the smallest and the top-gamma outliers', () => {
    // N = 4, gamma 0.25 → n_top 1, keep 2, n_bot 1: keep ascending ranks 1 and 2.
    // A ascending: idx3 (.5), idx0 (1), idx1 (2), idx2 (3) → keep idx0, idx1; C: idx3, idx0, idx1 (tie, later), idx2.
    const params = { weight: 1, density: 0.5, gamma: 0.25 };
    expect(merge('breadcrumbs', [A4, C4], { base: B4, params })).toEqual([0, -1, 0, 0]);
    // breadcrumbs_ties: S = [0, -1, 0, 0]; index 0 elects + (keeps A's 1), index 1 elects - (keeps A's -2).
    expect(merge('breadcrumbs_ties', [A4, C4], { base: B4, params })).toEqual([1, -2, 0, 0]);
  });

  it('breadcrumbs with gamma 0 keeps the top entries (mergekit zeroes the tensor: not copied)', () => {
    expect(merge('breadcrumbs', [A4], { base: B4, params: { weight: 1, density: 0.5, gamma: 0 } })).toEqual([
      0, -2, 3, 0,
    ]);
  });

  it('dare and della at density 1 are task arithmetic', () => {
    for (const m of ['dare_linear', 'della_linear']) {
      expect(merge(m, [A4, C4], { base: B4, params: { weight: 1 } })).toEqual([0, -1, 5, 0]);
    }
    // dare_ties at density 1 is TIES without trimming and without normalising; S = [0, -1, 5, 0] elects +, -, +, +.
    expect(merge('dare_ties', [A4, C4], { base: B4, params: { weight: 1 } })).toEqual([1, -2, 5, 0.5]);
  });

  it('magnitude density too small for the tensor names it', () => {
    expect(() => merge('ties', [A4], { base: B4, params: { weight: 1, density: 0.1 } })).toThrow(
      /tensor "layers.0.w": density 0.1 of model 1 keeps no entry of 4/,
    );
  });
});

describe('interpolations', () => {
  it('linear: Σ w_i T_i / Σ w_i', () => {
    const modelParams = [{ weight: 1 }, { weight: 3 }];
    expect(merge('linear', [A4, C4], { modelParams })).toEqual([-0.5, 0.25, 2.25, -0.25]);
    expect(merge('linear', [A4, C4], { modelParams, params: { normalize: false } })).toEqual([-2, 1, 9, -1]);
  });

  it('slerp: quarter circle at t = 0.5, lerp when parallel', () => {
    close(merge('slerp', [f(0, 1)], { base: f(1, 0), params: { t: 0.5 } }), [Math.SQRT1_2, Math.SQRT1_2]);
    expect(merge('slerp', [f(2, 0)], { base: f(1, 0), params: { t: 0.5 } })).toEqual([1.5, 0]);
    expect(merge('slerp', [f(0, 1)], { base: f(1, 0), params: { t: 0 } })).toEqual([1, 0]);
  });

  it('nuslerp: t = w2 / (w1 + w2), with a base on task vectors', () => {
    close(merge('nuslerp', [f(1, 0), f(0, 1)], { params: { weight: 1 } }), [Math.SQRT1_2, Math.SQRT1_2]);
    const s = Math.sin(Math.PI / 8);
    const c = Math.sin((3 * Math.PI) / 8);
    close(merge('nuslerp', [f(1, 0), f(0, 1)], { modelParams: [{ weight: 1 }, { weight: 3 }] }), [s, c]);
    close(merge('nuslerp', [f(2, 1), f(1, 2)], { base: f(1, 1), params: { weight: 1 } }), [
      1 + Math.SQRT1_2,
      1 + Math.SQRT1_2,
    ]);
  });

  it('nuslerp: whole tensor, rows, or columns', () => {
    const a = f(1, 0, 1, 0);
    const c = f(1, 0, 0, 1);
    const shape = [2, 2];
    // flat: cos = 1/2, θ = π/3, both coefficients sin(π/6)/sin(π/3) = 1/√3.
    const k = 1 / Math.sqrt(3);
    close(merge('nuslerp', [a, c], { shape, params: { weight: 1 } }), [2 * k, 0, k, k]);
    // rows: row 0 parallel (lerp), row 1 orthogonal.
    close(merge('nuslerp', [a, c], { shape, params: { weight: 1, nuslerp_flatten: false, nuslerp_row_wise: true } }), [
      1,
      0,
      Math.SQRT1_2,
      Math.SQRT1_2,
    ]);
    // columns: column 0 is [1,1] vs [1,0] (θ = π/4); column 1 is [0,0] vs [0,1] (θ = π/2).
    const k0 = Math.sin(Math.PI / 8) / Math.sin(Math.PI / 4);
    close(merge('nuslerp', [a, c], { shape, params: { weight: 1, nuslerp_flatten: false } }), [
      2 * k0,
      0,
      k0,
      Math.SQRT1_2,
    ]);
  });

  it('multislerp and karcher: the 45° direction scaled by the mean norm 1.5', () => {
    const r = 1.5 * Math.SQRT1_2;
    close(merge('multislerp', [f(1, 0), f(0, 2)], { params: { weight: 1 } }), [r, r]);
    close(merge('karcher', [f(1, 0), f(0, 2)]), [r, r]);
    // With a base, on task vectors.
    close(merge('multislerp', [f(2, 1), f(1, 3)], { base: f(1, 1), params: { weight: 1 } }), [1 + r, 1 + r]);
  });

  it('karcher: three points on a circle meet at the middle one', () => {
    const a = f(Math.cos(0.3), Math.sin(0.3));
    const b = f(1, 0);
    const c = f(Math.cos(-0.3), Math.sin(-0.3));
    close(merge('karcher', [a, b, c]), [1, 0]);
  });

  it('model_stock: t = N cos / (1 + (N − 1) cos)', () => {
    // δ = [1, 1] and [1, 0]: cos = 1/√2, t = √2 / (1 + 1/√2) = 0.828427…
    const t = (2 * Math.SQRT1_2) / (1 + Math.SQRT1_2);
    close(merge('model_stock', [f(2, 2), f(2, 1)], { base: f(1, 1) }), [t * 2 + (1 - t), t * 1.5 + (1 - t)]);
    // Orthogonal task vectors: t = 0, the base.
    expect(merge('model_stock', [f(1, 0), f(0, 1)], { base: f(0, 0) })).toEqual([0, 0]);
  });

  it('model_stock filter_wise: one factor per row', () => {
    const out = merge('model_stock', [f(1, 0, 1, 1), f(0, 1, 1, 1)], {
      base: f(0, 0, 0, 0),
      shape: [2, 2],
      params: { filter_wise: true },
    });
    // row 0 orthogonal → base; row 1 parallel → the mean.
    expect(out).toEqual([0, 0, 1, 1]);
  });

  it('nearswap: w = clamp(t / |A − B|, 0, 1)', () => {
    close(merge('nearswap', [f(0.1, 1, -4)], { base: f(0, 0, 0), params: { t: 0.5 } }), [0.1, 0.5, -0.5]);
  });

  it('passthrough: one tensor, scaled', () => {
    expect(merge('passthrough', [A4])).toEqual([1, -2, 3, 0.5]);
    expect(merge('passthrough', [A4], { params: { scale: 2 } })).toEqual([2, -4, 6, 1]);
  });
});

describe('sce and ram', () => {
  it('sce: weights by mean square delta, minority signs erased', () => {
    // mean squares 3.5625 and 1.5625; S = [0, -1, 5, 0].
    const wA = 3.5625 / 5.125;
    const wC = 1.5625 / 5.125;
    close(merge('sce', [A4, C4], { base: B4 }), [1, -2, 3 * wA + 2 * wC, 0.5]);
  });

  it('sce select_topk keeps the highest-variance entries', () => {
    // variances [1, 2.25, .25, .25]: keep indices 1 and 0.
    close(merge('sce', [A4, C4], { base: B4, params: { select_topk: 0.5 } }), [1, -2, 0, 0]);
  });

  it('ram: unique changes kept, shared ones averaged', () => {
    expect(merge('ram', [f(1, -2, 0, 0.5), f(-1, 0, 0, 0.5)], { base: B4 })).toEqual([0, -2, 0, 0.5]);
    // below epsilon counts as unchanged
    expect(merge('ram', [f(1e-6, 2)], { base: f(0, 0) })).toEqual([0, 2]);
  });
});

describe('data-aware', () => {
  it('fisher: Σ λ F T / Σ λ F with F floored', () => {
    expect(merge('fisher', [f(1, 2), f(3, 4)], { statistics: [f(1, 0), f(3, 0)] })).toEqual([2.5, 3]);
    expect(
      merge('fisher', [f(1, 2), f(3, 4)], {
        statistics: [f(1, 1), f(1, 1)],
        modelParams: [{ weight: 3 }, { weight: 1 }],
      }),
    ).toEqual([1.5, 2.5]);
  });

  it('fisher without statistics names the tensor', () => {
    expect(() => merge('fisher', [f(1), f(2)])).toThrow(/tensor "layers.0.w": model 1 has no Fisher information/);
  });

  it('regmean: W* = (Σ W_i G_i)(Σ G_i)⁻¹ on a [1, 2] weight', () => {
    expect(merge('regmean', [f(1, 0), f(0, 1)], { shape: [1, 2], statistics: [f(1, 0, 0, 0), f(0, 0, 0, 1)] })).toEqual(
      [1, 1],
    );
    // Equal Gram matrices: the average, whatever alpha.
    close(
      merge('regmean', [f(1, 2, 3, 4), f(3, 2, 1, 0)], {
        shape: [2, 2],
        statistics: [f(2, 1, 1, 2), f(2, 1, 1, 2)],
        params: { alpha: 0.5 },
      }),
      [2, 2, 2, 2],
    );
    // G_A = [[2,1],[1,2]], G_C = [[1,0],[0,1]], alpha 1: A = [[3,1],[1,3]], R = [1,0]G_A + [0,1]G_C = [2,2].
    // W* A = R → W* = [0.5, 0.5].
    close(
      merge('regmean', [f(1, 0), f(0, 1)], {
        shape: [1, 2],
        statistics: [f(2, 1, 1, 2), f(1, 0, 0, 1)],
        params: { alpha: 1 },
      }),
      [0.5, 0.5],
    );
    // alpha 0 drops the off-diagonals: A = diag(3, 3), R = [2, 1] → [2/3, 1/3].
    close(
      merge('regmean', [f(1, 0), f(0, 1)], {
        shape: [1, 2],
        statistics: [f(2, 1, 1, 2), f(1, 0, 0, 1)],
        params: { alpha: 0 },
      }),
      [2 / 3, 1 / 3],
    );
  });

  it('regmean falls back to the average for tensors without Gram matrices', () => {
    expect(merge('regmean', [f(1, 2), f(3, 4)])).toEqual([2, 3]);
  });
});

describe('runMerge checks', () => {
  it('rejects a missing base, a wrong arity, wrong lengths, a missing or bad parameter', () => {
    expect(() => merge('ties', [A4], { params: { weight: 1 } })).toThrow(/ties needs a base model/);
    expect(() => merge('slerp', [A4, C4], { base: B4, params: { t: 0.5 } })).toThrow(/slerp merges 1 model/);
    expect(() => merge('model_stock', [A4], { base: B4 })).toThrow(/model_stock merges at least 2 models/);
    expect(() => merge('linear', [A4, f(1)])).toThrow(/needs parameter weight|model 2 has 1 values/);
    expect(() => merge('linear', [A4, C4])).toThrow(/linear needs parameter weight of model 1/);
    expect(() => merge('ties', [A4], { base: B4, params: { weight: 1, density: 2 } })).toThrow(
      /density of model 1 = 2 is outside \(0, 1\]/,
    );
    expect(() => merge('linear', [A4], { params: { weight: 1, normalize: 'yes' } })).toThrow(
      /normalize = "yes" must be true or false/,
    );
  });
});
