// The digits evaluator the gate tests commit into their repositories: an ordinary script using the documented
// protocol (WEFT_MODEL, WEFT_EXAMPLES → one JSON line per example), scoring the digits MLP on digits.npz.

import { readFileSync } from 'node:fs';

/** The evaluator: reads digits.npz (a zip of stored .npy files) and the safetensors at WEFT_MODEL. */
export const EVALUATOR = String.raw`
import { appendFileSync, readFileSync } from 'node:fs';
appendFileSync('eval/calls.log', process.env.WEFT_MODEL + '\n');
function npz(path) {
  const b = readFileSync(path), out = {};
  for (let o = 0; b.readUInt32LE(o) === 0x04034b50; ) {
    const size = b.readUInt32LE(o + 18), nameLen = b.readUInt16LE(o + 26), extraLen = b.readUInt16LE(o + 28);
    const name = b.toString('latin1', o + 30, o + 30 + nameLen).replace(/\.npy$/, '');
    const data = b.subarray(o + 30 + nameLen + extraLen, o + 30 + nameLen + extraLen + size);
    const headerLen = data.readUInt16LE(8);
    const header = data.toString('latin1', 10, 10 + headerLen);
    out[name] = { dtype: /'descr': '([^']+)'/.exec(header)[1], body: data.subarray(10 + headerLen) };
    o += 30 + nameLen + extraLen + size;
  }
  return out;
}
function safetensors(path) {
  const b = readFileSync(path), n = Number(b.readBigUInt64LE(0)), header = JSON.parse(b.toString('utf8', 8, 8 + n)), out = {};
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const bytes = b.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]);
    out[k] = new Float32Array(new Uint8Array(bytes).buffer);
  }
  return out;
}
function linear(x, w, bias, outN, relu) {
  const inN = x.length, y = new Float32Array(outN);
  for (let o = 0; o < outN; o++) {
    let s = bias[o];
    for (let i = 0; i < inN; i++) s += w[o * inN + i] * x[i];
    y[o] = relu && s < 0 ? 0 : s;
  }
  return y;
}
const data = npz('eval/digits.npz'), w = safetensors(process.env.WEFT_MODEL);
const X = data.X_test.body, y = new BigInt64Array(new Uint8Array(data.y_test.body).buffer);
for (const line of readFileSync(process.env.WEFT_EXAMPLES, 'utf8').split('\n')) {
  if (!line) continue;
  const i = Number(line), x = new Float32Array(64);
  for (let j = 0; j < 64; j++) x[j] = X[i * 64 + j] / 16;
  const h1 = linear(x, w['fc1.weight'], w['fc1.bias'], 128, true);
  const h2 = linear(h1, w['fc2.weight'], w['fc2.bias'], 64, true);
  const o = linear(h2, w['fc3.weight'], w['fc3.bias'], 10, false);
  let best = 0;
  for (let k = 1; k < 10; k++) if (o[k] > o[best]) best = k;
  console.log(JSON.stringify({ id: line, score: BigInt(best) === y[i] ? 1 : 0 }));
}
`;

/**
 * `.weft/config.toml`'s gate for the digits evaluator: one target suite over the 540 test digits, α = 0.05,
 * batches of `batch`, seed 1.
 */
export function digitsGate(batch: number): string {
  return `[gate]
alpha = 0.05
batch = ${batch}
seed = 1

[[gate.suites]]
name = "digits"
command = "node eval/digits.mjs"
examples = 540
score_range = [0, 1]
role = "target"
min_improvement = 0.0
`;
}

/** Tensors of an F32 safetensors file as {name, shape, values}, in file order. */
export function readF32(path: string): { name: string; shape: number[]; values: Float32Array }[] {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.toString('utf8', 8, 8 + n)) as Record<
    string,
    { shape: number[]; data_offsets: [number, number] }
  >;
  return Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .sort((a, c) => a[1].data_offsets[0] - c[1].data_offsets[0])
    .map(([name, v]) => ({
      name,
      shape: v.shape,
      values: new Float32Array(new Uint8Array(b.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1])).buffer),
    }));
}
