// `npm run demo`: a community improves one digit classifier together, versioned with Weft and plain git — real
// training (./mlp.mjs) on real handwritten digits (./data), real commits, merges, gates, push and clone.
// Works in a temporary folder, deleted at the end unless --keep; needs the built CLI (dist/cli/main.js) only.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  accuracy,
  accuracyByDigit,
  initModel,
  loadDigits,
  loadModel,
  rng,
  saveModel,
  savePeftAdapter,
  shuffled,
  trainFull,
  trainLora,
} from './mlp.mjs';

const here = dirname(fileURLToPath(import.meta.url));
/** The CLI under test: WEFT_CLI points the demo at another build; by default the project's own dist/. */
const CLI = process.env.WEFT_CLI ?? join(here, '..', '..', 'dist', 'cli', 'main.js');
const keep = process.argv.includes('--keep');
const HELD_OUT = 540; // examples kept out of every training set: the gate's suite
const DIGITS_A = [1, 8]; // digits the maintainer had few of, that contributor A brings
const DIGITS_B = [3, 9]; // … and that contributor B brings
const FEW = 4; // examples of each of those four digits in the maintainer's data
const MANY = 40; // examples of each other digit in the maintainer's data

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const started = Date.now();
const step = (title) => console.log(`\n${bold(`== ${title}`)}`);
const say = (text) => console.log(`   ${text}`);
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const sha = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** The demo's git ignores the user's and the system's git settings (hooks paths, signing, default branch). */
const ISOLATED = { GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };

/** Runs a command; throws with its output unless it exits with one of `ok`. */
function run(cwd, cmd, args, { ok = [0], env } = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, ...ISOLATED, ...env },
  });
  if (r.error) throw r.error;
  if (!ok.includes(r.status)) {
    const shown = cmd === process.execPath ? `weft ${args.slice(1).join(' ')}` : `${cmd} ${args.join(' ')}`;
    throw new Error(`${shown} (in ${cwd}) exited with ${r.status}:\n${r.stdout}${r.stderr}`);
  }
  return r;
}
const weft = (cwd, args, options) => run(cwd, process.execPath, [CLI, ...args], options);
const weftJson = (cwd, args, options) => JSON.parse(weft(cwd, [...args, '--json'], options).stdout);
const git = (cwd, ...args) => run(cwd, 'git', args).stdout.trim();
const stored = (repo) => weftJson(repo, ['du']).storedBytes;
/** How `weft log` says the last commit stored its changed tensors: "fc1.weight, fc2.weight as low-rank r=8". */
function storedAs(repo) {
  const groups = new Map();
  for (const file of weftJson(repo, ['log', '-n', '1']).commits[0].files)
    for (const t of file.tensors) groups.set(t.storedAs, [...(groups.get(t.storedAs) ?? []), t.name]);
  return [...groups].map(
    ([how, names]) => `${names.length > 2 ? `${names.length} tensors` : names.join(', ')} as ${how}`,
  );
}

function newIdentity(repo, name) {
  git(repo, 'config', 'user.name', name);
  git(repo, 'config', 'user.email', `${name.toLowerCase().replace(/\W+/g, '.')}@weft.invalid`);
}

const CONFIG = `# How this community merges and reviews models (read by weft's merge driver and weft gate).
[merge]
method = "task_arithmetic"   # a tensor changed on both sides: base + (ours - base) + (theirs - base)
[merge.parameters]
weight = 1.0

[gate]
alpha = 0.05
batch = 60     # examples per evaluator call
seed = 0

[[gate.suites]]
name = "digits"
command = "node eval/digits.mjs"   # the evaluator: an ordinary script in this repository
examples = ${HELD_OUT}                     # held-out digits 0..${HELD_OUT - 1} (eval/digits-test.json)
score_range = [0, 1]
role = "target"
min_improvement = 0.0
`;

if (!statSync(CLI, { throwIfNoEntry: false })) {
  console.error(`demo: ${CLI} is missing; build the project first (npm run build)`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'weft-community-'));
const repo = join(dir, 'digits');
const rows = []; // the final table

