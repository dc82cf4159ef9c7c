// End to end with real git: track, add, commit, checkout, diff, log, du, fsck, gc, clone — on the PyTorch-trained
// digits models and on generated ones. Every checkout must be byte-identical.
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { unchangedSinceIndex } from '../../src/ops/unchanged-since-index.js';
import {
  buildSafetensors,
  cleanupTemps,
  DIGITS,
  FIXTURES,
  git,
  newRepo,
  ROOT,
  sha256,
  sha256File,
  tempDir,
  weft,
} from './helpers.js';

afterAll(cleanupTemps);

const VERSIONS = ['base', 'ft_low', 'lora_low_merged', 'ft_high', 'noisy'];

function commitVersions(repo: string): string[] {
  const commits: string[] = [];
  for (const v of VERSIONS) {
    copyFileSync(join(DIGITS, `${v}.safetensors`), join(repo, 'model.safetensors'));
    git(repo, ['add', 'model.safetensors']);
    git(repo, ['commit', '-qm', v]);
    commits.push(git(repo, ['rev-parse', 'HEAD']).stdout.trim());
  }
  return commits;
}

function storedBytes(repo: string): number {
  const r = weft(repo, 'du', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).storedBytes as number;
}

describe('version control with real git', () => {
  it('commits five versions of a trained model and checks each out byte-identical', () => {
    const repo = newRepo();
    const commits = commitVersions(repo);
    // git stores a manifest, not the model (a few lines per tensor: its own, and the parent versions it is a delta of)
    expect(Number(git(repo, ['cat-file', '-s', 'HEAD:model.safetensors']).stdout)).toBeLessThan(8192);
    expect(git(repo, ['show', 'HEAD:model.safetensors']).stdout).toMatch(/ delta parent=[0-9a-f]{64} depth=\d /);
    for (let i = 0; i < VERSIONS.length; i++) {
      git(repo, ['checkout', '-q', commits[i]!]);
      expect(sha256File(join(repo, 'model.safetensors'))).toBe(sha256File(join(DIGITS, `${VERSIONS[i]}.safetensors`)));
      expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
    }
    git(repo, ['checkout', '-q', 'main']);
    const fsck = weft(repo, 'fsck', '--json');
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
    expect(JSON.parse(fsck.stdout)).toMatchObject({ ok: true, manifests: 5 });
  });

  it('diff lists exactly the changed tensors; a copy of a stored model costs nothing', () => {
    const repo = newRepo();
    const commits = commitVersions(repo);
    const d = weft(repo, 'diff', commits[0]!, commits[1]!, '--json');
    expect(d.code, d.stderr).toBe(0);
    const files = JSON.parse(d.stdout).files;
    expect(files).toHaveLength(1);
    expect(files[0].tensors.map((t: { name: string }) => t.name).sort()).toEqual(
      ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight', 'fc3.bias', 'fc3.weight'].sort(),
    );
    // the LoRA-merged model changes only the adapted layers
    const lora = JSON.parse(weft(repo, 'diff', commits[0]!, commits[2]!, '--json', '--stat').stdout).files[0];
    expect(lora.tensors.map((t: { name: string }) => t.name).sort()).toEqual(['fc1.weight', 'fc2.weight']);
    expect(lora.tensors[0].stats.fractionChanged).toBeGreaterThan(0);
    expect(lora.tensors[0].stats.cosine).toBeLessThanOrEqual(1);
    const before = storedBytes(repo);
    copyFileSync(join(DIGITS, 'base.safetensors'), join(repo, 'copy.safetensors'));
    git(repo, ['add', 'copy.safetensors']);
    git(repo, ['commit', '-qm', 'copy']);
    expect(storedBytes(repo) - before).toBe(0);
    // log names the commits and their store growth
    const log = JSON.parse(weft(repo, 'log', '--json').stdout).commits;
    expect(log.map((c: { subject: string }) => c.subject)).toEqual(['copy', ...[...VERSIONS].reverse()]);
    expect(log[0].storedBytesAdded).toBe(0);
    expect(log.at(-1).storedBytesAdded).toBeGreaterThan(0);
    const byCommit = JSON.parse(weft(repo, 'du', '--by-commit', '--json').stdout).commits;
    expect(byCommit.at(-1)).toMatchObject({ subject: 'copy', storedBytes: 0, objects: 0 });
  });

  it('status shows modified tensors in the work tree', () => {
    const repo = newRepo();
    copyFileSync(join(DIGITS, 'base.safetensors'), join(repo, 'model.safetensors'));
    git(repo, ['add', 'model.safetensors']);
    git(repo, ['commit', '-qm', 'base']);
    expect(JSON.parse(weft(repo, 'status', '--json').stdout).changes).toEqual([]);
    copyFileSync(join(DIGITS, 'lora_low_merged.safetensors'), join(repo, 'model.safetensors'));
    const s = JSON.parse(weft(repo, 'status', '--json').stdout);
    expect(s.changes[0].tensors.map((t: { name: string }) => t.name).sort()).toEqual(['fc1.weight', 'fc2.weight']);
    const d = weft(repo, 'diff', '--exit-code');
    expect(d.code).toBe(1);
    expect(d.stdout).toContain('fc1.weight');
  });

  it('a clone over file:// plus a copy of the store checks out identical files', () => {
    const repo = newRepo();
    commitVersions(repo);
    const clone = tempDir();
    git(clone, ['clone', '-q', '--no-checkout', `file://${repo}`, 'c']);
    const c = join(clone, 'c');
    expect(weft(c, 'init').code).toBe(0);
    // copy the store (remote transports come with the sharing issue)
    cpSync(join(repo, '.git', 'weft', 'objects'), join(c, '.git', 'weft', 'objects'), { recursive: true });
    git(c, ['checkout', '-q', 'main']);
    expect(sha256File(join(c, 'model.safetensors'))).toBe(sha256File(join(DIGITS, 'noisy.safetensors')));
  });

  it('stores files that are not checkpoints (and broken checkpoints) exactly', () => {
    const repo = newRepo(['*.safetensors', '*.bin', '*.pt', '*.npz', '*.gguf']);
    const files: Record<string, Uint8Array> = {};
    for (const name of readdirSync(join(FIXTURES, 'corrupt'))) {
      if (name.endsWith('.md')) continue;
      files[name] = readFileSync(join(FIXTURES, 'corrupt', name));
    }
    const random = new Uint8Array(300_000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    files['blob.bin'] = random;
    files['empty.bin'] = new Uint8Array(0);
    files['empty.safetensors'] = new Uint8Array(0);
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(repo, name), bytes);
    const add = git(repo, ['add', '.']);
    git(repo, ['commit', '-qm', 'odd files']);
    expect(add.code).toBe(0);
    for (const name of Object.keys(files))
      expect(git(repo, ['cat-file', '-p', `HEAD:${name}`]).stdout).toMatch(/^weft 1 /);
    for (const name of Object.keys(files)) writeFileSync(join(repo, name), 'x');
    git(repo, ['checkout', '-q', '--', '.']);
    for (const [name, bytes] of Object.entries(files)) expect(sha256File(join(repo, name)), name).toBe(sha256(bytes));
    expect(existsSync(join(repo, 'weft-pwned'))).toBe(false);
    expect(weft(repo, 'fsck').code).toBe(0);
  });

  it('a manifest added again passes through unchanged, and a second version costs only its changed tensor', () => {
    const repo = newRepo();
    const tensors = Array.from({ length: 8 }, (_, i) => ({ name: `layers.${i}.weight`, shape: [256, 256] }));
    const v1 = buildSafetensors(tensors, (t, i) => Math.sin(t * 1000 + i) * 0.02);
    writeFileSync(join(repo, 'm.safetensors'), v1);
    git(repo, ['add', 'm.safetensors']);
    git(repo, ['commit', '-qm', 'v1']);
    const s1 = storedBytes(repo);
    const v2 = buildSafetensors(tensors, (t, i) => (t === 3 ? Math.cos(i) * 0.02 : Math.sin(t * 1000 + i) * 0.02));
    writeFileSync(join(repo, 'm.safetensors'), v2);
    git(repo, ['add', 'm.safetensors']);
    git(repo, ['commit', '-qm', 'v2']);
    const growth = storedBytes(repo) - s1;
    expect(growth).toBeGreaterThan(0);
    expect(growth).toBeLessThan(256 * 256 * 4 * 1.05);
    // adding the manifest itself (as git does when renormalising) changes nothing
    const manifest = git(repo, ['cat-file', '-p', 'HEAD:m.safetensors']).stdout;
    const again = git(repo, ['hash-object', '--path=m.safetensors', '--stdin'], { input: manifest }).stdout.trim();
    expect(again).toBe(git(repo, ['rev-parse', 'HEAD:m.safetensors']).stdout.trim());
  });

  it('runs the bundle only when it is as new as the modules it was built from (tsc alone leaves the modules)', () => {
    // A copy of the build whose bundle only throws: whether it ran shows in git's output.
    const root = tempDir('weft-build-');
    cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
    symlinkSync(join(ROOT, 'native'), join(root, 'native'), 'dir');
    const bundle = join(root, 'dist', 'filter.bundle.js');
    writeFileSync(bundle, "throw new Error('the bundle ran');\n");
    const filter = [
      '-c',
      `filter.weft.process=${process.execPath} ${join(root, 'dist', 'cli', 'main.js')} filter-process`,
    ];
    const repo = newRepo();
    const tensors = [{ name: 'w', shape: [64, 64] }];
    writeFileSync(
      join(repo, 'm.safetensors'),
      buildSafetensors(tensors, (_, i) => i * 0.001),
    );
    const newer = new Date(Date.now() + 60_000);
    utimesSync(bundle, newer, newer);
    const ran = git(repo, [...filter, 'add', 'm.safetensors'], { allowFail: true });
    expect(ran.code).not.toBe(0);
    expect(ran.stderr).toContain('the bundle ran');
    const older = new Date(Date.now() - 3_600_000);
    utimesSync(bundle, older, older);
    git(repo, [...filter, 'add', 'm.safetensors']);
    expect(git(repo, ['cat-file', '-p', ':m.safetensors']).stdout).toMatch(/^weft 1 /);
  });

  it('the filter works alike from its one-file bundle and from its modules, with its workers and kernels', async () => {
    // The build bundles the filter (scripts/build-filter.mjs); dist/cli/main.js runs the bundle unless told not to.
    const bundle = join(ROOT, 'dist', 'filter.bundle.js');
    expect(existsSync(bundle)).toBe(true);
    const fromBundle = (await import(pathToFileURL(bundle).href)) as { filterRuntime(): unknown };
    expect(fromBundle.filterRuntime()).toEqual({ codecWorkers: true, nativeKernels: true });
    const repo = newRepo();
    const tensors = Array.from({ length: 4 }, (_, i) => ({ name: `layers.${i}.weight`, shape: [256, 512] }));
    const model = buildSafetensors(tensors, (t, i) => Math.sin(t * 7 + i) * 0.02);
    const modules = { WEFT_NO_FILTER_BUNDLE: '1' };
    writeFileSync(join(repo, 'a.safetensors'), model);
    writeFileSync(join(repo, 'b.safetensors'), model);
    git(repo, ['add', 'a.safetensors']);
    git(repo, ['add', 'b.safetensors'], { env: modules });
    const manifest = (path: string) => git(repo, ['cat-file', '-p', `:${path}`]).stdout;
    expect(manifest('a.safetensors')).toMatch(/^weft 1 /);
    expect(manifest('b.safetensors')).toBe(manifest('a.safetensors'));
    git(repo, ['commit', '-qm', 'both']);
    rmSync(join(repo, 'a.safetensors'));
    rmSync(join(repo, 'b.safetensors'));
    git(repo, ['checkout', '--', 'a.safetensors']);
    git(repo, ['checkout', '--', 'b.safetensors'], { env: modules });
    for (const f of ['a.safetensors', 'b.safetensors']) expect(sha256File(join(repo, f))).toBe(sha256(model));
  });

  it('a re-clean of an unchanged file rewrites no content index entry, and restores a lost one', () => {
    const repo = newRepo();
    const tensors = Array.from({ length: 6 }, (_, i) => ({ name: `layers.${i}.weight`, shape: [128, 256] }));
    writeFileSync(
      join(repo, 'm.safetensors'),
      buildSafetensors(tensors, (t, i) => Math.sin(t * 1000 + i) * 0.02),
    );
    git(repo, ['add', 'm.safetensors']);
    git(repo, ['commit', '-qm', 'v1']);
    const indexDir = join(repo, '.git', 'weft', 'index');
    const entries = () =>
      new Map(
        readdirSync(indexDir).flatMap((aa) =>
          readdirSync(join(indexDir, aa)).map((id) => [id, statSync(join(indexDir, aa, id)).ino] as const),
        ),
      );
    const before = entries();
    expect(before.size).toBe(6);
    const [lost] = [...before.keys()];
    rmSync(join(indexDir, lost!.slice(0, 2), lost!));
    // A new mtime: git cleans the file again, and the filter reuses the committed encodings.
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(repo, 'm.safetensors'), future, future);
    git(repo, ['add', 'm.safetensors']);
    expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
    const after = entries();
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    // Entries are written by temp file + rename: an unchanged inode is an entry nobody rewrote.
    for (const [id, ino] of before) if (id !== lost) expect(after.get(id), id).toBe(ino);
  });
  it('streams a tensor too big to hold (over 64 MiB) and dedups it when added again', () => {
    const repo = newRepo();
    const big = buildSafetensors([{ name: 'embed.weight', shape: [4608, 4096] }], (_, i) => ((i * 7919) % 1000) / 5e4);
    writeFileSync(join(repo, 'm.safetensors'), big);
    git(repo, ['add', 'm.safetensors']);
    git(repo, ['commit', '-qm', 'big']);
    const manifest = git(repo, ['cat-file', '-p', 'HEAD:m.safetensors']).stdout;
    expect(manifest).toMatch(
      /tensor "embed\.weight" F32 \[4608,4096\] @\d+ 75497472 [0-9a-f]{64} dense ([0-9a-f]{64},){8}[0-9a-f]{64}\n/,
    );
    const before = storedBytes(repo);
    writeFileSync(join(repo, 'copy.safetensors'), big);
    git(repo, ['add', 'copy.safetensors']);
    expect(storedBytes(repo)).toBe(before);
    writeFileSync(join(repo, 'm.safetensors'), 'x');
    git(repo, ['checkout', '--', 'm.safetensors']);
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256(big));
    // Re-adding it unchanged stores nothing; a version with a few values changed costs a delta, not a copy.
    git(repo, ['add', 'm.safetensors']);
    expect(storedBytes(repo)).toBe(before);
    const v2 = Uint8Array.from(big);
    for (let k = 0; k < 100; k++) v2[v2.length - 1 - k * 200_003]! ^= 0x10;
    writeFileSync(join(repo, 'm.safetensors'), v2);
    git(repo, ['commit', '-qam', 'big v2']);
    expect(storedBytes(repo) - before).toBeLessThan(200_000);
    expect(git(repo, ['cat-file', '-p', 'HEAD:m.safetensors']).stdout).toMatch(
      / delta parent=[0-9a-f]{64} depth=1 patch=xor /,
    );
    git(repo, ['checkout', '-q', 'HEAD~1', '--', 'm.safetensors']);
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256(big));
    git(repo, ['checkout', '-q', 'HEAD', '--', 'm.safetensors']);
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256(v2));
    expect(weft(repo, 'fsck').code).toBe(0);
  });

  it('checks out many multi-object tensors exactly, version after version (decoded in recycled memory)', () => {
    const repo = newRepo();
    const tensors = Array.from({ length: 4 }, (_, i) => ({ name: `layers.${i}.weight`, shape: [2048, 3072] }));
    const versions = [0, 1].map((v) =>
      buildSafetensors(tensors, (t, i) => Math.sin(i * 0.001 + t + (t % 2) * v) * 0.02 + ((i * 7919) % 13) * 1e-6),
    );
    const commits = versions.map((bytes, v) => {
      writeFileSync(join(repo, 'm.safetensors'), bytes);
      git(repo, ['add', 'm.safetensors']);
      git(repo, ['commit', '-qm', `v${v}`]);
      return git(repo, ['rev-parse', 'HEAD']).stdout.trim();
    });
    for (const v of [0, 1, 0, 1]) {
      git(repo, ['checkout', '-q', commits[v]!]);
      expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256(versions[v]!));
      expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
    }
    // An edit right after a checkout (racily clean for git) is seen, whatever the stat shortcut knows.
    git(repo, ['checkout', '-q', commits[0]!]);
    writeFileSync(join(repo, 'm.safetensors'), versions[1]!);
    expect(git(repo, ['status', '--porcelain']).stdout).toBe(' M m.safetensors\n');
  });

  it('a file whose stat data git recorded before writing the index is known unchanged without reading it', async () => {
    const repo = newRepo();
    const file = join(repo, 'm.safetensors');
    const bytes = buildSafetensors([{ name: 'w', shape: [64, 64] }], (_, i) => i * 1e-3);
    writeFileSync(file, bytes);
    writeFileSync(join(repo, 'notes.txt'), 'plain text\n');
    git(repo, ['add', 'm.safetensors', 'notes.txt']);
    const index = join(repo, '.git', 'index');
    const later = () => utimesSync(index, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
    later();
    const manifest = git(repo, ['cat-file', 'blob', ':m.safetensors']).stdout;
    const readIndexBlob = async (oid: string) => Buffer.from(git(repo, ['cat-file', 'blob', oid]).stdout);
    const check = (pathname = 'm.safetensors') => unchangedSinceIndex({ topLevel: repo, pathname, readIndexBlob });
    expect(Buffer.from((await check())!).toString()).toBe(manifest);
    expect(await check('notes.txt')).toBeUndefined(); // not a manifest
    expect(await check('absent.safetensors')).toBeUndefined();
    // An index written before the file changed last (or in the same clock tick): racy even at nanoseconds.
    const before = new Date(statSync(file).mtime.getTime() - 1);
    utimesSync(index, before, before);
    expect(await check()).toBeUndefined();
    later();
    expect(await check()).toBeDefined();
    // touched: the times differ from the entry's (by seconds, so that git, which compares seconds, re-adds it)
    const touched = new Date(Date.now() + 2000);
    utimesSync(file, touched, touched);
    expect(await check()).toBeUndefined();
    git(repo, ['add', 'm.safetensors']);
    later();
    expect(await check()).toBeDefined();
    // an edit of the same size with the old mtime put back still changes ctime
    const { atime, mtime: recorded } = statSync(file);
    const edited = Uint8Array.from(bytes);
    edited[edited.length - 1]! ^= 1;
    writeFileSync(file, edited);
    utimesSync(file, atime, recorded);
    expect(await check()).toBeUndefined();
  });

  it('a corrupt object fails checkout naming the file and tensor, and fsck reports it', () => {
    const repo = newRepo();
    copyFileSync(join(DIGITS, 'base.safetensors'), join(repo, 'model.safetensors'));
    git(repo, ['add', 'model.safetensors']);
    git(repo, ['commit', '-qm', 'base']);
    const manifest = git(repo, ['cat-file', '-p', 'HEAD:model.safetensors']).stdout;
    const id = /tensor "fc1.weight" .* dense ([0-9a-f]{64})/.exec(manifest)![1]!;
    const path = join(repo, '.git', 'weft', 'objects', id.slice(0, 2), id.slice(2, 4), id);
    const bytes = readFileSync(path);
    bytes[bytes.length - 10]! ^= 0xff;
    writeFileSync(path, bytes);
    writeFileSync(join(repo, 'model.safetensors'), 'changed');
    const co = git(repo, ['checkout', '--', 'model.safetensors'], { allowFail: true });
    expect(co.code).not.toBe(0);
    expect(co.stderr).toContain('model.safetensors');
    expect(co.stderr).toMatch(/fc1\.bias|fc1\.weight/);
    // git removes the old file before the filter runs; what matters is that no wrong bytes were written
    const path2 = join(repo, 'model.safetensors');
    expect(!existsSync(path2) || readFileSync(path2).toString() === 'changed').toBe(true);
    const fsck = weft(repo, 'fsck');
    expect(fsck.code).toBe(1);
    expect(fsck.stderr).toContain(id);
  });

  it('a tensor that decodes to other bytes fails checkout by name, though later tensors were already streamed', () => {
    const repo = newRepo();
    const tensors = Array.from({ length: 6 }, (_, i) => ({ name: `layers.${i}.weight`, shape: [512, 1024] }));
    writeFileSync(
      join(repo, 'm.safetensors'),
      buildSafetensors(tensors, (t, i) => Math.sin(t * 1000 + i) * 0.02),
    );
    git(repo, ['add', 'm.safetensors']);
    git(repo, ['commit', '-qm', 'v1']);
    const manifest = git(repo, ['cat-file', '-p', 'HEAD:m.safetensors']).stdout;
    const objectOf = (name: string) => {
      const id = new RegExp(`tensor "${name}" .* dense ([0-9a-f]{64})\n`).exec(manifest)![1]!;
      return join(repo, '.git', 'weft', 'objects', id.slice(0, 2), id.slice(2, 4), id);
    };
    // A valid object under the first tensor's name: it decodes, to the bytes of another tensor.
    copyFileSync(objectOf('layers.3.weight'), objectOf('layers.0.weight'));
    writeFileSync(join(repo, 'm.safetensors'), 'changed');
    const co = git(repo, ['checkout', '--', 'm.safetensors'], { allowFail: true });
    expect(co.code).not.toBe(0);
    expect(co.stderr).toContain('tensor "layers.0.weight" does not match its content id');
    const path = join(repo, 'm.safetensors');
    expect(!existsSync(path) || readFileSync(path).toString() === 'changed').toBe(true);
  });

  it('a settings file that cannot be read fails the add with its error (clean reads on meanwhile)', () => {
    const repo = newRepo();
    copyFileSync(join(DIGITS, 'base.safetensors'), join(repo, 'model.safetensors'));
    mkdirSync(join(repo, '.weft', 'config.toml'), { recursive: true }); // a directory: reading it fails
    const add = git(repo, ['add', 'model.safetensors'], { allowFail: true });
    expect(add.code).not.toBe(0);
    expect(add.stderr).toContain('EISDIR');
    expect(add.stderr).toContain("clean filter 'weft' failed");
    expect(add.stderr).not.toMatch(/unhandled|internal error|hung up/i); // the filter reported it and lived on
    expect(git(repo, ['status', '--porcelain', 'model.safetensors']).stdout).toBe('?? model.safetensors\n');
  });

  it('gc deletes only unreachable objects', () => {
    const repo = newRepo();
    copyFileSync(join(DIGITS, 'base.safetensors'), join(repo, 'model.safetensors'));
    git(repo, ['add', 'model.safetensors']);
    git(repo, ['commit', '-qm', 'base']);
    copyFileSync(join(DIGITS, 'noisy.safetensors'), join(repo, 'model.safetensors'));
    git(repo, ['add', 'model.safetensors']);
    // staged but not committed: reachable from the index
    expect(JSON.parse(weft(repo, 'gc', '--grace', '0', '--dry-run', '--json').stdout).deleted).toBe(0);
    git(repo, ['reset', '-q', '--hard']);
    git(repo, ['reflog', 'expire', '--expire=now', '--all']);
    const dry = JSON.parse(weft(repo, 'gc', '--grace', '0', '--dry-run', '--json').stdout);
    expect(dry.deleted).toBe(1); // the pack of noisy's tensors; noisy's header equals base's
    const before = storedBytes(repo);
    // the default grace period keeps fresh objects
    expect(JSON.parse(weft(repo, 'gc', '--json').stdout).deleted).toBe(0);
    const real = JSON.parse(weft(repo, 'gc', '--grace', '0', '--json').stdout);
    expect(real.deleted).toBe(1);
    expect(storedBytes(repo)).toBe(before - real.deletedBytes);
    expect(weft(repo, 'fsck').code).toBe(0);
    copyFileSync(join(DIGITS, 'noisy.safetensors'), join(repo, 'model.safetensors'));
    git(repo, ['add', 'model.safetensors']);
    git(repo, ['commit', '-qm', 'noisy again']);
    expect(weft(repo, 'fsck').code).toBe(0);
  });

  it('merges changes to different tensors without conflict', () => {
    const repo = newRepo();
    const tensors = Array.from({ length: 4 }, (_, i) => ({ name: `t${i}`, shape: [16] }));
    const base = (t: number, i: number) => t + i / 100;
    writeFileSync(join(repo, 'm.safetensors'), buildSafetensors(tensors, base));
    git(repo, ['add', '.']);
    git(repo, ['commit', '-qm', 'base']);
    git(repo, ['checkout', '-qb', 'a']);
    writeFileSync(
      join(repo, 'm.safetensors'),
      buildSafetensors(tensors, (t, i) => (t === 0 ? -1 : base(t, i))),
    );
    git(repo, ['commit', '-qam', 'a']);
    git(repo, ['checkout', '-q', 'main']);
    writeFileSync(
      join(repo, 'm.safetensors'),
      buildSafetensors(tensors, (t, i) => (t === 2 ? -2 : base(t, i))),
    );
    git(repo, ['commit', '-qam', 'b']);
    git(repo, ['merge', '-q', '--no-edit', 'a']);
    const want = buildSafetensors(tensors, (t, i) => (t === 0 ? -1 : t === 2 ? -2 : base(t, i)));
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256(want));
    expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
    // both sides change the same tensor: a conflict, reported by tensor
    git(repo, ['checkout', '-qb', 'c']);
    writeFileSync(
      join(repo, 'm.safetensors'),
      buildSafetensors(tensors, (t, i) => (t === 1 ? 5 : base(t, i))),
    );
    git(repo, ['commit', '-qam', 'c']);
    git(repo, ['checkout', '-q', 'main']);
    writeFileSync(
      join(repo, 'm.safetensors'),
      buildSafetensors(tensors, (t, i) => (t === 1 ? 6 : base(t, i))),
    );
    git(repo, ['commit', '-qam', 'd']);
    const m = git(repo, ['merge', '--no-edit', 'c'], { allowFail: true });
    expect(m.code).not.toBe(0);
    expect(m.stdout + m.stderr).toContain('"t1"');
  });
});
