// The community's evaluator (Weft's protocol): scores the digit classifier in $WEFT_MODEL on the held-out
// examples listed in $WEFT_EXAMPLES — 1 when the prediction is right, else 0 — one JSON line per example.
// Ordinary Node, no dependencies; it reads only the model and eval/digits-test.json, and writes only stdout.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function safetensors(path) {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.toString('utf8', 8, 8 + n));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bytes = b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    out[name] = new Float32Array(new Uint8Array(bytes).buffer); // F32 tensors
  }
  return out;
}

function linear(x, w, bias, outputs, relu) {
  const y = new Float32Array(outputs);
  for (let o = 0; o < outputs; o++) {
    let s = bias[o];
    for (let i = 0; i < x.length; i++) s += w[o * x.length + i] * x[i];
    y[o] = relu && s < 0 ? 0 : s;
  }
  return y;
}

const w = safetensors(process.env.WEFT_MODEL);
const here = dirname(fileURLToPath(import.meta.url));
const test = JSON.parse(readFileSync(join(here, 'digits-test.json'), 'utf8')); // [{ pixels: [64 × 0..16], label }]
for (const id of readFileSync(process.env.WEFT_EXAMPLES, 'utf8').split('\n').filter(Boolean)) {
  const { pixels, label } = test[Number(id)];
  const x = Float32Array.from(pixels, (p) => p / 16);
  const h1 = linear(x, w['fc1.weight'], w['fc1.bias'], 128, true);
  const h2 = linear(h1, w['fc2.weight'], w['fc2.bias'], 64, true);
  const logits = linear(h2, w['fc3.weight'], w['fc3.bias'], 10, false);
  let predicted = 0;
  for (let k = 1; k < 10; k++) if (logits[k] > logits[predicted]) predicted = k;
  console.log(JSON.stringify({ id, score: predicted === label ? 1 : 0 }));
}
