// Benchmark `filter-floor`: how fast can a Node filter re-clean a touched, unchanged 1 GiB file on this machine?
// `git add` after `touch` with Weft's filter (cold, and handed to a warm filter process), against two minimal
// filters written for this measurement (they answer with the index's manifest and store nothing): `ideal` reads
// git's pipe with blocking reads straight into shared memory (no copy, no libuv) and SHA-256es every byte on two
// worker threads, 16 MiB per "tensor", alternating — the work a re-clean cannot skip, done as cheaply as a Node
// process started for it allows; `drain` only reads. They take turns.
// usage: npm run bench -- filter-floor [MiB] [runs]
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, generatedModel, machine, median, table, timeCommand, WEFT } from './lib.mjs';

/** The minimal filter: argv[2] the manifest to answer with, argv[3] 'hash' or 'drain'. */
const FILTER = String.raw`
import { readFileSync, readSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
const SLOT = 1 << 20, SLOTS = 16, TENSOR = 16 << 20;
const manifest = readFileSync(process.argv[2]);
const hashing = process.argv[3] === 'hash';
const workerSource = [
  "const { workerData } = require('node:worker_threads');",
  "const { createHash } = require('node:crypto');",
  'const { SLOT, SLOTS, TENSOR } = workerData;',
  'const c = new Int32Array(workerData.ctl);',
  "let i = 0, h = createHash('sha256'), n = 0;",
  'for (;;) {',
  '  const s = i % SLOTS;',
  '  Atomics.wait(c, s * 2, 0);',
  '  const len = c[s * 2 + 1];',
  '  if (len < 0) break;',
  '  h.update(new Uint8Array(workerData.sab, s * SLOT, len));',
  '  n += len;',
  "  if (n % TENSOR === 0) { h.digest(); h = createHash('sha256'); }",
  '  Atomics.store(c, s * 2, 0);',
  '  Atomics.notify(c, s * 2);',
  '  i++;',
  '}',
].join('\n');
const rings = (hashing ? [0, 1] : []).map(() => {
  const sab = new SharedArrayBuffer(SLOT * SLOTS), ctl = new SharedArrayBuffer(8 * SLOTS);
  const worker = new Worker(workerSource, { eval: true, workerData: { sab, ctl, SLOT, SLOTS, TENSOR } });
  return { sab, c: new Int32Array(ctl), i: 0, worker };
});
const header = Buffer.alloc(4), small = Buffer.alloc(65536), scratch = Buffer.alloc(SLOT);
function readFull(buf, off, n) {
  while (n > 0) { const r = readSync(0, buf, off, n, null); if (r <= 0) throw new Error('eof'); off += r; n -= r; }
}
function packet(buf) {
  readFull(header, 0, 4);
  const n = parseInt(header.toString('latin1'), 16);
  if (n === 0) return -1;
  readFull(buf, 0, n - 4);
  return n - 4;
}
function write(text) {
  const b = Buffer.from(text);
  writeSync(1, Buffer.concat([Buffer.from((b.length + 4).toString(16).padStart(4, '0')), b]));
}
const flush = () => writeSync(1, Buffer.from('0000'));
while (packet(small) >= 0);
write('git-filter-server\n'); write('version=2\n'); flush();
while (packet(small) >= 0);
write('capability=clean\n'); flush();
for (;;) {
  try { if (packet(small) < 0) continue; } catch { break; }
  while (packet(small) >= 0);
  let total = 0, ring, view = null, filled = 0;
  const publish = () => {
    if (!hashing) { view = null; return; }
    const s = ring.i % SLOTS;
    ring.c[s * 2 + 1] = filled; Atomics.store(ring.c, s * 2, 1); Atomics.notify(ring.c, s * 2);
    ring.i++; view = null;
  };
  for (;;) {
    readFull(header, 0, 4);
    const len = parseInt(header.toString('latin1'), 16);
    if (len === 0) break;
    let left = len - 4;
    while (left > 0) {
      if (!view) {
        filled = 0;
        if (hashing) {
          ring = rings[Math.floor(total / TENSOR) % 2];
          const s = ring.i % SLOTS;
          Atomics.wait(ring.c, s * 2, 1);
          view = new Uint8Array(ring.sab, s * SLOT, SLOT);
        } else view = scratch;
      }
      const tensorLeft = TENSOR - (total % TENSOR);
      const k = Math.min(left, SLOT - filled, tensorLeft);
      readFull(view, filled, k);
      filled += k; total += k; left -= k;
      if (filled === SLOT || k === tensorLeft) publish();
    }
  }
  if (view && filled > 0) publish();
  for (const r of rings) {
    const s = r.i % SLOTS;
    Atomics.wait(r.c, s * 2, 1);
    r.c[s * 2 + 1] = -1; Atomics.store(r.c, s * 2, 1); Atomics.notify(r.c, s * 2);
  }
  await Promise.all(rings.map((r) => new Promise((resolve) => r.worker.once('exit', resolve))));
  write('status=success\n'); flush();
  for (let o = 0; o < manifest.length; o += 65516) writeSync(1, Buffer.concat([
    Buffer.from((Math.min(65516, manifest.length - o) + 4).toString(16).padStart(4, '0')), manifest.subarray(o, o + 65516)]));
  flush(); flush();
}
process.exit(0);
`;

