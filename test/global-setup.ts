// Runs once in the vitest main process, before the test workers start and after they finish.
// 1. Gives the run its own temp dir: TMPDIR points at a fresh `weft-test-<pid>-XXXXXX` under the system temp dir, so
//    every os.tmpdir() in the tests (mkdtemp, makeTempDir, tempDir, s3rver...) and in the processes they spawn (git,
//    the weft CLI, servers, npm) lands there; the teardown removes it, so a run leaves nothing behind in /tmp.
//    The workers inherit TMPDIR: vitest forks them after the global setup, with a copy of process.env.
//    WEFT_TEST_SYSTEM_TMPDIR keeps the system temp dir for the few things meant to outlive a run (the npm tarball cache).
// 2. Builds dist/ once (and the filter's bundle): end-to-end tests run the real CLI the way git does
//    (node dist/cli/main.js).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const RUN_PREFIX = 'weft-test-';
/** A run dir left by a killed run is swept once its process is gone and nothing has been added to it for this long. */
const STALE_MS = 60 * 60 * 1000;

export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const system = os.tmpdir();
  sweepStaleRuns(system);
  const runDir = realpathSync(mkdtempSync(join(system, `${RUN_PREFIX}${process.pid}-`)));
  process.env.TMPDIR = runDir;
  process.env.WEFT_TEST_SYSTEM_TMPDIR ??= system;
  const teardown = (): void => {
    process.off('exit', teardown);
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    removeDir(runDir);
  };
  // Also when vitest exits without its teardown (a crash, process.exit); a killed run's dir is swept by a later run.
  process.once('exit', teardown);

  // Set by people running a few unit tests while dist/ is being rebuilt elsewhere (it skips the build).
  if (process.env.WEFT_SKIP_BUILD !== '1') {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..');
    try {
      execFileSync(
        process.execPath,
        [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
        { cwd: root, stdio: 'inherit' },
      );
      // The filter's one-file bundle, rebuilt from that output: git runs it in the end-to-end tests.
      execFileSync(process.execPath, [join(root, 'scripts', 'build-filter.mjs')], { cwd: root, stdio: 'inherit' });
    } catch (error) {
      teardown();
      throw error;
    }
  }
  return teardown;
}

/** rm -rf, retrying while a just-exited child still holds a file (EBUSY, ENOTEMPTY...); warns rather than fails. */
function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  } catch (error) {
    console.warn(`weft tests: could not remove the run's temp dir ${dir}: ${String(error)}`);
  }
}

/** Removes run dirs of earlier runs that were killed before their teardown (their process is gone). */
function sweepStaleRuns(system: string): void {
  let names: string[];
  try {
    names = readdirSync(system);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = new RegExp(`^${RUN_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid === undefined || isAlive(Number(pid))) continue;
    const dir = join(system, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs < STALE_MS) continue;
    } catch {
      continue;
    }
    removeDir(dir);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
