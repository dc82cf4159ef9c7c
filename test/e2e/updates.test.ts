// Cheap updates end to end with real git on the PyTorch-trained digits fixtures: a LoRA applied by
// `weft adapter apply` costs about the adapter, the same LoRA merged by PyTorch checks out exactly, an adapter
// extracted between two commits reproduces B·A, and parent chains stay within max_chain.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTemps, DIGITS, git, newRepo, sha256File, tempDir, weft } from './helpers.js';

afterAll(cleanupTemps);

/** Tensors of a safetensors file as Float32Arrays (F32 only), parsed by hand. */
function readF32(path: string): Map<string, { shape: number[]; values: Float32Array }> {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    expect(t.dtype).toBe('F32');
    const bytes = new Uint8Array(b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]));
    out.set(name, { shape: t.shape, values: new Float32Array(bytes.buffer) });
  }
  return out;
}

function storedBytes(repo: string): number {
  const r = weft(repo, 'du', '--json');
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { storedBytes: number }).storedBytes;
}

function adapterTensorBytes(): number {
  let n = 0;
  for (const t of readF32(join(DIGITS, 'lora_low', 'adapter_model.safetensors')).values()) n += t.values.byteLength;
  return n;
}

function commitBase(): string {
  const repo = newRepo();
  copyFileSync(join(DIGITS, 'base.safetensors'), join(repo, 'model.safetensors'));
  git(repo, ['add', 'model.safetensors']);
  git(repo, ['commit', '-qm', 'base']);
  return repo;
}

function checkoutIdentical(repo: string, commit: string, expected: string): void {
  git(repo, ['checkout', '-q', commit, '--', 'model.safetensors']);
  expect(sha256File(join(repo, 'model.safetensors'))).toBe(sha256File(expected));
}

