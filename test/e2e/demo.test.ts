// `npm run demo` end to end (issue 9): the community story must keep working — real training, real git, the
// built CLI. Runs examples/demo.mjs as a user would (WEFT_CLI points it at the build under test) and checks
// the story's claims in its output: C rejected, the merge accepted and better than everyone, clone identical.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from './helpers.js';

/** A row of the demo's summary table: version, accuracy (%), Weft KiB, git-lfs KiB, gate decision. */
function row(output: string, version: string): { accuracy: number; weft: number; lfs: number; gate: string } {
  const line = output.split('\n').find((l) => l.trimStart().startsWith(`${version}  `));
  if (!line) throw new Error(`no row "${version}" in the demo's table:\n${output}`);
  const m = /(?:([\d.]+)%)?\s+([\d.]+) KiB\s+([\d.]+) KiB\s*(.*)$/.exec(line);
  if (!m) throw new Error(`row "${version}" does not parse: ${line}`);
  return { accuracy: Number(m[1]), weft: Number(m[2]), lfs: Number(m[3]), gate: m[4]!.trim() };
}

describe('npm run demo', () => {
  it('tells the community story with real numbers and exits 0', async () => {
    const started = Date.now();
    // Asynchronously: a worker blocked for a minute in spawnSync misses vitest's own RPC deadline.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'examples', 'demo.mjs')], {
        cwd: ROOT,
        env: { ...process.env, WEFT_CLI: CLI },
        timeout: 85_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    const out = r.stdout;
    expect(r.status, `${out}\n${r.stderr}`).toBe(0);
    expect(Date.now() - started).toBeLessThan(85_000);
    const v1 = row(out, 'v1 (maintainer)');
    const a = row(out, 'A (LoRA)');
    const b = row(out, 'B (fine-tune)');
    const c = row(out, 'C (bad labels)');
    const merged = row(out, 'A+B merged');
    const total = row(out, 'total');
    expect(merged.accuracy).toBeGreaterThan(Math.max(v1.accuracy, a.accuracy, b.accuracy));
    expect(c.gate).toMatch(/^reject \((\d+)\/540\)$/);
    expect(Number(/\((\d+)\//.exec(c.gate)![1])).toBeLessThan(270); // rejected early
    expect(merged.gate).toMatch(/^accept \(\d+\/540\)$/);
    expect(a.weft).toBeLessThan(a.lfs / 4); // the LoRA costs about its factors
    expect(total.weft).toBeLessThan(total.lfs);
    expect(out).toMatch(/clean, no prompt/);
    expect(out).toMatch(/byte-identical \(same sha256\)/);
    expect(out).toMatch(/downloaded \d+ object/);
  }, 90_000);
});
