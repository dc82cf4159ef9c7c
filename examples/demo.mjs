// `npm run demo`: Weft's main job on bundled data — a real model versioned with real git in a temporary
// repository: inspect, track, commit three versions, see what changed, check out an old version byte for byte.
// The folder is deleted at the end unless --keep is given.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'dist', 'cli', 'main.js');
const data = join(here, 'data');
const keep = process.argv.includes('--keep');
const dir = mkdtempSync(join(tmpdir(), 'weft-demo-'));

const say = (text) => console.log(`\n\x1b[1m== ${text}\x1b[0m`);
const run = (cmd, args, show = true) => {
  if (show) console.log(cmd === process.execPath ? `$ weft ${args.slice(1).join(' ')}` : `$ ${cmd} ${args.join(' ')}`);
  const out = execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (show && out.trim()) console.log(out.trimEnd());
  return out;
};
const weft = (...args) => run(process.execPath, [cli, ...args]);
const git = (...args) => run('git', args);
const sha = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');

try {
  say('What is in a checkpoint: weft inspect');
  copyFileSync(join(data, 'base.safetensors'), join(dir, 'model.safetensors'));
  weft('inspect', 'model.safetensors', '--hash');

  say('A repository that versions models with plain git');
  run('git', ['init', '-q', '-b', 'main'], false);
  run('git', ['config', 'user.email', 'demo@weft.invalid'], false);
  run('git', ['config', 'user.name', 'Weft demo'], false);
  weft('init');
  weft('track', '*.safetensors');
  git('add', '.gitattributes', 'model.safetensors');
  git('commit', '-qm', 'v1: base model trained on all digits');
  console.log('git stores a manifest, not the model:');
  git('show', 'HEAD:model.safetensors');

  say('v2: a LoRA update merged into fc1 and fc2');
  copyFileSync(join(data, 'lora_low_merged.safetensors'), join(dir, 'model.safetensors'));
  weft('status');
  git('commit', '-qam', 'v2: LoRA on digits 0-4');
  weft('diff', 'HEAD~1', 'HEAD', '--stat');

  say('v3: a full fine-tune changes every tensor');
  copyFileSync(join(data, 'ft_low.safetensors'), join(dir, 'model.safetensors'));
  git('commit', '-qam', 'v3: full fine-tune on digits 0-4');
  weft('log', '-n', '2');

  say('A copy of a model already stored costs nothing');
  copyFileSync(join(data, 'base.safetensors'), join(dir, 'copy-of-v1.safetensors'));
  git('add', 'copy-of-v1.safetensors');
  git('commit', '-qm', 'a copy of v1');
  weft('du', '--by-commit');

  say('Back to v1, byte for byte');
  git('checkout', '-q', 'HEAD~3');
  const same = sha(join(dir, 'model.safetensors')) === sha(join(data, 'base.safetensors'));
  console.log(`model.safetensors at v1 is ${same ? 'byte-identical to' : 'DIFFERENT from'} the original`);
  git('checkout', '-q', 'main');
  weft('fsck');
  if (!same) process.exitCode = 1;
} finally {
  if (keep) console.log(`\nkept the demo repository in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