describe('cheap updates', () => {
  it('stores a LoRA applied by weft adapter apply as the adapter, and checks out exactly', () => {
    const repo = commitBase();
    const before = storedBytes(repo);
    const r = weft(repo, 'adapter', 'apply', join(DIGITS, 'lora_low'), '--model', 'model.safetensors', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { tensors: { hinted: boolean }[] }).tensors.every((t) => t.hinted)).toBe(true);
    const applied = join(tempDir(), 'applied.safetensors');
    copyFileSync(join(repo, 'model.safetensors'), applied);
    // The applied weights are PyTorch's merge up to float32 rounding.
    const ours = readF32(applied);
    const torch = readF32(join(DIGITS, 'lora_low_merged.safetensors'));
    for (const [name, t] of torch) {
      const o = ours.get(name)!.values;
      for (let i = 0; i < o.length; i++) expect(Math.abs(o[i]! - t.values[i]!)).toBeLessThan(1e-6);
    }
    git(repo, ['commit', '-qam', 'lora']);
    const growth = storedBytes(repo) - before;
    expect(growth).toBeLessThanOrEqual(1.25 * adapterTensorBytes());
    expect(git(repo, ['show', 'HEAD:model.safetensors']).stdout).toMatch(/ lowrank parent=[0-9a-f]{64} depth=1 /);
    checkoutIdentical(repo, 'HEAD~1', join(DIGITS, 'base.safetensors'));
    checkoutIdentical(repo, 'HEAD', applied);
    expect(weft(repo, 'fsck').code).toBe(0);
  });

  it("checks out PyTorch's own merge exactly without a hint, and extracts the adapter from the change", () => {
    const repo = commitBase();
    copyFileSync(join(DIGITS, 'lora_low_merged.safetensors'), join(repo, 'model.safetensors'));
    git(repo, ['commit', '-qam', 'lora merged by PyTorch']);
    checkoutIdentical(repo, 'HEAD~1', join(DIGITS, 'base.safetensors'));
    checkoutIdentical(repo, 'HEAD', join(DIGITS, 'lora_low_merged.safetensors'));
    const out = join(tempDir(), 'extracted');
    const r = weft(repo, 'adapter', 'extract', 'HEAD~1', 'HEAD', '--rank', '4', '-o', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const extracted = readF32(join(out, 'adapter_model.safetensors'));
    const original = readF32(join(DIGITS, 'lora_low', 'adapter_model.safetensors'));
    const config = JSON.parse(readFileSync(join(DIGITS, 'lora_low', 'adapter_config.json'), 'utf8')) as {
      r: number;
      lora_alpha: number;
    };
    for (const module of ['fc1', 'fc2']) {
      const key = (k: string) => `base_model.model.${module}.${k}.weight`;
      const product = (a: Float32Array, b: Float32Array, rows: number, rank: number, cols: number, scale: number) => {
        const m = new Float64Array(rows * cols);
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) {
            let s = 0;
            for (let k = 0; k < rank; k++) s += b[i * rank + k]! * a[k * cols + j]!;
            m[i * cols + j] = s * scale;
          }
        return m;
      };
      const A = original.get(key('lora_A'))!;
      const B = original.get(key('lora_B'))!;
      const [rank, cols] = A.shape as [number, number];
      const rows = B.shape[0]!;
      const want = product(A.values, B.values, rows, rank, cols, config.lora_alpha / config.r);
      const eA = extracted.get(key('lora_A'))!;
      const eB = extracted.get(key('lora_B'))!;
      const got = product(eA.values, eB.values, rows, eA.shape[0]!, cols, 1);
      let err = 0;
      let norm = 0;
      for (let i = 0; i < want.length; i++) {
        err += (want[i]! - got[i]!) ** 2;
        norm += want[i]! ** 2;
      }
      expect(Math.sqrt(err / norm)).toBeLessThan(1e-5);
    }
  });

  it('never lets a parent chain grow past max_chain, and every version checks out exactly', () => {
    const repo = newRepo();
    mkdirSync(join(repo, '.weft'), { recursive: true });
    writeFileSync(join(repo, '.weft', 'config.toml'), '[encoding]\nmax_chain = 2\n');
    git(repo, ['add', '.weft']);
    const bytes = Buffer.from(readFileSync(join(DIGITS, 'base.safetensors')));
    const versions: { commit: string; file: string }[] = [];
    const dir = tempDir();
    for (let v = 0; v < 6; v++) {
      if (v > 0) for (let i = 0; i < 40; i++) bytes[bytes.length - 1 - ((v * 997 + i * 131) % 30000)]! ^= 1;
      const file = join(dir, `v${v}.safetensors`);
      writeFileSync(file, bytes);
      copyFileSync(file, join(repo, 'model.safetensors'));
      git(repo, ['add', 'model.safetensors']);
      git(repo, ['commit', '-qm', `v${v}`]);
      versions.push({ commit: git(repo, ['rev-parse', 'HEAD']).stdout.trim(), file });
      const manifest = git(repo, ['show', 'HEAD:model.safetensors']).stdout;
      for (const m of manifest.matchAll(/ depth=(\d+) /g)) expect(Number(m[1])).toBeLessThanOrEqual(2);
    }
    const last = git(repo, ['show', 'HEAD:model.safetensors']).stdout;
    expect(last).toMatch(/ delta parent=/);
    for (const v of versions) checkoutIdentical(repo, v.commit, v.file);
    expect(weft(repo, 'fsck').code).toBe(0);
  });

  it('refuses an adapter that does not fit the model, changing nothing', () => {
    const repo = commitBase();
    const bad = join(tempDir(), 'bad');
    mkdirSync(bad);
    copyFileSync(join(DIGITS, 'lora_low', 'adapter_config.json'), join(bad, 'adapter_config.json'));
    // fc3 is [10, 64]: an fc1-shaped adapter renamed to fc3 cannot fit it.
    const src = readFileSync(join(DIGITS, 'lora_low', 'adapter_model.safetensors'));
    const n = Number(src.readBigUInt64LE(0));
    const header = src
      .subarray(8, 8 + n)
      .toString('utf8')
      .replaceAll('fc1', 'fc3');
    writeFileSync(
      join(bad, 'adapter_model.safetensors'),
      Buffer.concat([src.subarray(0, 8), Buffer.from(header), src.subarray(8 + n)]),
    );
    const before = sha256File(join(repo, 'model.safetensors'));
    const r = weft(repo, 'adapter', 'apply', bad, '--model', 'model.safetensors');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/fc3.*do not fit fc3\.weight \[10, 64\]/);
    expect(sha256File(join(repo, 'model.safetensors'))).toBe(before);
  });
});
