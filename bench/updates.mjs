// Benchmark `updates`: what an update costs Weft's store, side by side with git-lfs, on a generated BF16 model
// (N(0, 0.02), 8 tensors): a LoRA (rank 8 on every tensor, merged in float32 and rounded to BF16 as PEFT does)
// committed after `weft adapter apply` (hint) and as PyTorch merged it (no hint); a 1%-sparse update; a dense
// fine-tune (+N(0, 1e-4)) with and without the automatic low-rank test; and checkout of version 20 of a chain
// of 20 sparse updates against version 1. Updates come from ../shared/checks/lib/gen-updates.py (PyTorch).
// usage: npm run bench -- updates [MiB] [runs]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, generatedModel, machine, median, mib, ROOT, table, timeCommand, WEFT } from './lib.mjs';

const GEN_UPDATES = join(ROOT, '..', 'shared', 'checks', 'lib', 'gen-updates.py');
const PYTHON = '/usr/bin/python3';

function sh(cwd, cmd, args) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
const weft = (cwd, ...args) => sh(cwd, process.execPath, [WEFT, ...args]);
const stored = (cwd) => JSON.parse(weft(cwd, 'du', '--json')).storedBytes;
const duBytes = (dir) => (existsSync(dir) ? Number(sh('/', 'du', ['-sb', dir]).split('\t')[0]) : 0);

function newRepo(kind, config = '') {
  const dir = mkdtempSync(join(CACHE, `upd-${kind}-`));
  sh(dir, 'git', ['init', '-q', '-b', 'main']);
  sh(dir, 'git', ['config', 'user.email', 'bench@weft.invalid']);
  sh(dir, 'git', ['config', 'user.name', 'bench']);
  if (kind === 'lfs') {
    sh(dir, 'git', ['lfs', 'install', '--local']);
    sh(dir, 'git', ['lfs', 'track', '*.safetensors']);
  } else {
    weft(dir, 'init');
    weft(dir, 'track', '*.safetensors');
    if (config) {
      sh(dir, 'mkdir', ['-p', '.weft']);
      writeFileSync(join(dir, '.weft', 'config.toml'), config);
    }
  }
  sh(dir, 'git', ['add', '-A']);
  sh(dir, 'git', ['commit', '-qm', 'setup']);
  return dir;
}

function commitFile(dir, src, message) {
  copyFileSync(src, join(dir, 'm.safetensors'));
  const t = timeCommand('git', ['add', 'm.safetensors'], { cwd: dir });
  sh(dir, 'git', ['commit', '-qm', message]);
  return t.seconds;
}

function sameBytes(a, b) {
  return Buffer.compare(readFileSync(a), readFileSync(b)) === 0;
}

/** One case: commit base, then the update; store growth and git add time for Weft and git-lfs. */
function runCase(name, base, update, { apply, config } = {}) {
  const w = newRepo('weft', config);
  commitFile(w, base, 'base');
  const before = stored(w);
  let seconds;
  let expected = update;
  if (apply) {
    copyFileSync(base, join(w, 'm.safetensors'));
    weft(w, 'adapter', 'apply', apply, '--model', 'm.safetensors');
    expected = join(CACHE, 'weft-applied.safetensors');
    copyFileSync(join(w, 'm.safetensors'), expected);
    seconds = timeCommand('git', ['add', 'm.safetensors'], { cwd: w }).seconds;
    sh(w, 'git', ['commit', '-qm', name]);
  } else seconds = commitFile(w, update, name);
  const growth = stored(w) - before;
  rmSync(join(w, 'm.safetensors'));
  sh(w, 'git', ['checkout', '-q', '--', 'm.safetensors']);
  const exact = sameBytes(join(w, 'm.safetensors'), expected);
  const l = newRepo('lfs');
  commitFile(l, base, 'base');
  const lfsBefore = duBytes(join(l, '.git', 'lfs', 'objects'));
  commitFile(l, expected, name);
  const lfsGrowth = duBytes(join(l, '.git', 'lfs', 'objects')) - lfsBefore;
  rmSync(w, { recursive: true, force: true });
  rmSync(l, { recursive: true, force: true });
  return { name, growth, lfsGrowth, seconds, exact };
}

