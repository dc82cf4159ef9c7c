// Shared helpers for end-to-end tests: temp repositories with real git and the built CLI, fixtures, hashing.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES_ROOT } from '../support/fixtures-dir.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI; WEFT_TEST_CLI points the tests at another build (a helper's private `tsc --outDir`). */
export const CLI = process.env.WEFT_TEST_CLI ?? join(ROOT, 'dist', 'cli', 'main.js');
export const FIXTURES = FIXTURES_ROOT;
export const DIGITS = join(FIXTURES, 'digits');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function result(r: SpawnSyncReturns<Buffer>): Run {
  return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

/** Runs the built weft CLI in `cwd`. */
export function weft(cwd: string, ...args: string[]): Run {
  return result(spawnSync(process.execPath, [CLI, ...args], { cwd, maxBuffer: 1 << 28 }));
}

/** Runs git in `cwd`; throws with git's stderr when it fails (unless `allowFail`). */
export function git(
  cwd: string,
  args: string[],
  options: { allowFail?: boolean; input?: string; env?: Record<string, string> } = {},
): Run {
  const r = result(
    spawnSync('git', args, {
      cwd,
      maxBuffer: 1 << 28,
      ...(options.input !== undefined ? { input: options.input } : {}),
      ...(options.env !== undefined ? { env: { ...process.env, ...options.env } } : {}),
    }),
  );
  if (r.code !== 0 && !options.allowFail) throw new Error(`git ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

const temps: string[] = [];

export function tempDir(prefix = 'weft-e2e-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

export function cleanupTemps(): void {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
}

/** A new repository with Weft initialised and `*.safetensors` tracked and committed. */
export function newRepo(patterns: string[] = ['*.safetensors']): string {
  const dir = tempDir();
  git(dir, ['init', '-q', '-b', 'main']);
  git(dir, ['config', 'user.email', 'test@weft.invalid']);
  git(dir, ['config', 'user.name', 'Weft Test']);
  const init = weft(dir, 'init');
  if (init.code !== 0) throw new Error(`weft init failed: ${init.stderr}`);
  const track = weft(dir, 'track', ...patterns);
  if (track.code !== 0) throw new Error(`weft track failed: ${track.stderr}`);
  git(dir, ['add', '.gitattributes']);
  git(dir, ['commit', '-qm', 'track models']);
  return dir;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A safetensors file built by hand: F32 tensors with values from `fill(tensorIndex, i)`. */
export function buildSafetensors(
  tensors: { name: string; shape: number[] }[],
  fill: (t: number, i: number) => number,
): Uint8Array {
  const header: Record<string, unknown> = {};
  let off = 0;
  const sizes = tensors.map((t) => t.shape.reduce((a, b) => a * b, 1) * 4);
  tensors.forEach((t, k) => {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + sizes[k]!] };
    off += sizes[k]!;
  });
  let h = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (h.length % 8)) % 8;
  const padded = new Uint8Array(h.length + pad).fill(0x20);
  padded.set(h);
  h = padded;
  const out = new Uint8Array(8 + h.length + off);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let at = 8 + h.length;
  tensors.forEach((_, k) => {
    const n = sizes[k]! / 4;
    for (let i = 0; i < n; i++) view.setFloat32(at + i * 4, fill(k, i), true);
    at += sizes[k]!;
  });
  return out;
}
