// Crash safety: kill -9 (the whole process group, filter included) in the middle of `git add`, `git checkout`
// and `weft gc` at random moments; a rerun must succeed, `weft fsck` must be clean, and checkouts exact.
// Also: two concurrent `git add`s in two worktrees of one repository.
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSafetensors, CLI, cleanupTemps, git, newRepo, sha256, sha256File, tempDir, weft } from './helpers.js';

afterAll(cleanupTemps);

const TENSORS = Array.from({ length: 12 }, (_, i) => ({ name: `layers.${i}.weight`, shape: [1024, 1024] }));
const model = (seed: number) => buildSafetensors(TENSORS, (t, i) => Math.sin(seed * 7919 + t * 104729 + i) * 0.02);

/** Runs a command in its own process group and SIGKILLs the group after `delayMs` (if still running). */
function runAndKill(cwd: string, cmd: string, args: string[], delayMs: number): Promise<'killed' | 'finished'> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: 'ignore' });
    let done = false;
    const timer = setTimeout(() => {
      if (!done && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, delayMs);
    child.on('exit', (_code, signal) => {
      done = true;
      clearTimeout(timer);
      resolve(signal === 'SIGKILL' ? 'killed' : 'finished');
    });
  });
}

/** What a user does after a crash: remove git's stale lock. */
function recover(repo: string): void {
  rmSync(join(repo, '.git', 'index.lock'), { force: true });
}

function delay(i: number): number {
  return 20 + Math.floor(Math.random() * 600) + i * 10;
}

describe('crash safety', () => {
  it('survives kill -9 during git add, git checkout and weft gc', async () => {
    const repo = newRepo();
    const v1 = model(1);
    const v2 = model(2);
    const outcomes: string[] = [];
    // add
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(repo, 'm.safetensors'), i % 2 ? v2 : v1);
      outcomes.push(await runAndKill(repo, 'git', ['add', 'm.safetensors'], delay(i)));
      recover(repo);
      expect(weft(repo, 'fsck', '--quick').code).toBe(0);
    }
    writeFileSync(join(repo, 'm.safetensors'), v1);
    git(repo, ['add', 'm.safetensors']);
    git(repo, ['commit', '-qm', 'v1']);
    writeFileSync(join(repo, 'm.safetensors'), v2);
    git(repo, ['add', 'm.safetensors']);
    git(repo, ['commit', '-qm', 'v2']);
    expect(weft(repo, 'fsck').code).toBe(0);
    // checkout (of fixed commits: a killed checkout may already have moved HEAD)
    const first = git(repo, ['rev-parse', 'HEAD~1']).stdout.trim();
    for (let i = 0; i < 4; i++) {
      const target = i % 2 ? 'main' : first;
      outcomes.push(await runAndKill(repo, 'git', ['checkout', '-q', target], delay(i)));
      recover(repo);
      git(repo, ['checkout', '-q', '-f', target]);
      expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256(i % 2 ? v2 : v1));
      expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
    }
    git(repo, ['checkout', '-q', '-f', 'main']);
    // gc: make v2 unreachable, then kill gc while it deletes
    git(repo, ['reset', '-q', '--hard', 'HEAD~1']);
    git(repo, ['reflog', 'expire', '--expire=now', '--all']);
    for (let i = 0; i < 3; i++) {
      outcomes.push(await runAndKill(repo, process.execPath, [CLI, 'gc', '--grace', '0'], 5 + i * 40));
      expect(weft(repo, 'fsck').code).toBe(0);
    }
    expect(weft(repo, 'gc', '--grace', '0').code).toBe(0);
    expect(weft(repo, 'fsck').code).toBe(0);
    writeFileSync(join(repo, 'm.safetensors'), 'x');
    git(repo, ['checkout', '-q', '-f', 'main']);
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256(v1));
    // at least some of the kills must have landed mid-operation for this test to mean anything
    expect(outcomes.filter((o) => o === 'killed').length).toBeGreaterThan(0);
  }, 180_000);

  it('two concurrent git adds in two worktrees are safe', async () => {
    const repo = newRepo();
    writeFileSync(join(repo, 'm.safetensors'), model(3));
    git(repo, ['add', '.']);
    git(repo, ['commit', '-qm', 'base']);
    const other = join(tempDir(), 'wt');
    git(repo, ['worktree', 'add', '-q', other, '-b', 'side']);
    const a = model(4);
    const b = model(5);
    writeFileSync(join(repo, 'm.safetensors'), a);
    writeFileSync(join(other, 'm.safetensors'), b);
    writeFileSync(join(repo, 'n.safetensors'), b); // the same tensors in both adds at once
    const run = (cwd: string, files: string[]) =>
      new Promise<number>((resolve) =>
        spawn('git', ['add', ...files], { cwd, stdio: 'ignore' }).on('exit', (c) => resolve(c ?? -1)),
      );
    expect(await Promise.all([run(repo, ['m.safetensors', 'n.safetensors']), run(other, ['m.safetensors'])])).toEqual([
      0, 0,
    ]);
    git(repo, ['commit', '-qm', 'a']);
    git(other, ['commit', '-qm', 'b']);
    expect(weft(repo, 'fsck').code).toBe(0);
    for (const [dir, bytes] of [
      [repo, a],
      [other, b],
    ] as const) {
      writeFileSync(join(dir, 'm.safetensors'), 'x');
      git(dir, ['checkout', '-q', '--', 'm.safetensors']);
      expect(sha256File(join(dir, 'm.safetensors'))).toBe(sha256(bytes));
    }
    expect(existsSync(join(other, '.git'))).toBe(true);
  }, 120_000);
});