function sh(cwd, cmd, args) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export async function run(args) {
  const sizeMib = Number(args[0] ?? 1024);
  const runs = Number(args[1] ?? 5);
  const model = generatedModel(sizeMib, 'BF16', 1, 64);
  const bytes = statSync(model).size;
  const dir = mkdtempSync(join(CACHE, 'floor-'));
  try {
    sh(dir, 'git', ['init', '-q', '-b', 'main']);
    sh(dir, process.execPath, [WEFT, 'init']);
    sh(dir, process.execPath, [WEFT, 'track', '*.safetensors']);
    copyFileSync(model, join(dir, 'm.safetensors'));
    sh(dir, 'git', ['add', '.gitattributes', 'm.safetensors']);
    const manifest = join(dir, '.git', 'floor-manifest');
    writeFileSync(manifest, sh(dir, 'git', ['cat-file', '-p', ':m.safetensors']));
    const filter = join(dir, '.git', 'floor-filter.mjs');
    writeFileSync(filter, FILTER);
    // Weft's filter as git starts it: cold (a new process each time, as the other two), and handed to a warm filter
    // process (ops/warm-filter.ts), which the cold runs leave off and each warm run starts for the next.
    const variants = {
      weft: { config: [], env: { WEFT_WARM_FILTER: '0' } },
      'weft, warm': { config: [], env: {} },
      ideal: { config: ['-c', `filter.weft.process=${process.execPath} ${filter} ${manifest} hash`], env: {} },
      drain: { config: ['-c', `filter.weft.process=${process.execPath} ${filter} ${manifest} drain`], env: {} },
    };
    const times = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
    let future = Date.now();
    const once = (config, env) => {
      future += 5000; // a new mtime each time: git must clean the file again
      utimesSync(join(dir, 'm.safetensors'), new Date(future), new Date(future));
      spawnSync('sync');
      spawnSync('sleep', ['0.5']); // a warm process started by the previous run is ready (and idle) by now
      return timeCommand('git', [...config, 'add', 'm.safetensors'], { cwd: dir, env }).seconds;
    };
    once([], {}); // leaves a warm process waiting
    for (let run = 0; run < runs; run++) {
      for (const [name, { config, env }] of Object.entries(variants)) times[name].push(once(config, env));
      // The warm run left a warm process: taken by the next warm run (the cold ones do not connect to it).
    }
    if (sh(dir, 'git', ['status', '--porcelain', 'm.safetensors']).trim() !== 'A  m.safetensors') {
      throw new Error('the index changed: a filter answered with another manifest');
    }
    console.log(`machine: ${machine()}`);
    console.log(
      `re-clean of a touched, unchanged ${sizeMib} MiB BF16 file (64 tensors); median of ${runs}, taking turns\n`,
    );
    console.log(
      table(
        ['filter', 'seconds (median)', 'range', 'GB/s'],
        Object.entries(times).map(([name, t]) => [
          name,
          median(t).toFixed(2),
          `${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)}`,
          (bytes / median(t) / 1e9).toFixed(2),
        ]),
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); // a warm filter process may be leaving
  }
}
