// Benchmark `vc`: Weft against Debian's git-lfs on generated 1 GiB BF16 and F32 safetensors files (64 tensors of
// N(0, 0.02)), side by side in one run: `git add` of a new model, re-clean after touch, checkout of a previous
// version, store growth for a second version with one tensor changed, and the filter's peak memory.
// usage: npm run bench -- vc [MiB] [runs]
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, generatedModel, machine, median, mib, rate, table, timeCommand, WEFT } from './lib.mjs';

function sh(cwd, cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function duBytes(dir) {
  return Number(sh('/', 'du', ['-sb', dir]).split('\t')[0]);
}

/** v2 of a model: tensor `index` of `count` replaced by the same tensor of a model with another seed. */
function secondVersion(file, sizeMib, dtype, count, index) {
  const out = join(CACHE, `v2-${sizeMib}-${dtype}-${count}-${index}.safetensors`);
  try {
    statSync(out);
    return out;
  } catch {}
  const other = generatedModel(sizeMib, dtype, 2, count);
  const a = readFileSync(file);
  const b = readFileSync(other);
  const n = Number(a.readBigUInt64LE(0));
  const h = JSON.parse(a.subarray(8, 8 + n).toString());
  const [s, e] = h[`layers.${index}.weight`].data_offsets;
  b.copy(a, 8 + n + s, 8 + n + s, 8 + n + e);
  writeFileSync(out, a);
  return out;
}

function newRepo(kind) {
  const dir = mkdtempSync(join(CACHE, `repo-${kind}-`));
  sh(dir, 'git', ['init', '-q', '-b', 'main']);
  sh(dir, 'git', ['config', 'user.email', 'bench@weft.invalid']);
  sh(dir, 'git', ['config', 'user.name', 'bench']);
  if (kind === 'lfs') {
    sh(dir, 'git', ['lfs', 'install', '--local']);
    sh(dir, 'git', ['lfs', 'track', '*.safetensors']);
  } else {
    sh(dir, process.execPath, [WEFT, 'init']);
    sh(dir, process.execPath, [WEFT, 'track', '*.safetensors']);
  }
  sh(dir, 'git', ['add', '.gitattributes']);
  sh(dir, 'git', ['commit', '-qm', 'attributes']);
  return dir;
}

function storeBytes(kind, dir) {
  if (kind === 'lfs') return duBytes(join(dir, '.git', 'lfs', 'objects'));
  return JSON.parse(sh(dir, process.execPath, [WEFT, 'du', '--json'])).storedBytes;
}

/**
 * Weft's first add in a new repository starts its filter cold; the later commands are handed to the warm filter
 * process that run leaves (ops/warm-filter.ts), as in everyday use. Rows marked cold switch that off.
 */
const COLD = { WEFT_WARM_FILTER: '0' };

/**
 * Flushes dirty pages, so that writing back what an earlier step wrote does not land in the next timing, and lets a
 * warm filter process that the previous command started finish starting (it would otherwise share the CPU with
 * the next timed command, whichever it is).
 */
function settle() {
  spawnSync('sync');
  spawnSync('sleep', ['0.3']);
}

/** One run of every measure for one tool, added to `r`. */
function measureOnce(kind, v1, v2, r) {
  const dir = newRepo(kind);
  copyFileSync(v1, join(dir, 'm.safetensors'));
  spawnSync('cat', [join(dir, 'm.safetensors')], { stdio: 'ignore' });
  settle();
  const add = timeCommand('git', ['add', 'm.safetensors'], { cwd: dir });
  r.add.push(add.seconds);
  if (add.maxRssBytes) r.rss.push(add.maxRssBytes);
  r.stored1 = storeBytes(kind, dir);
  // re-clean: the file is touched, not changed
  const t = new Date(Date.now() + 5000);
  utimesSync(join(dir, 'm.safetensors'), t, t);
  settle();
  r.reclean.push(timeCommand('git', ['add', 'm.safetensors'], { cwd: dir }).seconds);
  if (kind === 'weft') {
    // The same with a filter process started for the command (no warm filter process: ops/warm-filter.ts).
    const later = new Date(Date.now() + 10_000);
    utimesSync(join(dir, 'm.safetensors'), later, later);
    settle();
    r.recleanCold.push(timeCommand('git', ['add', 'm.safetensors'], { cwd: dir, env: COLD }).seconds);
  }
  sh(dir, 'git', ['commit', '-qm', 'v1']);
  copyFileSync(v2, join(dir, 'm.safetensors'));
  sh(dir, 'git', ['add', 'm.safetensors']);
  sh(dir, 'git', ['commit', '-qm', 'v2']);
  r.stored2 = storeBytes(kind, dir);
  settle();
  const co = timeCommand('git', ['checkout', '-q', 'HEAD~1'], { cwd: dir });
  r.checkout.push(co.seconds);
  if (co.maxRssBytes) r.rss.push(co.maxRssBytes);
  // Back to v2 and to v1 again: where a checkout falls in the sequence changes its time by up to a second here
  // (what the kernel has just freed and written), so both tools are timed at both places.
  sh(dir, 'git', ['checkout', '-q', 'main']);
  settle();
  r.checkoutAgain.push(timeCommand('git', ['checkout', '-q', 'HEAD~1'], { cwd: dir }).seconds);
  if (kind === 'weft') {
    sh(dir, 'git', ['checkout', '-q', 'main']);
    settle();
    const cold = timeCommand('git', ['checkout', '-q', 'HEAD~1'], { cwd: dir, env: COLD });
    r.checkoutCold.push(cold.seconds);
    if (cold.maxRssBytes) r.rss.push(cold.maxRssBytes);
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); // a warm filter process may be leaving
}

const emptyMeasures = () => ({
  add: [],
  reclean: [],
  recleanCold: [],
  checkout: [],
  checkoutAgain: [],
  checkoutCold: [],
  rss: [],
  stored1: 0,
  stored2: 0,
});

export async function run(args) {
  const sizeMib = Number(args[0] ?? 1024);
  const runs = Number(args[1] ?? 3);
  const count = 64;
  const haveLfs = spawnSync('git', ['lfs', 'version']).status === 0;
  console.log(`machine: ${machine()}`);
  console.log(
    `input: ${sizeMib} MiB safetensors, ${count} tensors of N(0, 0.02); median of ${runs} runs; warm page cache`,
  );
  if (!haveLfs) console.log('git-lfs is not installed: the comparison columns are skipped (apt-get install git-lfs)');
  for (const dtype of ['BF16', 'F32']) {
    const v1 = generatedModel(sizeMib, dtype, 1, count);
    const v2 = secondVersion(v1, sizeMib, dtype, count, 3);
    const bytes = statSync(v1).size;
    const tensorBytes = Math.floor(bytes / count);
    // The two tools alternate run by run, so that a slow spell of the machine touches both alike.
    const w = emptyMeasures();
    const l = haveLfs ? emptyMeasures() : undefined;
    for (let run = 0; run < runs; run++) {
      measureOnce('weft', v1, v2, w);
      if (l) measureOnce('lfs', v1, v2, l);
    }
    const row = (label, f) => [label, f(w), l ? f(l) : '-'];
    // Weft's filter started for the command (WEFT_WARM_FILTER=0): git-lfs has no such variant.
    const coldRow = (times) => [
      '  the same, filter started cold',
      `${median(times).toFixed(2)} s (${rate(bytes, median(times))})`,
      '-',
    ];
    console.log(`\n${dtype} (${mib(bytes)})`);
    console.log(
      table(
        ['measure', 'weft', 'git-lfs'],
        [
          row('git add (new model)', (m) => `${median(m.add).toFixed(2)} s (${rate(bytes, median(m.add))})`),
          row('stored bytes v1', (m) => `${mib(m.stored1)} (${(m.stored1 / bytes).toFixed(3)} of file)`),
          row(
            'git add after touch (re-clean)',
            (m) => `${median(m.reclean).toFixed(2)} s (${rate(bytes, median(m.reclean))})`,
          ),
          coldRow(w.recleanCold),
          row(
            'v2 (1 of 64 tensors changed): growth',
            (m) =>
              `${mib(m.stored2 - m.stored1)} (${((m.stored2 - m.stored1) / tensorBytes).toFixed(3)} of its raw size, ` +
              `${((m.stored2 - m.stored1) / (m.stored1 / count)).toFixed(3)} of a stored tensor)`,
          ),
          row('git checkout of v1', (m) => `${median(m.checkout).toFixed(2)} s (${rate(bytes, median(m.checkout))})`),
          row(
            'the same again (after checking out v2)',
            (m) => `${median(m.checkoutAgain).toFixed(2)} s (${rate(bytes, median(m.checkoutAgain))})`,
          ),
          coldRow(w.checkoutCold),
          row('filter peak RSS', (m) => (m.rss.length ? mib(Math.max(...m.rss)) : '-')),
        ],
      ),
    );
    if (l) {
      console.log(
        `weft/git-lfs: add time ${(median(w.add) / median(l.add)).toFixed(2)}×, stored ${(w.stored1 / l.stored1).toFixed(3)}×, ` +
          `checkout ${(median(w.checkout) / median(l.checkout)).toFixed(2)}×, again ` +
          `${(median(w.checkoutAgain) / median(l.checkoutAgain)).toFixed(2)}× (cold ` +
          `${(median(w.checkoutCold) / median(l.checkoutAgain)).toFixed(2)}×)`,
      );
    }
  }
}
