// Shared helpers for benchmarks: machine description, timing whole processes, medians, tables, generated models.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const WEFT = join(ROOT, 'dist', 'cli', 'main.js');
export const CACHE = process.env.WEFT_BENCH_DIR ?? join(tmpdir(), 'weft-bench');
mkdirSync(CACHE, { recursive: true });

export function machine() {
  const c = cpus();
  return `${c.length} × ${c[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

/** Runs a command, returns {seconds, stdout, stderr, maxRssBytes?}; throws on failure. */
export function timeCommand(cmd, args, opts = {}) {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    maxBuffer: 1 << 30,
    ...opts,
    env: { ...process.env, WEFT_REPORT_MAXRSS: '1', ...opts.env },
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr?.toString().slice(0, 500)}`);
  const stderr = r.stderr?.toString() ?? '';
  const rss = [...stderr.matchAll(/max-rss-bytes (\d+)/g)].map((m) => Number(m[1]));
  return { seconds, stdout: r.stdout, stderr, maxRssBytes: rss.length ? Math.max(...rss) : undefined };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  return [line(headers), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
export const rate = (bytes, s) => `${(bytes / s / 1e9).toFixed(2)} GB/s`;

/** Generates (once, cached) a safetensors file of N(0, 0.02) weights with the shared checks' generator. */
export function generatedModel(mibSize, dtype = 'BF16', seed = 1, count = 8) {
  const f = join(CACHE, `model-${mibSize}-${dtype.toLowerCase()}-s${seed}-n${count}.safetensors`);
  if (!existsSync(f)) {
    const gen = join(ROOT, 'bench', 'gen-model.mjs');
    const r = spawnSync(process.execPath, [gen, f, String(mibSize), dtype, String(seed), String(count)], {
      stdio: 'inherit',
    });
    if (r.status !== 0) throw new Error('model generation failed');
  }
  return f;
}

/** Reads a file once so that timings see a warm page cache, as the shared checks do. */
export function warm(file) {
  spawnSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'] });
}
