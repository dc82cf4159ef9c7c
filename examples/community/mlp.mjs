// A small trainer for the demo: the UCI digits, an MLP 64→128→64→10 (ReLU, softmax cross-entropy, Adam) in
// Float32Array, full training or LoRA on frozen weights, and safetensors / PEFT files written by hand (F32).
// Deterministic (seeded); no dependencies, no network. Not a general library: shapes are the demo's.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** The layers in order: name, inputs, outputs. */
export const LAYERS = [
  ['fc1', 64, 128],
  ['fc2', 128, 64],
  ['fc3', 64, 10],
];

/** A seeded random source (mulberry32): numbers in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of a copy of `items`. */
export function shuffled(items, random) {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The 1,797 digits of data/digits.csv.gz as [{ pixels: number[64] (0..16), label }]. */
export function loadDigits(path) {
  const text = gunzipSync(readFileSync(path)).toString('utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const v = line.split(',').map(Number);
      if (v.length !== 65) throw new Error(`${path}: a line has ${v.length} values, expected 65`);
      return { pixels: v.slice(0, 64), label: v[64] };
    });
}

/** A new model: He-uniform weights, zero biases. Params are { 'fc1.weight': Float32Array [out*in], … }. */
export function initModel(seed) {
  const random = rng(seed);
  const p = {};
  for (const [name, inN, outN] of LAYERS) {
    const bound = Math.sqrt(6 / inN);
    p[`${name}.weight`] = Float32Array.from({ length: inN * outN }, () => (random() * 2 - 1) * bound);
    p[`${name}.bias`] = new Float32Array(outN);
  }
  return p;
}

export function cloneModel(p) {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float32Array.from(v)]));
}

function linear(x, w, b, inN, outN, relu) {
  const y = new Float32Array(outN);
  for (let o = 0; o < outN; o++) {
    let s = b[o];
    const row = o * inN;
    for (let i = 0; i < inN; i++) s += w[row + i] * x[i];
    y[o] = relu && s < 0 ? 0 : s;
  }
  return y;
}

const input = (pixels) => Float32Array.from(pixels, (v) => v / 16);

/** Activations of every layer for one example (index 0 is the input). */
function forward(p, x) {
  const acts = [x];
  LAYERS.forEach(([name, inN, outN], k) => {
    acts.push(linear(acts[k], p[`${name}.weight`], p[`${name}.bias`], inN, outN, k < LAYERS.length - 1));
  });
  return acts;
}

/** The predicted digit. */
export function predict(p, pixels) {
  const logits = forward(p, input(pixels)).at(-1);
  let best = 0;
  for (let k = 1; k < logits.length; k++) if (logits[k] > logits[best]) best = k;
  return best;
}

/** Fraction of `examples` predicted right. */
export function accuracy(p, examples) {
  let right = 0;
  for (const e of examples) if (predict(p, e.pixels) === e.label) right++;
  return right / examples.length;
}

/** Accuracy per digit (index = label). */
export function accuracyByDigit(p, examples) {
  const right = new Array(10).fill(0);
  const all = new Array(10).fill(0);
  for (const e of examples) {
    all[e.label]++;
    if (predict(p, e.pixels) === e.label) right[e.label]++;
  }
  return right.map((r, d) => (all[d] ? r / all[d] : 0));
}

/** Adds the gradients of the cross-entropy loss of one example to `g` (same keys as the params). */
function backward(p, x, label, g) {
  const acts = forward(p, x);
  const logits = acts.at(-1);
  const max = Math.max(...logits);
  let sum = 0;
  const delta0 = Float32Array.from(logits, (v) => {
    const e = Math.exp(v - max);
    sum += e;
    return e;
  });
  for (let k = 0; k < delta0.length; k++) delta0[k] /= sum;
  delta0[label] -= 1;
  let delta = delta0;
  for (let k = LAYERS.length - 1; k >= 0; k--) {
    const [name, inN, outN] = LAYERS[k];
    const a = acts[k];
    const gw = g[`${name}.weight`];
    const gb = g[`${name}.bias`];
    const w = p[`${name}.weight`];
    const prev = k > 0 ? new Float32Array(inN) : undefined;
    for (let o = 0; o < outN; o++) {
      const d = delta[o];
      if (d === 0) continue;
      gb[o] += d;
      const row = o * inN;
      for (let i = 0; i < inN; i++) {
        gw[row + i] += d * a[i];
        if (prev) prev[i] += d * w[row + i];
      }
    }
    if (prev) for (let i = 0; i < inN; i++) if (a[i] <= 0) prev[i] = 0; // ReLU
    delta = prev;
  }
}

/** Adam over a set of named Float32Arrays. */
function adam(params, lr) {
  const m = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, new Float32Array(v.length)]));
  const s = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, new Float32Array(v.length)]));
  let t = 0;
  return (grads) => {
    t++;
    const c1 = 1 - 0.9 ** t;
    const c2 = 1 - 0.999 ** t;
    for (const [k, v] of Object.entries(params)) {
      const g = grads[k];
      const mk = m[k];
      const sk = s[k];
      for (let i = 0; i < v.length; i++) {
        mk[i] = 0.9 * mk[i] + 0.1 * g[i];
        sk[i] = 0.999 * sk[i] + 0.001 * g[i] * g[i];
        v[i] -= (lr * (mk[i] / c1)) / (Math.sqrt(sk[i] / c2) + 1e-8);
      }
    }
  };
}

const zerosLike = (p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, new Float32Array(v.length)]));

/**
 * Trains every weight and bias of a copy of `model` on `examples` (mini-batches of `batch`, Adam).
 * Returns the new model.
 */
