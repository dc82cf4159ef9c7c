// The hub's merge queue end to end (issue 10 item 3): bare repositories in a temp data folder, clients pushing
// with real git and the built CLI (file:// remote, objects uploaded by the pre-push hook), the queue notified as
// the server would; the digits models and evaluator decide: merged, rejected, in order, resumed, conflicted.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MergeQueue, type Proposal, type QueueLogEntry } from '../../src/server/queue/index.js';
import { digitsGate, EVALUATOR, readF32 } from '../support/digits-evaluator.js';
import { buildSafetensors, CLI, cleanupTemps, DIGITS, git, newRepo, tempDir, weft } from './helpers.js';

afterAll(cleanupTemps);

const WEFT_COMMAND = `${process.execPath} ${CLI}`;
const GATE = digitsGate(48);
const POLICY = '[merge]\nmethod = "task_arithmetic"\n[merge.parameters]\nweight = 1.0\n';

let data: string;
let db: Database.Database;

/** A bare repository on the hub and a client clone of it with Weft, `.weft/config.toml` and the evaluator. */
function hubRepo(name: string, config: string, evaluator = true): { bare: string; client: string } {
  const bare = join(data, 'repos', 'ada', `${name}.git`);
  mkdirSync(bare, { recursive: true });
  git(bare, ['init', '-q', '--bare', '-b', 'main']);
  const client = newRepo();
  mkdirSync(join(client, '.weft'), { recursive: true });
  writeFileSync(join(client, '.weft', 'config.toml'), config);
  if (evaluator) {
    mkdirSync(join(client, 'eval'));
    writeFileSync(join(client, 'eval', 'digits.mjs'), EVALUATOR);
    copyFileSync(join(DIGITS, 'digits.npz'), join(client, 'eval', 'digits.npz'));
    writeFileSync(join(client, '.gitignore'), 'eval/calls.log\n');
  }
  git(client, ['add', '.']);
  git(client, ['commit', '-qm', 'config']);
  git(client, ['remote', 'add', 'origin', bare]);
  return { bare, client };
}

function commitModel(repo: string, model: string | Uint8Array, message: string): string {
  if (typeof model === 'string') copyFileSync(model, join(repo, 'model.safetensors'));
  else writeFileSync(join(repo, 'model.safetensors'), model);
  git(repo, ['add', 'model.safetensors']);
  git(repo, ['commit', '-qm', message]);
  return git(repo, ['rev-parse', 'HEAD']).stdout.trim();
}

/** Pushes `rev` to `ref` on origin (the pre-push hook uploads the objects) and returns the update as the server would. */
function push(client: string, rev: string, ref: string): { ref: string; oldOid: string; newOid: string } {
  const sha = git(client, ['rev-parse', rev]).stdout.trim();
  git(client, ['push', '-q', 'origin', `${sha}:${ref}`]);
  return { ref, oldOid: '0'.repeat(40), newOid: sha };
}

/** The noisy model with the tensors of the named layers put back to the base model's values. */
function noisyWithBase(layers: string[]): Uint8Array {
  const noisy = readF32(join(DIGITS, 'noisy.safetensors'));
  const base = readF32(join(DIGITS, 'base.safetensors'));
  return buildSafetensors(
    noisy.map((t) => ({ name: t.name, shape: t.shape })),
    (k, i) => (layers.some((l) => noisy[k]!.name.startsWith(`${l}.`)) ? base[k]! : noisy[k]!).values[i]!,
  );
}

/** The repositories the queue locked to move refs (as the server's withRepoLock would). */
const locked: string[] = [];
async function withRepoLock<T>(gitDir: string, fn: () => Promise<T>): Promise<T> {
  locked.push(gitDir);
  return fn();
}

/** A queue on the shared DB; QLOG=1 prints its log (job steps and outcomes) while debugging. */
function newQueue(evaluatorTimeoutMs = 60_000, onLog: (e: QueueLogEntry) => void = () => {}): MergeQueue {
  const log = (e: QueueLogEntry) => {
    if (process.env.QLOG) console.log(JSON.stringify(e));
    onLog(e);
  };
  return new MergeQueue({ db, dataDir: data, weftCommand: WEFT_COMMAND, evaluatorTimeoutMs, log, withRepoLock });
}

function bareNote(bare: string, rev: string): Record<string, unknown> {
  return JSON.parse(git(bare, ['notes', '--ref', 'weft', 'show', rev]).stdout) as Record<string, unknown>;
}

beforeAll(() => {
  data = tempDir('weft-hub-');
  db = new Database(join(data, 'hub.db'));
});

afterAll(() => db.close());

