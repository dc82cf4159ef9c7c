// Benchmark `kernels`: ns/byte of the byte-plane kernels (dist/store/byte-planes.js), JavaScript against native
// (native/weft_kernels.c), joining and splitting 8 MiB for widths 2 and 4; then small runs, where the native call's
// fixed cost shows (NATIVE_MIN_BYTES in byte-planes.ts). Medians of `runs`.
// usage: npm run bench -- kernels [runs]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { machine, median, ROOT, table } from './lib.mjs';

const { joinPlanesJs, splitPiecesJs } = await import(pathToFileURL(join(ROOT, 'dist', 'store', 'byte-planes.js')).href);
const { nativeKernels } = await import(pathToFileURL(join(ROOT, 'dist', 'store', 'native-kernels.js')).href);

const BIG_BYTES = 8 << 20;
const SMALL_SIZES = [64, 256, 512, 1024, 2048, 4096, 16384];

/**
 * Median ns/byte of each of `ops` (undefined ones skipped) over `runs` timed runs of `reps` calls, after a warm-up.
 * The ops take turns within each run, so that a noisy moment on the machine hits them alike.
 */
function nsPerByte(ops, bytes, runs, reps) {
  const live = ops.filter((op) => op !== undefined);
  for (const op of live) for (let i = 0; i < reps; i++) op();
  const samples = live.map(() => []);
  for (let r = 0; r < runs; r++) {
    live.forEach((op, k) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < reps; i++) op();
      samples[k].push(Number(process.hrtime.bigint() - start) / reps / bytes);
    });
  }
  const medians = samples.map(median);
  return ops.map((op) => (op === undefined ? undefined : medians.shift()));
}

/** Join and split operations for `width` over `bytes`, JavaScript and native, on fresh buffers of random bytes. */
function operations(width, bytes) {
  const n = bytes / width;
  const src = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) src[i] = (Math.random() * 256) | 0;
  const planes = Array.from({ length: width }, () => new Uint8Array(n));
  const out = new Uint8Array(bytes);
  splitPiecesJs([src], width, planes);
  const native = nativeKernels();
  return {
    joinJs: () => joinPlanesJs(planes, width, out),
    joinNative: native && (() => native.join(planes, width, out)),
    splitJs: () => splitPiecesJs([src], width, planes),
    splitNative: native && (() => native.split([src], width, planes)),
  };
}

export async function run(args) {
  const runs = Number(args[0] ?? 21);
  const native = nativeKernels() !== undefined;
  console.log(`# byte-plane kernels, ${machine()}; medians of ${runs} runs`);
  if (!native) console.log('native kernels not built (or WEFT_NO_NATIVE=1): JavaScript only');
  const fmt = (x) => (x === undefined ? '—' : x.toFixed(3));
  const speedup = (js, nat) => (nat === undefined ? '—' : `${(js / nat).toFixed(1)}×`);

  const rows = [];
  for (const width of [2, 4]) {
    const ops = operations(width, BIG_BYTES);
    for (const name of ['join', 'split']) {
      const [js, nat] = nsPerByte([ops[`${name}Js`], ops[`${name}Native`]], BIG_BYTES, runs, 4);
      rows.push([name, width, fmt(js), fmt(nat), speedup(js, nat)]);
    }
  }
  console.log(`\n8 MiB, ns/byte\n`);
  console.log(table(['kernel', 'width', 'JavaScript', 'native', 'speed-up'], rows));

  if (!native) return;
  const small = [];
  for (const bytes of SMALL_SIZES) {
    const ops = operations(2, bytes);
    const reps = Math.max(1, Math.round((1 << 22) / bytes));
    small.push([
      bytes,
      ...nsPerByte([ops.joinJs, ops.joinNative, ops.splitJs, ops.splitNative], bytes, runs, reps).map(fmt),
    ]);
  }
  console.log(`\nsmall runs, width 2, ns/byte (the native call's fixed cost)\n`);
  console.log(table(['bytes', 'join JS', 'join native', 'split JS', 'split native'], small));
}
