// A copy of ../shared/checks/lib/gen-model.mjs, so that benchmarks measure the same inputs as the acceptance checks.
// Writes a safetensors file of `count` BF16 or F32 tensors with N(0, std) values, deterministic from `seed`.
// usage: node gen-model.mjs OUT MIB [BF16|F32] [seed] [count]
import { closeSync, openSync, writeSync } from 'node:fs';

const [out, mibArg, dtype = 'BF16', seedArg = '1', countArg = '8'] = process.argv.slice(2);
const total = Number(mibArg) * 1024 * 1024,
  count = Number(countArg),
  width = dtype === 'BF16' ? 2 : 4;
const per = Math.floor(total / count / width / 1024) * 1024; // elements per tensor
let s = Number(seedArg) >>> 0;
const rand = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
// inverse-CDF table of N(0,1) with linear interpolation: fast, and every value distinct
const TABLE = new Float64Array(4097);
for (let i = 0; i <= 4096; i++) {
  const p = Math.min(Math.max(i / 4096, 1e-9), 1 - 1e-9);
  TABLE[i] = probit(p);
}
function probit(p) {
  // Acklam's approximation
  const a = [
    -39.6968302866538, 220.946098424521, -275.928510446969, 138.357751867269, -30.6647980661472, 2.50662827745924,
  ];
  const b = [-54.4760987982241, 161.585836858041, -155.698979859887, 66.8013118877197, -13.2806815528857];
  const c = [
    -0.00778489400243029, -0.322396458041136, -2.40075827716184, -2.54973253934373, 4.37466414146497, 2.93816398269878,
  ];
  const d = [0.00778469570904146, 0.32246712907004, 2.445134137143, 3.75440866190742];
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - 0.02425) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  const q = p - 0.5,
    r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}
const gauss = () => {
  const u = rand() * 4096,
    i = u | 0;
  return TABLE[i] + (TABLE[i + 1] - TABLE[i]) * (u - i);
};
const header = {};
let off = 0;
for (let i = 0; i < count; i++) {
  header[`layers.${i}.weight`] = { dtype, shape: [per / 1024, 1024], data_offsets: [off, off + per * width] };
  off += per * width;
}
let h = Buffer.from(JSON.stringify(header));
h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
const fd = openSync(out, 'w');
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(h.length));
writeSync(fd, len);
writeSync(fd, h);
const f32 = new Float32Array(1 << 20),
  u32 = new Uint32Array(f32.buffer);
for (let i = 0; i < count; i++) {
  for (let done = 0; done < per; done += f32.length) {
    const n = Math.min(f32.length, per - done);
    for (let j = 0; j < n; j++) f32[j] = gauss() * 0.02;
    if (width === 4) writeSync(fd, new Uint8Array(f32.buffer, 0, n * 4));
    else {
      const b = new Uint16Array(n);
      for (let j = 0; j < n; j++) {
        const x = u32[j];
        b[j] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
      }
      writeSync(fd, new Uint8Array(b.buffer));
    }
  }
}
closeSync(fd);
