// Warm filter processes (ops/warm-filter.ts, native/weft_filter_client.c) with real git: a command served warm
// gives exactly what a cold one gives; a warm process refuses clients of other settings, hands its socket on,
// leaves no process behind once its repository is gone or it has been idle, and never makes git wait on it.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSafetensors, CLI, git, newRepo, ROOT, sha256, sha256File, tempDir, weft } from './helpers.js';

const CLIENT = join(ROOT, 'native', 'build', 'Release', 'weft_filter_client');
const supported = process.platform === 'linux' && existsSync(CLIENT);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The pids of warm filter processes running in `repo`. */
function warmPids(repo: string): number[] {
  const r = spawnSync('pgrep', ['-f', 'filter-process --warm'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        return spawnSync('readlink', [`/proc/${pid}/cwd`], { encoding: 'utf8' }).stdout.trim() === repo;
      } catch {
        return false;
      }
    });
}

async function waitFor(what: string, test: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.runIf(supported)('warm filter processes', () => {
  let repo: string;
  let log: string;
  let env: Record<string, string>;
  const model = buildSafetensors(
    [
      { name: 'a.weight', shape: [256, 256] },
      { name: 'b.weight', shape: [512, 256] },
    ],
    (t, i) => Math.sin(i * 0.01 + t) * 0.02,
  );
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  const count = (event: string) =>
    lines()
      .split('\n')
      .filter((l) => l.includes(event)).length;
  /** Waits until one warm process waits and nothing else is going on (its line is the log's last). */
  const settled = (what: string) =>
    waitFor(what, () => warmPids(repo).length === 1 && /waiting \([^)]*\)\n$/.test(lines()));

  beforeAll(() => {
    repo = newRepo();
    log = join(tempDir('weft-warmlog-'), 'warm.log');
    env = { WEFT_WARM_FILTER: '1', WEFT_WARM_FILTER_IDLE: '60', WEFT_WARM_FILTER_LOG: log };
  });
  afterAll(async () => {
    rmSync(repo, { recursive: true, force: true, maxRetries: 5 });
    // A warm process notices within a second that its socket is gone, and exits.
    await waitFor('warm processes to exit', () => warmPids(repo).length === 0);
  });

  it('weft init runs the filter through the client', () => {
    expect(git(repo, ['config', 'filter.weft.process']).stdout).toContain('weft_filter_client');
  });

  it('serves the next command warm, with the same result as a cold run, and hands its socket on', async () => {
    writeFileSync(join(repo, 'm.safetensors'), model);
    git(repo, ['add', 'm.safetensors'], { env: { WEFT_WARM_FILTER: '0' } });
    const cold = git(repo, ['ls-files', '-s', 'm.safetensors']).stdout;
    // A cold run started by the client starts a warm process at its end.
    git(repo, ['rm', '-q', '--cached', 'm.safetensors']);
    git(repo, ['add', 'm.safetensors'], { env });
    await settled('a warm process');
    expect(count('waiting')).toBe(1);
    git(repo, ['rm', '-q', '--cached', 'm.safetensors']);
    const start = Date.now();
    git(repo, ['add', 'm.safetensors'], { env });
    expect(Date.now() - start).toBeLessThan(5000); // git does not wait for the warm process's successor
    expect(count('serving')).toBe(1);
    expect(git(repo, ['ls-files', '-s', 'm.safetensors']).stdout).toBe(cold);
    git(repo, ['commit', '-qm', 'v1'], { env });
    // The successor took the same socket: the next command is served warm too (a checkout, this time).
    await settled('the successor');
    expect(count('waiting (socket handed on)')).toBeGreaterThanOrEqual(1);
    const served = count('served: exit 0');
    writeFileSync(join(repo, 'm.safetensors'), 'not a model');
    git(repo, ['checkout', '--', 'm.safetensors'], { env });
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256(model));
    await waitFor('the checkout served warm', () => count('served: exit 0') === served + 1);
    expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
    expect(weft(repo, 'fsck').code).toBe(0);
    await settled('one warm process');
  });

  it('refuses a client with other Weft settings: that command runs cold, and a fresh warm process with its settings follows', async () => {
    await settled('a waiting process');
    const before = count('waiting');
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(repo, 'm.safetensors'), future, future);
    git(repo, ['add', 'm.safetensors'], { env: { ...env, WEFT_SOMETHING: '1' } });
    expect(count('refused a client: other WEFT_* or NODE_* settings')).toBe(1);
    expect(git(repo, ['status', '--porcelain'], { env: { WEFT_SOMETHING: '1' } }).stdout).toBe('');
    // The fresh one has the settings of the command that started it: the next command, with the usual settings,
    // is refused as well and starts one with those.
    await settled('a fresh warm process');
    expect(count('waiting')).toBe(before + 1);
    const later = new Date(Date.now() + 120_000);
    utimesSync(join(repo, 'm.safetensors'), later, later);
    git(repo, ['add', 'm.safetensors'], { env });
    expect(count('refused a client: other WEFT_* or NODE_* settings')).toBe(2);
    await settled('a warm process with the usual settings');
    expect(count('waiting')).toBe(before + 2);
  });

  it('lets two commands run at once (one warm, one cold) and both finish', async () => {
    await settled('a waiting process');
    writeFileSync(join(repo, 'x.safetensors'), model);
    writeFileSync(join(repo, 'y.safetensors'), model.slice().reverse());
    const expected = ['x', 'y'].map(
      (f) =>
        git(repo, ['hash-object', `--path=${f}.safetensors`, `${f}.safetensors`], { env: { WEFT_WARM_FILTER: '0' } })
          .stdout,
    );
    // Two git commands that run the filter and take no lock (two `git add`s would race for the index's lock).
    const run = (file: string) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn('git', ['hash-object', '-w', `--path=${file}`, file], {
          cwd: repo,
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`git exited with ${code}`))));
      });
    const before = count('serving');
    const start = Date.now();
    expect(await Promise.all([run('x.safetensors'), run('y.safetensors')])).toEqual(expected);
    await settled('the commands to be done');
    expect(Date.now() - start).toBeLessThan(10_000);
    // One was served warm; the other ran cold meanwhile, or warm by the first one's successor if it came late.
    expect(count('serving') - before).toBeGreaterThanOrEqual(1);
    expect(count('serving') - before).toBeLessThanOrEqual(2);
    expect(weft(repo, 'fsck').code).toBe(0);
  });

  it('WEFT_WARM_FILTER=0: the client runs the filter itself and starts nothing', async () => {
    const other = newRepo();
    try {
      writeFileSync(join(other, 'm.safetensors'), model);
      git(other, ['add', 'm.safetensors'], { env: { ...env, WEFT_WARM_FILTER: '0' } });
      await sleep(500);
      expect(warmPids(other)).toEqual([]);
      expect(existsSync(join(other, '.git', 'weft', 'filter.sock'))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true, maxRetries: 5 });
    }
  });

  it('exits when idle, removing its socket', async () => {
    const other = newRepo();
    try {
      writeFileSync(join(other, 'm.safetensors'), model);
      git(other, ['add', 'm.safetensors'], { env: { ...env, WEFT_WARM_FILTER_IDLE: '1' } });
      await waitFor('a warm process', () => warmPids(other).length === 1);
      await waitFor('it to exit', () => warmPids(other).length === 0, 8000);
      expect(existsSync(join(other, '.git', 'weft', 'filter.sock'))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true, maxRetries: 5 });
    }
  });

  it('the client runs the filter itself when nothing listens on a stale socket', () => {
    const other = newRepo();
    try {
      writeFileSync(join(other, '.git', 'weft', 'filter.sock'), 'not a socket');
      writeFileSync(join(other, 'm.safetensors'), model);
      git(other, ['add', 'm.safetensors'], { env: { ...env, WEFT_WARM_FILTER_IDLE: '1' } });
      expect(git(other, ['status', '--porcelain', 'm.safetensors']).stdout).toBe('A  m.safetensors\n');
      expect(spawnSync(process.execPath, [CLI, 'fsck'], { cwd: other }).status).toBe(0);
    } finally {
      rmSync(other, { recursive: true, force: true, maxRetries: 5 });
    }
  });
});
