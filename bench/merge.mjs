// Benchmark `merge`: `weft merge-files --method ties` (density 0.5) of three generated BF16 models against a
// base, side by side with the same algorithm written in NumPy (Debian python3-numpy), tensor by tensor:
// wall time and peak RSS of each. Goal: within 1.5× of NumPy's time, peak ≤ 1.5 GB.
// usage: npm run bench -- merge [MiB per model, default 1024] [tensors, default 64]
import { spawnSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, generatedModel, machine, mib, table, timeCommand, WEFT, warm } from './lib.mjs';

const PYTHON = '/usr/bin/python3';

// TIES as in MERGING.md: top-k |δ| per model (k = floor(density·numel)), sign election on the summed weighted
// deltas, disjoint mean; BF16 in and out (round to nearest even), one tensor at a time.
const NUMPY_TIES = `
import json, struct, sys, time, resource
import numpy as np
out_path, base_path, *model_paths = sys.argv[1:]
density = 0.5
def header(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        return n, json.loads(f.read(n))
def read_bf16(f, start, info):
    a, b = info['data_offsets']
    f.seek(start + a)
    u = np.fromfile(f, dtype=np.uint16, count=(b - a) // 2)
    return (u.astype(np.uint32) << 16).view(np.float32)
n, h = header(base_path)
files = [open(p, 'rb') for p in [base_path, *model_paths]]
with open(base_path, 'rb') as f:
    head = f.read(8 + n)
with open(out_path, 'wb') as out:
    out.write(head)
    for name, info in h.items():
        if name == '__metadata__':
            continue
        base = read_bf16(files[0], 8 + n, info)
        ds = []
        for f in files[1:]:
            d = read_bf16(f, 8 + n, info) - base
            k = int(density * d.size)
            keep = np.zeros(d.size, dtype=bool)
            keep[np.argpartition(np.abs(d), d.size - k)[d.size - k:]] = True
            ds.append(np.where(keep, d, np.float32(0)))
        D = np.stack(ds)
        del ds
        s = np.where(D.sum(axis=0) >= 0, np.float32(1), np.float32(-1))
        m = np.sign(D) == s
        mixed = (D * m).sum(axis=0)
        div = m.sum(axis=0).astype(np.float32)
        div[div == 0] = 1
        res = (base + mixed / div).astype(np.float32)
        del D, m, mixed, div
        u = res.view(np.uint32)
        bf = ((u + np.uint32(0x7fff) + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        out.seek(8 + n + info['data_offsets'][0])
        out.write(bf.tobytes())
print('max-rss-bytes', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)
`;

export async function run(args) {
  const sizeMib = Number(args[0] ?? 1024);
  const count = Number(args[1] ?? 64);
  console.log(`machine: ${machine()}`);
  console.log(
    `input: base + 3 models, ${sizeMib} MiB BF16 safetensors each, ${count} tensors of N(0, 0.02); TIES density 0.5, ` +
      'weight 1; one run each; warm page cache',
  );
  const base = generatedModel(sizeMib, 'BF16', 1, count);
  const models = [2, 3, 4].map((seed) => generatedModel(sizeMib, 'BF16', seed, count));
  const bytes = statSync(base).size;
  const largest = Math.ceil(bytes / count);
  for (const f of [base, ...models]) warm(f);
  const rows = [];
  const weftOut = join(CACHE, 'merge-ties-weft.safetensors');
  const w = timeCommand(process.execPath, [
    WEFT,
    'merge-files',
    '--method',
    'ties',
    '--base',
    base,
    ...models,
    '-o',
    weftOut,
    '--param',
    'weight=1',
    '--param',
    'density=0.5',
  ]);
  rows.push(['weft merge-files', `${w.seconds.toFixed(1)} s`, w.maxRssBytes ? mib(w.maxRssBytes) : '-']);
  const hasNumpy = spawnSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
  let n;
  if (hasNumpy) {
    const script = join(CACHE, 'merge-ties.py');
    writeFileSync(script, NUMPY_TIES);
    const numpyOut = join(CACHE, 'merge-ties-numpy.safetensors');
    n = timeCommand(PYTHON, [script, numpyOut, base, ...models]);
    rows.push(['NumPy (same algorithm)', `${n.seconds.toFixed(1)} s`, n.maxRssBytes ? mib(n.maxRssBytes) : '-']);
    rmSync(numpyOut, { force: true });
  } else {
    console.log(`${PYTHON} with numpy is not available: the NumPy column is skipped (apt-get install python3-numpy)`);
  }
  rmSync(weftOut, { force: true });
  console.log(
    `\nTIES of 3 × ${mib(bytes)} against a base (largest tensor ${mib(largest)} BF16, ${mib(2 * largest)} as F32)`,
  );
  console.log(table(['run', 'wall time', 'peak RSS'], rows));
  if (n) {
    const ratio = w.seconds / n.seconds;
    console.log(
      `\nweft / NumPy time: ${ratio.toFixed(2)}× (goal ≤ 1.5×); weft peak ${w.maxRssBytes ? mib(w.maxRssBytes) : '?'} (goal ≤ 1.5 GB)`,
    );
  }
}
