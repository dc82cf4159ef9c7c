// The queue's SQLite state on an in-memory database: push order, re-push, restart, outcomes, closing.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ensureQueueSchema, QueueStore } from './store.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

function store(): QueueStore {
  let t = 0;
  return new QueueStore(new Database(':memory:'), () => new Date(Date.UTC(2026, 0, 1, 0, 0, t++)).toISOString());
}

describe('QueueStore', () => {
  it('creates its tables idempotently, beside other tables, without touching user_version', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY); PRAGMA user_version = 7');
    ensureQueueSchema(db);
    ensureQueueSchema(db);
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all();
    expect(tables).toEqual(['queue_jobs', 'queue_proposals', 'sqlite_sequence', 'users']);
    expect(db.pragma('user_version', { simple: true })).toBe(7);
  });

  it('runs jobs per repository in push order; a re-push supersedes the queued job and goes to the back', () => {
    const s = store();
    s.enqueue({ owner: 'o', name: 'r', proposal: 'p1', head: A, user: 'ada' });
    s.enqueue({ owner: 'o', name: 'r', proposal: 'p2', head: B });
    s.enqueue({ owner: 'o', name: 'other', proposal: 'x', head: C });
    s.enqueue({ owner: 'o', name: 'r', proposal: 'p1', head: C });
    expect(s.listJobs('o', 'r').map((j) => [j.proposal, j.head])).toEqual([
      ['p2', B],
      ['p1', C],
    ]);
    expect(s.pendingRepos()).toEqual([
      { owner: 'o', name: 'r' },
      { owner: 'o', name: 'other' },
    ]);
    const p1 = s.getProposal('o', 'r', 'p1')!;
    expect(p1).toMatchObject({ state: 'queued', head: C, pushes: 2, pushedBy: null });
    const job = s.claimNext('o', 'r')!;
    expect(job).toMatchObject({ proposal: 'p2', state: 'running', attempts: 1 });
    expect(s.getProposal('o', 'r', 'p2')!.state).toBe('running');
  });

  it('puts jobs left running back in their place, and records outcomes only for the head they merged', () => {
    const s = store();
    s.enqueue({ owner: 'o', name: 'r', proposal: 'p1', head: A });
    s.enqueue({ owner: 'o', name: 'r', proposal: 'p2', head: B });
    const first = s.claimNext('o', 'r')!;
    expect(s.requeueRunning()).toBe(1);
    expect(s.getProposal('o', 'r', 'p1')!.state).toBe('queued');
    const again = s.claimNext('o', 'r')!;
    expect(again.id).toBe(first.id);
    expect(again.attempts).toBe(2);
    // p1 is re-pushed while its job runs: the old job's outcome no longer lands on the proposal
    s.enqueue({ owner: 'o', name: 'r', proposal: 'p1', head: C });
    s.finish(again, { state: 'rejected', evidence: { decision: 'reject' } });
    expect(s.getProposal('o', 'r', 'p1')).toMatchObject({ state: 'queued', head: C, evidence: null });
    const p2 = s.claimNext('o', 'r')!;
    s.finish(p2, { state: 'merged', mergedCommit: C, baseCommit: A, evidence: { decision: 'accept' }, bytesAdded: 5 });
    expect(s.getProposal('o', 'r', 'p2')).toMatchObject({
      state: 'merged',
      mergedCommit: C,
      baseCommit: A,
      evidence: { decision: 'accept' },
      bytesAdded: 5,
    });
    expect(s.listJobs('o', 'r').map((j) => j.proposal)).toEqual(['p1']);
  });

  it('closes a deleted proposal (dropping its queued job) but never un-merges one', () => {
    const s = store();
    s.enqueue({ owner: 'o', name: 'r', proposal: 'p1', head: A });
    s.enqueue({ owner: 'o', name: 'r', proposal: 'p2', head: B });
    s.close({ owner: 'o', name: 'r', proposal: 'p1' });
    expect(s.getProposal('o', 'r', 'p1')!.state).toBe('closed');
    const job = s.claimNext('o', 'r')!;
    expect(job.proposal).toBe('p2');
    s.finish(job, { state: 'merged', mergedCommit: B });
    s.close({ owner: 'o', name: 'r', proposal: 'p2' });
    expect(s.getProposal('o', 'r', 'p2')!.state).toBe('merged');
    expect(s.hasQueued()).toBe(false);
    expect(s.listProposals('o', 'r').map((p) => p.proposal)).toEqual(['p2', 'p1']);
  });
});