describe('the merge queue on the digits models', () => {
  let bare: string;
  let client: string;
  let low: string;
  beforeAll(() => {
    ({ bare, client } = hubRepo('digits', GATE + POLICY));
    git(client, ['tag', 'base', commitModel(client, join(DIGITS, 'base.safetensors'), 'base')]);
    low = commitModel(client, join(DIGITS, 'ft_low.safetensors'), 'low');
    git(client, ['push', '-q', 'origin', 'main']);
  });

  it('merges a proposal that improves main (task arithmetic of ft_high into ft_low), with evidence and a note; when main moves during the job, it runs again against the new main', async () => {
    git(client, ['checkout', '-q', '-b', 'high', 'base']);
    commitModel(client, join(DIGITS, 'ft_high.safetensors'), 'high');
    // someone pushes to main while the first attempt is being gated: its push must be refused, the job re-run
    let moved: string | undefined;
    const queue = newQueue(60_000, (e) => {
      if (e.msg !== 'gate decided' || moved) return;
      git(client, ['checkout', '-q', 'main']);
      writeFileSync(join(client, 'README.md'), 'digits\n');
      git(client, ['add', 'README.md']);
      git(client, ['commit', '-qm', 'readme']);
      git(client, ['push', '-q', 'origin', 'main']);
      moved = git(client, ['rev-parse', 'HEAD']).stdout.trim();
    });
    queue.start();
    queue.notifyPush({
      repo: { owner: 'ada', name: 'digits' },
      updates: [push(client, 'high', 'refs/heads/proposals/high')],
      user: 'ada',
    });
    await queue.idle();
    await queue.stop();
    const p = queue.getProposal('ada', 'digits', 'high')!;
    expect(p.state, p.message ?? '').toBe('merged');
    expect(moved).toBeDefined();
    expect(git(bare, ['rev-parse', `${moved}^`]).stdout.trim()).toBe(low);
    expect(p.baseCommit).toBe(moved);
    const main = git(bare, ['rev-parse', 'main']).stdout.trim();
    expect(p.mergedCommit).toBe(main);
    expect(
      git(bare, ['rev-parse', `${main}^1`, `${main}^2`])
        .stdout.split('\n')
        .filter(Boolean),
    ).toEqual([moved, p.head]);
    expect(p.evidence).toMatchObject({ decision: 'accept', baseline: { commit: moved }, candidate: { commit: main } });
    expect(p.bytesAdded).toBeGreaterThan(0);
    expect(p.mergeBytes).toBeGreaterThan(0); // every tensor changed on both sides: merged by the policy
    expect(locked).toEqual([bare, bare]); // both attempts moved refs under the server's lock
    const note = bareNote(bare, main);
    expect((note.gates as { decision: string }[]).at(-1)!.decision).toBe('accept');
    expect(note.proposal).toMatchObject({ name: 'high', head: p.head, base: moved });
    expect(queue.listProposals('ada', 'digits').map((x: Proposal) => x.proposal)).toEqual(['high']);
    // the merged model's new objects went to the hub with it: a fresh clone checks it out
    const fresh = tempDir();
    git(fresh, ['clone', '-q', '--no-checkout', bare, 'c']);
    expect(weft(join(fresh, 'c'), 'init').code).toBe(0);
    git(join(fresh, 'c'), ['checkout', '-q', 'main']);
    const merged = readF32(join(fresh, 'c', 'model.safetensors'));
    const high = readF32(join(DIGITS, 'ft_high.safetensors'));
    expect(merged.map((t) => t.name)).toEqual(high.map((t) => t.name));
    expect(merged[0]!.values).not.toEqual(high[0]!.values);
  });

  it('rejects a harmful proposal with evidence; a stop() mid-job re-queues it and a new queue on the DB resumes', async () => {
    const before = git(bare, ['rev-parse', 'main']).stdout.trim();
    git(client, ['fetch', '-q', 'origin', 'main']);
    git(client, ['checkout', '-q', '-b', 'noisy', 'origin/main']);
    commitModel(client, join(DIGITS, 'noisy.safetensors'), 'noisy');
    const first = newQueue();
    first.start();
    first.notifyPush({
      repo: { owner: 'ada', name: 'digits' },
      updates: [push(client, 'noisy', 'refs/heads/proposals/noisy')],
    });
    expect(first.getProposal('ada', 'digits', 'noisy')!.state).toBe('running');
    await first.stop();
    expect(first.getProposal('ada', 'digits', 'noisy')!.state).toBe('queued');
    expect(first.listJobs('ada', 'digits')).toHaveLength(1);

    const second = newQueue();
    second.start();
    await second.idle();
    await second.stop();
    const p = second.getProposal('ada', 'digits', 'noisy')!;
    expect(p.state, p.message ?? '').toBe('rejected');
    expect(p.evidence).toMatchObject({ decision: 'reject', baseline: { commit: before } });
    expect((p.evidence!.suites as { upper: number }[])[0]!.upper).toBeLessThan(0);
    expect(git(bare, ['rev-parse', 'main']).stdout.trim()).toBe(before);
    expect(second.listJobs('ada', 'digits')).toEqual([]);
  });
});