/** A chain of `n` versions, each changing 1% of the previous one's BF16 entries (deterministic). */
function sparseChain(base, n) {
  const files = [];
  let cur = readFileSync(base);
  const headerLen = Number(cur.readBigUInt64LE(0));
  const data = 8 + headerLen;
  let x = 987654321;
  for (let v = 1; v <= n; v++) {
    const out = join(CACHE, `chain-${v}.safetensors`);
    cur = Buffer.from(cur);
    const elements = (cur.length - data) / 2;
    for (let k = 0; k < elements / 100; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const i = x % elements;
      cur[data + 2 * i] ^= 1 + ((x >>> 24) % 7); // nudge the low mantissa bits
    }
    writeFileSync(out, cur);
    files.push(out);
  }
  return files;
}

export async function run(args) {
  const sizeMib = Number(args[0] ?? 256);
  const runs = Number(args[1] ?? 3);
  console.log(`# updates: ${sizeMib} MiB BF16 model, 8 tensors — ${machine()}`);
  const base = generatedModel(sizeMib, 'BF16', 1, 8);
  const U = join(CACHE, `updates-${sizeMib}`);
  if (!existsSync(join(U, 'dense.safetensors'))) {
    if (!existsSync(PYTHON) || !existsSync(GEN_UPDATES)) {
      console.log(`skipped: needs ${PYTHON} with torch and ${GEN_UPDATES}`);
      return;
    }
    sh(ROOT, PYTHON, [GEN_UPDATES, base, U, '8']);
  }
  const adapterBytes = (() => {
    const b = readFileSync(join(U, 'adapter', 'adapter_model.safetensors'));
    return b.length - 8 - Number(b.readBigUInt64LE(0));
  })();
  const model = sizeMib * 2 ** 20;
  const cases = [
    runCase('LoRA r=8, weft adapter apply (hint)', base, undefined, { apply: join(U, 'adapter') }),
    runCase('LoRA r=8, PyTorch-merged, no hint', base, join(U, 'lora_merged.safetensors')),
    runCase('1%-sparse update', base, join(U, 'sparse.safetensors')),
    runCase('dense fine-tune', base, join(U, 'dense.safetensors')),
    runCase('dense fine-tune, auto_low_rank = false', base, join(U, 'dense.safetensors'), {
      config: '[encoding]\nauto_low_rank = false\n',
    }),
  ];
  const rows = cases.map((c) => [
    c.name,
    mib(c.growth),
    `${(c.growth / adapterBytes).toFixed(2)}× adapter`,
    `${(c.growth / model).toFixed(4)}× model`,
    mib(c.lfsGrowth),
    `${c.seconds.toFixed(2)} s`,
    c.exact ? 'yes' : 'NO',
  ]);
  console.log(`adapter tensors: ${mib(adapterBytes)}; model ${mib(model)}\n`);
  console.log(
    table(['case', 'weft store growth', 'vs adapter', 'vs model', 'git-lfs growth', 'weft git add', 'exact'], rows),
  );
  const dense = cases[3].seconds;
  const denseOff = cases[4].seconds;
  console.log(
    `\ndense fine-tune commit with the automatic low-rank test: ${(dense / denseOff).toFixed(2)}× the time without it`,
  );

  // Chain of 20 sparse updates: checkout time of version 20 vs version 1.
  const chain = sparseChain(base, 20);
  const w = newRepo('weft');
  commitFile(w, base, 'v0');
  const commits = [];
  for (const [i, f] of chain.entries()) {
    commitFile(w, f, `v${i + 1}`);
    commits.push(sh(w, 'git', ['rev-parse', 'HEAD']).trim());
  }
  const checkoutTime = (commit) => {
    const times = [];
    for (let r = 0; r < runs; r++) {
      rmSync(join(w, 'm.safetensors'), { force: true });
      times.push(timeCommand('git', ['checkout', '-q', commit, '--', 'm.safetensors'], { cwd: w }).seconds);
    }
    return median(times);
  };
  const t1 = checkoutTime(commits[0]);
  const t20 = checkoutTime(commits[19]);
  const exact20 = sameBytes(join(w, 'm.safetensors'), chain[19]);
  const chainGrowth = stored(w);
  rmSync(w, { recursive: true, force: true });
  console.log(
    `\nchain of 20 sparse updates (max_chain 8): checkout v1 ${t1.toFixed(2)} s, v20 ${t20.toFixed(2)} s = ${(t20 / t1).toFixed(2)}× (exact: ${exact20 ? 'yes' : 'NO'}); whole store ${mib(chainGrowth)} for 21 versions of ${mib(model)}`,
  );
}
