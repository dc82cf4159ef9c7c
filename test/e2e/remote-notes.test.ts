// End to end: evaluation notes (refs/notes/weft) travel with the repository through `weft push` and `weft fetch`
// over a file:// bare git remote, and notes written on both sides for the same commit are merged key by key.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSafetensors, CLI, cleanupTemps, git, newRepo, type Run, tempDir } from './helpers.js';

function weft(cwd: string, ...args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, maxBuffer: 1 << 26 });
  const run = { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
  if (run.code !== 0) throw new Error(`weft ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
  return run;
}
const NOTES = 'refs/notes/weft';
function note(cwd: string, commit: string): unknown {
  return JSON.parse(git(cwd, ['notes', '--ref', NOTES, 'show', commit]).stdout);
}
function addNote(cwd: string, commit: string, value: unknown): void {
  git(cwd, ['notes', '--ref', NOTES, 'add', '-f', '-m', JSON.stringify(value), commit]);
}

afterAll(() => cleanupTemps());

describe('notes travel with weft push / weft fetch', () => {
  it('pushes, fetches (fast-forward) and merges diverged notes without losing either side', () => {
    const work = newRepo();
    const bare = join(tempDir('weft-bare-'), 'remote.git');
    git(work, ['init', '-q', '--bare', bare]);
    git(work, ['remote', 'add', 'origin', `file://${bare}`]);
    writeFileSync(
      join(work, 'model.safetensors'),
      buildSafetensors([{ name: 'w', shape: [64, 64] }], () => 0.5),
    );
    git(work, ['add', 'model.safetensors']);
    git(work, ['commit', '-qm', 'v1']);
    const commit = git(work, ['rev-parse', 'HEAD']).stdout.trim();
    git(work, ['push', '-q', 'origin', 'main']);
    // Plain git push does not carry notes (and the pre-push hook does not push them behind git's back).
    expect(git(work, ['ls-remote', bare, NOTES]).stdout).toBe('');

    addNote(work, commit, { eval: { arc: { mean: 0.5 } } });
    const pushed = JSON.parse(weft(work, 'push', 'origin', '--json').stdout);
    expect(pushed.notes).toEqual({ state: 'pushed' });
    expect(git(work, ['ls-remote', bare, NOTES]).stdout).toContain(NOTES);

    const clone = tempDir('weft-clone-');
    git(clone, ['init', '-q', '-b', 'scratch']);
    git(clone, ['config', 'user.email', 'test@weft.invalid']);
    git(clone, ['config', 'user.name', 'Weft Test']);
    weft(clone, 'init');
    git(clone, ['remote', 'add', 'origin', `file://${bare}`]);
    git(clone, ['fetch', '-q', 'origin']);
    const fetched = JSON.parse(weft(clone, 'fetch', 'origin', 'origin/main', '--json').stdout);
    expect(fetched.notes).toEqual({ state: 'fast-forward' });
    expect(note(clone, commit)).toEqual({ eval: { arc: { mean: 0.5 } } });
    git(clone, ['checkout', '-q', '-B', 'main', 'origin/main']);
    expect(JSON.parse(weft(clone, 'fetch', 'origin', 'origin/main', '--json').stdout).notes).toEqual({
      state: 'up-to-date',
    });
    expect(
      JSON.parse(weft(clone, 'fetch', 'origin', 'origin/main', '--no-notes', '--json').stdout).notes,
    ).toBeUndefined();

    // Both sides record another result for the same commit; the work side pushes first.
    addNote(work, commit, { eval: { arc: { mean: 0.5 }, gsm: { mean: 0.25 } } });
    weft(work, 'push', 'origin');
    addNote(clone, commit, { eval: { arc: { mean: 0.75 }, mmlu: { mean: 0.4 } }, gate: 'pass' });
    const merged = JSON.parse(weft(clone, 'push', 'origin', '--json').stdout);
    expect(merged.notes).toEqual({ state: 'pushed', mergedNotes: 1 });
    // Ours (the clone's) wins where both set a value; theirs is added where only they did.
    const expected = { eval: { arc: { mean: 0.75 }, gsm: { mean: 0.25 }, mmlu: { mean: 0.4 } }, gate: 'pass' };
    expect(note(clone, commit)).toEqual(expected);

    expect(JSON.parse(weft(work, 'fetch', 'origin', '--json').stdout).notes).toEqual({ state: 'fast-forward' });
    expect(note(work, commit)).toEqual(expected);
    // A remote without notes leaves ours alone.
    const empty = join(tempDir('weft-bare-'), 'empty.git');
    git(work, ['init', '-q', '--bare', empty]);
    git(work, ['remote', 'add', 'empty', `file://${empty}`]);
    expect(JSON.parse(weft(work, 'fetch', 'empty', '--json').stdout).notes).toEqual({ state: 'absent' });
    expect(note(work, commit)).toEqual(expected);
  });
});