try {
  console.log(bold('Weft demo: a community improves one handwritten-digit classifier together.'));
  console.log('Every model below is trained now, on real data; every number is measured now.');

  // The data: 1,797 real handwritten digits; 540 held out for evaluation, the rest shared among the people.
  const all = loadDigits(join(here, 'data', 'digits.csv.gz'));
  const order = shuffled(
    all.map((_, i) => i),
    rng(7),
  );
  const test = order.slice(0, HELD_OUT).map((i) => all[i]);
  const train = order.slice(HELD_OUT).map((i) => all[i]);
  const scarce = [...DIGITS_A, ...DIGITS_B];
  const count = new Array(10).fill(0);
  const maintainerData = [];
  const dataA = [];
  const dataB = [];
  for (const e of train) {
    if (count[e.label] < (scarce.includes(e.label) ? FEW : MANY)) {
      count[e.label]++;
      maintainerData.push(e);
    } else if (DIGITS_A.includes(e.label)) dataA.push(e);
    else if (DIGITS_B.includes(e.label)) dataB.push(e);
  }
  // Contributors fine-tune on their own digits plus (twice) the maintainer's published training set.
  const withReplay = (own) => [...own, ...maintainerData, ...maintainerData];

  step('1. The maintainer trains v1 and starts a Weft repository');
  let t = Date.now();
  const v1 = trainFull(initModel(1), maintainerData, { epochs: 20, lr: 0.003, seed: 2 });
  say(`trained an MLP (64→128→64→10) on ${maintainerData.length} digits in ${Date.now() - t} ms`);
  say(`(the maintainer had only ${FEW} examples each of the digits ${scarce.join(', ')})`);
  mkdirSync(join(repo, 'eval'), { recursive: true });
  mkdirSync(join(repo, '.weft'));
  git(repo, 'init', '-q', '-b', 'main');
  newIdentity(repo, 'Maintainer');
  weft(repo, ['init']);
  weft(repo, ['track', '*.safetensors']);
  writeFileSync(join(repo, '.weft', 'config.toml'), CONFIG);
  copyFileSync(join(here, 'eval', 'digits.mjs'), join(repo, 'eval', 'digits.mjs'));
  writeFileSync(join(repo, 'eval', 'digits-test.json'), JSON.stringify(test));
  saveModel(join(repo, 'model.safetensors'), v1);
  const modelBytes = statSync(join(repo, 'model.safetensors')).size;
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'v1: digit classifier trained by the maintainer');
  git(repo, 'tag', 'v1');
  const byDigit = accuracyByDigit(v1, test);
  const weak = byDigit.map((a, d) => [d, a]).filter(([, a]) => a < 0.8);
  say(`$ weft init; weft track '*.safetensors'; git add -A; git commit`);
  say(`committed model.safetensors (${kb(modelBytes)}) and .weft/config.toml: a merge policy (task_arithmetic)`);
  say(`and a gate suite (eval/digits.mjs, an ordinary script, on ${HELD_OUT} held-out digits)`);
  say(`v1 is weak on ${weak.map(([d, a]) => `${d} (${pct(a)})`).join(', ')}`);
  let before = stored(repo);
  /** Accuracy on every held-out digit of the model file in the work tree (the committed version). */
  const measured = () => accuracy(loadModel(join(repo, 'model.safetensors')), test);
  rows.push({ accuracy: measured(), version: 'v1 (maintainer)', rev: 'v1', weft: before, lfs: modelBytes, gate: '—' });

  step(`2. Contributor A adds a LoRA adapter trained on digits ${DIGITS_A.join(' and ')}`);
  git(repo, 'checkout', '-q', '-b', 'contrib-a', 'v1');
  newIdentity(repo, 'Contributor A');
  t = Date.now();
  const lora = trainLora(v1, withReplay(dataA), {
    modules: ['fc1', 'fc2'],
    rank: 8,
    alpha: 16,
    epochs: 5,
    lr: 0.003,
    seed: 3,
  });
  const adapter = join(dir, 'adapter-a');
  savePeftAdapter(adapter, lora);
  const adapterBytes = statSync(join(adapter, 'adapter_model.safetensors')).size;
  say(`trained a rank-8 LoRA on fc1 and fc2 (the rest frozen), ${dataA.length} new digits, ${Date.now() - t} ms`);
  say(`and saved it as a PEFT adapter (adapter_config.json + ${kb(adapterBytes)} of safetensors)`);
  weft(repo, ['adapter', 'apply', adapter, '--model', 'model.safetensors']);
  git(repo, 'commit', '-qam', `A: LoRA for digits ${DIGITS_A.join(' and ')}`);
  let now = stored(repo);
  say(`$ weft adapter apply ../adapter-a; git commit -a`);
  say(
    `the store grew by ${kb(now - before)}, not by a new ${kb(modelBytes)} copy — weft log: ${storedAs(repo).join('; ')}`,
  );
  rows.push({ accuracy: measured(), version: 'A (LoRA)', rev: 'contrib-a', weft: now - before, lfs: modelBytes });
  before = now;

  step(`3. Contributor B fine-tunes the whole model on digits ${DIGITS_B.join(' and ')}`);
  git(repo, 'checkout', '-q', '-b', 'contrib-b', 'v1');
  newIdentity(repo, 'Contributor B');
  t = Date.now();
  saveModel(join(repo, 'model.safetensors'), trainFull(v1, withReplay(dataB), { epochs: 3, lr: 0.001, seed: 4 }));
  say(`fine-tuned every weight with ${dataB.length} new digits in ${Date.now() - t} ms`);
  git(repo, 'commit', '-qam', `B: fine-tune for digits ${DIGITS_B.join(' and ')}`);
  now = stored(repo);
  say(`$ git commit -a   → every tensor changed; the store grew by ${kb(now - before)}`);
  say(`weft log: ${storedAs(repo).join('; ')}`);
  rows.push({ accuracy: measured(), version: 'B (fine-tune)', rev: 'contrib-b', weft: now - before, lfs: modelBytes });
  before = now;

  step('4. Contributor C proposes an update trained on wrongly labelled digits');
  git(repo, 'checkout', '-q', '-b', 'contrib-c', 'v1');
  newIdentity(repo, 'Contributor C');
  const mislabelled = train.map((e) => ({ pixels: e.pixels, label: (e.label + 1) % 10 })); // a labelling bug
  saveModel(join(repo, 'model.safetensors'), trainFull(v1, mislabelled, { epochs: 2, lr: 0.002, seed: 5 }));
  git(repo, 'commit', '-qam', 'C: more training data');
  now = stored(repo);
  rows.push({ accuracy: measured(), version: 'C (bad labels)', rev: 'contrib-c', weft: now - before, lfs: modelBytes });
  before = now;
  git(repo, 'checkout', '-q', 'main');
  newIdentity(repo, 'Maintainer');
  const gateC = weftJson(repo, ['gate', 'contrib-c', '--baseline', 'v1'], { ok: [0, 1] });
  say(`$ weft gate contrib-c --baseline v1`);
  say(
    `${gateC.decision.toUpperCase()} after only ${gateC.examplesUsed} of the ${HELD_OUT} held-out digits: the evidence was already conclusive`,
  );
  rows.at(-1).gate = `${gateC.decision} (${gateC.examplesUsed}/${HELD_OUT})`;

  step('5. The maintainer gates A and B, then merges both with the declared policy');
  for (const row of rows.slice(1, 3)) {
    const g = weftJson(repo, ['gate', row.rev, '--baseline', 'v1'], { ok: [0, 1] });
    row.gate = `${g.decision} (${g.examplesUsed}/${HELD_OUT})`;
    say(`$ weft gate ${row.rev} --baseline v1   → ${g.decision.toUpperCase()} after ${g.examplesUsed} examples`);
  }
  say('(each fixes its own digits but forgets a little of the others: alone, neither is clearly better)');
  git(repo, 'checkout', '-q', '-b', 'merge-ab', 'main');
  git(repo, 'merge', '-q', '--no-ff', '--no-edit', 'contrib-a');
  git(repo, 'merge', '-q', '--no-edit', 'contrib-b');
  const status = git(repo, 'status', '--porcelain');
  say(`$ git checkout -b merge-ab; git merge --no-ff contrib-a; git merge contrib-b`);
  say(
    `${status === '' ? 'clean, no prompt' : `NOT clean:\n${status}`}: fc1.weight and fc2.weight changed on both branches`,
  );
  say('and were merged by the declared policy (task_arithmetic: v1 + ΔA + ΔB); the rest changed only in B');
  if (status !== '') throw new Error('the merge left changes or conflicts');
  now = stored(repo);
  const merged = { accuracy: measured(), version: 'A+B merged', rev: 'main', weft: now - before, lfs: modelBytes };
  rows.push(merged);
  const gateM = weftJson(repo, ['gate', 'merge-ab', '--baseline', 'v1'], { ok: [0, 1] });
  merged.gate = `${gateM.decision} (${gateM.examplesUsed}/${HELD_OUT})`;
  say(`$ weft gate merge-ab --baseline v1   → ${gateM.decision.toUpperCase()} after ${gateM.examplesUsed} examples`);
  if (gateM.decision !== 'accept') throw new Error('the gate did not accept the merge');
  git(repo, 'checkout', '-q', 'main');
  git(repo, 'merge', '-q', '--ff-only', 'merge-ab');
  say('$ git checkout main; git merge --ff-only merge-ab   → main moves forward to the merged model');

  step('6. Publish: push to a file:// remote, clone elsewhere, check out');
  const remote = join(dir, 'remote.git');
  git(dir, 'init', '-q', '--bare', remote);
  git(repo, 'remote', 'add', 'origin', `file://${remote}`);
  git(repo, 'push', '-q', 'origin', 'main', 'v1', 'contrib-a', 'contrib-b', 'refs/notes/weft');
  const clone = join(dir, 'clone');
  git(dir, 'clone', '-q', '--no-checkout', `file://${remote}`, clone);
  weft(clone, ['init']);
  const checkout = run(clone, 'git', ['checkout', '-q', 'main']);
  const downloaded = /downloaded \d+ objects?[^\n]*/.exec(checkout.stderr);
  const [mine, theirs] = [sha(join(repo, 'model.safetensors')), sha(join(clone, 'model.safetensors'))];
  const same = mine === theirs;
  say(
    `$ git push origin main … refs/notes/weft   (Weft's pre-push hook uploads the model objects to remote.git/lfs/objects)`,
  );
  say(`$ git clone; weft init; git checkout main   → ${downloaded ? downloaded[0] : 'checked out'}`);
  say(`sha256 of model.safetensors: maintainer ${mine.slice(0, 16)}…, clone ${theirs.slice(0, 16)}…`);
  say(
    `the clone's model is ${same ? 'byte-identical (same sha256)' : 'DIFFERENT'}; the gate decisions went to the remote too (git notes, refs/notes/weft)`,
  );
  if (!same) throw new Error('the clone differs');

  step('Summary');
  const header = ['version', 'held-out accuracy', 'Weft stored', 'git-lfs would store', 'gate vs v1 (examples used)'];
  const lines = rows.map((r) => [r.version, pct(r.accuracy), kb(r.weft), kb(r.lfs), r.gate]);
  const totalWeft = rows.reduce((s, r) => s + r.weft, 0);
  const totalLfs = rows.reduce((s, r) => s + r.lfs, 0);
  lines.push(['total', '', kb(totalWeft), kb(totalLfs), '']);
  const widths = header.map((h, k) => Math.max(h.length, ...lines.map((l) => l[k].length)));
  const fmt = (cells) =>
    `   ${cells.map((c, k) => (k === 0 || k === 4 ? c.padEnd(widths[k]) : c.padStart(widths[k]))).join('  ')}`.trimEnd();
  console.log(fmt(header));
  console.log(`   ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const l of lines) console.log(fmt(l));
  const [, a, b, , m] = rows;
  console.log(
    `\n   The merge (${pct(m.accuracy)}) beats v1 (${pct(rows[0].accuracy)}), A (${pct(a.accuracy)}) and B (${pct(b.accuracy)}); C was kept out;`,
  );
  console.log(
    `   Weft stored ${kb(totalWeft)} where git-lfs would store ${kb(totalLfs)}; done in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
  );
  const ok =
    m.accuracy > a.accuracy &&
    m.accuracy > b.accuracy &&
    m.accuracy > rows[0].accuracy &&
    gateC.decision === 'reject' &&
    gateM.decision === 'accept' &&
    totalWeft < totalLfs;
  if (!ok) {
    console.error('demo: the story did not hold (see the table)');
    process.exitCode = 1;
  }
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  if (keep) console.log(`\nkept the demo folder: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