describe('two proposals queued at once', () => {
  it('merges them one after the other, the second against the new main', async () => {
    const { bare, client } = hubRepo('ordering', GATE);
    const start = commitModel(client, join(DIGITS, 'noisy.safetensors'), 'noisy');
    git(client, ['push', '-q', 'origin', 'main']);
    commitModel(client, noisyWithBase(['fc1']), 'fix fc1');
    const fc1 = push(client, 'HEAD', 'refs/heads/proposals/fc1');
    git(client, ['checkout', '-q', '-b', 'fc3', start]);
    commitModel(client, noisyWithBase(['fc3']), 'fix fc3');
    const fc3 = push(client, 'HEAD', 'refs/heads/proposals/fc3');
    const queue = newQueue();
    queue.notifyPush({ repo: { owner: 'ada', name: 'ordering' }, updates: [fc1, fc3] });
    expect(queue.listJobs('ada', 'ordering').map((j) => j.proposal)).toEqual(['fc1', 'fc3']);
    queue.start();
    await queue.idle();
    await queue.stop();
    const a = queue.getProposal('ada', 'ordering', 'fc1')!;
    const b = queue.getProposal('ada', 'ordering', 'fc3')!;
    expect([a.state, b.state], `${a.message} ${b.message}`).toEqual(['merged', 'merged']);
    expect(a.baseCommit).toBe(start);
    expect(a.mergedCommit).toBe(fc1.newOid); // a fast-forward: the contributor's own commit
    expect(b.baseCommit).toBe(a.mergedCommit); // gated against the new main
    expect(b.evidence).toMatchObject({ decision: 'accept', baseline: { commit: a.mergedCommit } });
    const main = git(bare, ['rev-parse', 'main']).stdout.trim();
    expect(main).toBe(b.mergedCommit);
    expect(git(bare, ['rev-parse', `${main}^1`]).stdout.trim()).toBe(a.mergedCommit);
    expect(b.mergeBytes).toBe(0); // the two fixes touch different tensors: each taken whole, nothing new stored
    // main's scores from the first job are reused: the baseline costs no evaluator call where it was scored
    const ev = b.evidence as { evaluatorCalls: number; examplesUsed: number };
    expect(ev.evaluatorCalls).toBeLessThan(2 * Math.ceil(ev.examplesUsed / 48));
  });
});

describe('a conflicting proposal, and job errors', () => {
  it('is marked conflicted with the per-tensor report; a hung evaluator is killed at the queue limit: an error', async () => {
    const tensors = [
      { name: 'a', shape: [16] },
      { name: 'w', shape: [16] },
    ];
    const hang = '[gate]\n[[gate.suites]]\nname = "slow"\ncommand = "sleep 60"\nexamples = 10\ntimeout = 600\n';
    const { bare, client } = hubRepo('conflict', hang, false);
    const v0 = commitModel(
      client,
      buildSafetensors(tensors, (t, i) => t + i),
      'v0',
    );
    git(client, ['push', '-q', 'origin', 'main']);
    git(client, ['checkout', '-q', '-b', 'edit', v0]);
    commitModel(
      client,
      buildSafetensors(tensors, (t, i) => (t === 1 ? 100 + i : i)),
      'edit w',
    );
    const edit = push(client, 'HEAD', 'refs/heads/proposals/edit');
    git(client, ['checkout', '-q', '-b', 'only-a', v0]);
    commitModel(
      client,
      buildSafetensors(tensors, (t, i) => (t === 0 ? -i : t + i)),
      'edit a',
    );
    const onlyA = push(client, 'HEAD', 'refs/heads/proposals/only-a');
    git(client, ['checkout', '-q', '-b', 'cfg', v0]);
    writeFileSync(join(client, '.weft', 'config.toml'), '[gate]\n');
    git(client, ['commit', '-qam', 'no more gate']);
    const cfg = push(client, 'HEAD', 'refs/heads/proposals/cfg');
    git(client, ['checkout', '-q', 'main']);
    commitModel(
      client,
      buildSafetensors(tensors, (t, i) => (t === 1 ? 1 - i : i)),
      'main edits w',
    );
    git(client, ['push', '-q', 'origin', 'main']);
    const main = git(bare, ['rev-parse', 'main']).stdout.trim();

    const queue = newQueue(1000);
    queue.start();
    queue.notifyPush({ repo: { owner: 'ada', name: 'conflict' }, updates: [edit, onlyA, cfg] });
    await queue.idle();
    await queue.stop();
    const c = queue.getProposal('ada', 'conflict', 'edit')!;
    expect(c.state, c.message ?? '').toBe('conflicted');
    expect(c.conflicts).toEqual([
      {
        path: 'model.safetensors',
        conflicts: [
          expect.objectContaining({ tensor: 'w', report: expect.objectContaining({ cosine: expect.any(Number) }) }),
        ],
      },
    ]);
    const e = queue.getProposal('ada', 'conflict', 'only-a')!;
    expect(e.state).toBe('error');
    expect(e.message).toMatch(/gate: suite slow, batch 1 .*timed out after 1 s/);
    const refused = queue.getProposal('ada', 'conflict', 'cfg')!;
    expect(refused.state).toBe('error');
    expect(refused.message).toMatch(/changes \.weft\/config\.toml/);
    expect(git(bare, ['rev-parse', 'main']).stdout.trim()).toBe(main);
  });
});