export function trainFull(model, examples, { epochs, lr = 0.003, batch = 32, seed = 1 }) {
  const p = cloneModel(model);
  const random = rng(seed);
  const step = adam(p, lr);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shuffled(examples, random);
    for (let start = 0; start < order.length; start += batch) {
      const g = zerosLike(p);
      const chunk = order.slice(start, start + batch);
      for (const e of chunk) backward(p, input(e.pixels), e.label, g);
      for (const v of Object.values(g)) for (let i = 0; i < v.length; i++) v[i] /= chunk.length;
      step(g);
    }
  }
  return p;
}

/**
 * Trains a LoRA update (W + B·A·alpha/rank) of `modules` with everything in `model` frozen. A starts small
 * and random, B at zero (as PEFT does). Returns { rank, alpha, modules, factors: { fc1: { A [r*in], B [out*r] } } }.
 */
export function trainLora(model, examples, { modules, rank, alpha, epochs, lr = 0.003, batch = 32, seed = 1 }) {
  const random = rng(seed);
  const scale = alpha / rank;
  const dims = Object.fromEntries(LAYERS.map(([name, inN, outN]) => [name, { inN, outN }]));
  const trainable = {};
  for (const m of modules) {
    const { inN, outN } = dims[m];
    const bound = 1 / Math.sqrt(inN);
    trainable[`${m}.A`] = Float32Array.from({ length: rank * inN }, () => (random() * 2 - 1) * bound);
    trainable[`${m}.B`] = new Float32Array(outN * rank);
  }
  const step = adam(trainable, lr);
  const effective = () => {
    const p = cloneModel(model);
    for (const m of modules) {
      const { inN, outN } = dims[m];
      const w = p[`${m}.weight`];
      const A = trainable[`${m}.A`];
      const B = trainable[`${m}.B`];
      for (let o = 0; o < outN; o++)
        for (let r = 0; r < rank; r++) {
          const b = B[o * rank + r] * scale;
          if (b === 0) continue;
          for (let i = 0; i < inN; i++) w[o * inN + i] += b * A[r * inN + i];
        }
    }
    return p;
  };
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shuffled(examples, random);
    for (let start = 0; start < order.length; start += batch) {
      const p = effective();
      const g = zerosLike(p);
      const chunk = order.slice(start, start + batch);
      for (const e of chunk) backward(p, input(e.pixels), e.label, g);
      // dL/dA = scale·Bᵀ·G, dL/dB = scale·G·Aᵀ, with G = dL/dW (averaged over the batch)
      const grads = {};
      for (const m of modules) {
        const { inN, outN } = dims[m];
        const G = g[`${m}.weight`];
        const A = trainable[`${m}.A`];
        const B = trainable[`${m}.B`];
        const gA = new Float32Array(rank * inN);
        const gB = new Float32Array(outN * rank);
        const k = scale / chunk.length;
        for (let o = 0; o < outN; o++)
          for (let r = 0; r < rank; r++) {
            const b = B[o * rank + r];
            let s = 0;
            for (let i = 0; i < inN; i++) {
              const gi = G[o * inN + i];
              s += gi * A[r * inN + i];
              gA[r * inN + i] += k * b * gi;
            }
            gB[o * rank + r] = k * s;
          }
        grads[`${m}.A`] = gA;
        grads[`${m}.B`] = gB;
      }
      step(grads);
    }
  }
  const factors = Object.fromEntries(modules.map((m) => [m, { A: trainable[`${m}.A`], B: trainable[`${m}.B`] }]));
  return { rank, alpha, modules, factors, dims };
}

/** Bytes of a safetensors file of F32 tensors: [{ name, shape, values: Float32Array }]. */
export function safetensorsBytes(tensors) {
  const header = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.values.length * 4] };
    offset += t.values.length * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // the data starts 8-byte aligned
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const t of tensors) for (const v of t.values) at = out.writeFloatLE(v, at);
  return out;
}

/** Writes a model as safetensors (fc1.weight [128, 64], fc1.bias [128], …). */
export function saveModel(path, p) {
  const tensors = [];
  for (const [name, inN, outN] of LAYERS) {
    tensors.push({ name: `${name}.weight`, shape: [outN, inN], values: p[`${name}.weight`] });
    tensors.push({ name: `${name}.bias`, shape: [outN], values: p[`${name}.bias`] });
  }
  writeFileSync(path, safetensorsBytes(tensors));
}

/** Reads the F32 tensors of a safetensors file into a model's params. */
export function loadModel(path) {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.toString('utf8', 8, 8 + n));
  const p = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw new Error(`${path}: ${name} is ${t.dtype}, expected F32`);
    const bytes = b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    p[name] = new Float32Array(new Uint8Array(bytes).buffer);
  }
  return p;
}

/** Writes a LoRA from trainLora in PEFT's layout: adapter_config.json + adapter_model.safetensors. */
export function savePeftAdapter(dir, lora) {
  mkdirSync(dir, { recursive: true });
  const config = {
    peft_type: 'LORA',
    task_type: null,
    r: lora.rank,
    lora_alpha: lora.alpha,
    target_modules: lora.modules,
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: false,
  };
  writeFileSync(join(dir, 'adapter_config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const tensors = [];
  for (const m of lora.modules) {
    const { inN, outN } = lora.dims[m];
    tensors.push({ name: `base_model.model.${m}.lora_A.weight`, shape: [lora.rank, inN], values: lora.factors[m].A });
    tensors.push({ name: `base_model.model.${m}.lora_B.weight`, shape: [outN, lora.rank], values: lora.factors[m].B });
  }
  writeFileSync(join(dir, 'adapter_model.safetensors'), safetensorsBytes(tensors));
}
