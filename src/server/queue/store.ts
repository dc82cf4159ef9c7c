// The merge queue's state in the hub's SQLite database: proposals (one row per repository and proposal name) and
// jobs (one row per push to be merged, in push order). Only tables prefixed `queue_`; no I/O besides the DB handle.

import type { Database } from 'better-sqlite3';

/** Where a proposal stands. `queued`/`running` while a job is pending; the others are a job's outcome. */
export type ProposalState =
  | 'queued'
  | 'running'
  | 'merged'
  | 'rejected'
  | 'inconclusive'
  | 'conflicted'
  | 'error'
  | 'closed';

/** A proposal as the API returns it. */
export interface Proposal {
  owner: string;
  name: string;
  proposal: string;
  state: ProposalState;
  /** The proposal branch's commit the latest job merged (or will merge). */
  head: string;
  /** Who pushed it last (as the server reported). */
  pushedBy: string | null;
  createdAt: string;
  updatedAt: string;
  /** Pushes of the branch so far. */
  pushes: number;
  /** Main's commit the last merge was made against. */
  baseCommit: string | null;
  /** The commit main was fast-forwarded to (state `merged`). */
  mergedCommit: string | null;
  /** The gate's report (decision, per-suite estimates and intervals, examples used, baseline, candidate). */
  evidence: Record<string, unknown> | null;
  /** Per-file, per-tensor conflict report (state `conflicted`). */
  conflicts: unknown[] | null;
  /** The job's error (state `error`), or why a merged proposal needed nothing. */
  message: string | null;
  /** Bytes of objects the proposal's commits name that main's history does not (what it adds to the store). */
  bytesAdded: number | null;
  /** Bytes of new objects the merge itself wrote (tensors merged by a method). */
  mergeBytes: number | null;
}

/** A queued or running job. */
export interface QueueJob {
  id: number;
  owner: string;
  name: string;
  proposal: string;
  head: string;
  state: 'queued' | 'running' | 'done' | 'superseded';
  attempts: number;
  enqueuedAt: string;
}

/** Creates the queue's tables if they are absent (idempotent; the server owns PRAGMA user_version). */
export function ensureQueueSchema(db: Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS queue_proposals (
      owner TEXT NOT NULL,
      name TEXT NOT NULL,
      proposal TEXT NOT NULL,
      state TEXT NOT NULL,
      head TEXT NOT NULL,
      pushed_by TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      pushes INTEGER NOT NULL DEFAULT 1,
      base_commit TEXT,
      merged_commit TEXT,
      evidence TEXT,
      conflicts TEXT,
      message TEXT,
      bytes_added INTEGER,
      merge_bytes INTEGER,
      PRIMARY KEY (owner, name, proposal)
    );
    CREATE TABLE IF NOT EXISTS queue_jobs (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      owner TEXT NOT NULL,
      name TEXT NOT NULL,
      proposal TEXT NOT NULL,
      head TEXT NOT NULL,
      state TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      enqueued_at TEXT NOT NULL,
      started_at TEXT,
      finished_at TEXT
    );
    CREATE INDEX IF NOT EXISTS queue_jobs_pending ON queue_jobs (state, owner, name, id);
  `);
}

interface ProposalRow {
  owner: string;
  name: string;
  proposal: string;
  state: ProposalState;
  head: string;
  pushed_by: string | null;
  created_at: string;
  updated_at: string;
  pushes: number;
  base_commit: string | null;
  merged_commit: string | null;
  evidence: string | null;
  conflicts: string | null;
  message: string | null;
  bytes_added: number | null;
  merge_bytes: number | null;
}

interface JobRow {
  id: number;
  owner: string;
  name: string;
  proposal: string;
  head: string;
  state: QueueJob['state'];
  attempts: number;
  enqueued_at: string;
}

function proposalOf(r: ProposalRow): Proposal {
  return {
    owner: r.owner,
    name: r.name,
    proposal: r.proposal,
    state: r.state,
    head: r.head,
    pushedBy: r.pushed_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    pushes: r.pushes,
    baseCommit: r.base_commit,
    mergedCommit: r.merged_commit,
    evidence: r.evidence === null ? null : (JSON.parse(r.evidence) as Record<string, unknown>),
    conflicts: r.conflicts === null ? null : (JSON.parse(r.conflicts) as unknown[]),
    message: r.message,
    bytesAdded: r.bytes_added,
    mergeBytes: r.merge_bytes,
  };
}

function jobOf(r: JobRow): QueueJob {
  return {
    id: r.id,
    owner: r.owner,
    name: r.name,
    proposal: r.proposal,
    head: r.head,
    state: r.state,
    attempts: r.attempts,
    enqueuedAt: r.enqueued_at,
  };
}

/** The outcome of a job, written to its proposal. */
export interface JobOutcome {
  state: Exclude<ProposalState, 'queued' | 'running' | 'closed'>;
  baseCommit?: string | null;
  mergedCommit?: string | null;
  evidence?: Record<string, unknown> | null;
  conflicts?: unknown[] | null;
  message?: string | null;
  bytesAdded?: number | null;
  mergeBytes?: number | null;
}

/**
 * The queue's tables behind typed methods. Every method is one statement or one transaction, so a crash between
 * two calls leaves a state `start()` can resume (a job left `running` is queued again).
 *
 * @example
 * const store = new QueueStore(db); store.enqueue({ owner: 'ada', name: 'digits', proposal: 'p1', head, user: 'ada' });
 */
export class QueueStore {
  constructor(
    private readonly db: Database,
    private readonly now: () => string = () => new Date().toISOString(),
  ) {
    ensureQueueSchema(db);
  }

  /**
   * Records a push of a proposal branch: opens the proposal (or points it at the new head) and queues a job at
   * the end of the repository's queue. A job still queued for the same proposal is superseded (a re-push
   * re-queues, in push order); a running one finishes, but its outcome no longer lands on the proposal.
   */
  enqueue(options: { owner: string; name: string; proposal: string; head: string; user?: string | null }): number {
    const at = this.now();
    const { owner, name, proposal, head } = options;
    return this.db.transaction(() => {
      this.supersedeQueued(at, owner, name, proposal);
      this.db
        .prepare(
          `INSERT INTO queue_proposals (owner, name, proposal, state, head, pushed_by, created_at, updated_at)
           VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)
           ON CONFLICT (owner, name, proposal) DO UPDATE SET
             state = 'queued', head = excluded.head, pushed_by = excluded.pushed_by, updated_at = excluded.updated_at,
             pushes = pushes + 1, merged_commit = NULL, evidence = NULL, conflicts = NULL, message = NULL,
             base_commit = NULL, merge_bytes = NULL, bytes_added = NULL`,
        )
        .run(owner, name, proposal, head, options.user ?? null, at, at);
      const r = this.db
        .prepare(
          `INSERT INTO queue_jobs (owner, name, proposal, head, state, enqueued_at) VALUES (?, ?, ?, ?, 'queued', ?)`,
        )
        .run(owner, name, proposal, head, at);
      return Number(r.lastInsertRowid);
    })();
  }

  /** Marks the proposal's queued jobs superseded (they will not run). */
  private supersedeQueued(at: string, owner: string, name: string, proposal: string): void {
    this.db
      .prepare(
        `UPDATE queue_jobs SET state = 'superseded', finished_at = ?
         WHERE owner = ? AND name = ? AND proposal = ? AND state = 'queued'`,
      )
      .run(at, owner, name, proposal);
  }

  /** The proposal branch was deleted: drop its queued jobs and mark it closed (a merged one stays merged). */
  close(options: { owner: string; name: string; proposal: string }): void {
    const at = this.now();
    const { owner, name, proposal } = options;
    this.db.transaction(() => {
      this.supersedeQueued(at, owner, name, proposal);
      this.db
        .prepare(
          `UPDATE queue_proposals SET state = 'closed', updated_at = ?
           WHERE owner = ? AND name = ? AND proposal = ? AND state <> 'merged'`,
        )
        .run(at, owner, name, proposal);
    })();
  }

  /** Jobs a previous process left running go back to the queue (keeping their place: the id orders the queue). */
  requeueRunning(): number {
    return this.db.transaction(() => {
      const running = this.db.prepare(`SELECT * FROM queue_jobs WHERE state = 'running'`).all() as JobRow[];
      for (const j of running) this.requeue(j.id);
      return running.length;
    })();
  }

  /** A job goes back to queued (stopped, or main moved under it), keeping its place in the queue. */
  requeue(id: number): void {
    this.db.transaction(() => {
      const job = this.db.prepare(`SELECT * FROM queue_jobs WHERE id = ?`).get(id) as JobRow | undefined;
      if (job?.state !== 'running') return;
      this.db.prepare(`UPDATE queue_jobs SET state = 'queued', started_at = NULL WHERE id = ?`).run(id);
      this.db
        .prepare(
          `UPDATE queue_proposals SET state = 'queued', updated_at = ?
           WHERE owner = ? AND name = ? AND proposal = ? AND head = ? AND state = 'running'`,
        )
        .run(this.now(), job.owner, job.name, job.proposal, job.head);
    })();
  }

  /** Repositories (owner, name) with queued jobs, the one whose oldest job is oldest first. */
  pendingRepos(): { owner: string; name: string }[] {
    const rows = this.db
      .prepare(
        `SELECT owner, name, MIN(id) AS first FROM queue_jobs WHERE state = 'queued' GROUP BY owner, name ORDER BY first`,
      )
      .all() as { owner: string; name: string }[];
    return rows.map((r) => ({ owner: r.owner, name: r.name }));
  }

  /** Takes the repository's oldest queued job and marks it (and its proposal) running; undefined when none. */
  claimNext(owner: string, name: string): QueueJob | undefined {
    return this.db.transaction(() => {
      const job = this.db
        .prepare(`SELECT * FROM queue_jobs WHERE owner = ? AND name = ? AND state = 'queued' ORDER BY id LIMIT 1`)
        .get(owner, name) as JobRow | undefined;
      if (!job) return undefined;
      const at = this.now();
      this.db
        .prepare(`UPDATE queue_jobs SET state = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ?`)
        .run(at, job.id);
      this.db
        .prepare(
          `UPDATE queue_proposals SET state = 'running', updated_at = ?
           WHERE owner = ? AND name = ? AND proposal = ? AND head = ?`,
        )
        .run(at, owner, name, job.proposal, job.head);
      return jobOf({ ...job, state: 'running', attempts: job.attempts + 1 });
    })();
  }

  /** Records a job's outcome on its proposal (unless the proposal was re-pushed meanwhile) and ends the job. */
  finish(job: QueueJob, outcome: JobOutcome): void {
    const at = this.now();
    this.db.transaction(() => {
      this.db.prepare(`UPDATE queue_jobs SET state = 'done', finished_at = ? WHERE id = ?`).run(at, job.id);
      const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
      this.db
        .prepare(
          `UPDATE queue_proposals SET state = ?, updated_at = ?, base_commit = ?, merged_commit = ?, evidence = ?,
             conflicts = ?, message = ?, bytes_added = ?, merge_bytes = ?
           WHERE owner = ? AND name = ? AND proposal = ? AND head = ? AND state IN ('running', 'queued')`,
        )
        .run(
          outcome.state,
          at,
          outcome.baseCommit ?? null,
          outcome.mergedCommit ?? null,
          json(outcome.evidence),
          json(outcome.conflicts),
          outcome.message ?? null,
          outcome.bytesAdded ?? null,
          outcome.mergeBytes ?? null,
          job.owner,
          job.name,
          job.proposal,
          job.head,
        );
    })();
  }

  /** Whether any job is queued (optionally: for one repository). */
  hasQueued(): boolean {
    return this.db.prepare(`SELECT 1 FROM queue_jobs WHERE state = 'queued' LIMIT 1`).get() !== undefined;
  }

  /** The repository's proposals, most recently updated first. */
  listProposals(owner: string, name: string): Proposal[] {
    const rows = this.db
      .prepare(`SELECT * FROM queue_proposals WHERE owner = ? AND name = ? ORDER BY updated_at DESC, proposal`)
      .all(owner, name) as ProposalRow[];
    return rows.map(proposalOf);
  }

  getProposal(owner: string, name: string, proposal: string): Proposal | undefined {
    const row = this.db
      .prepare(`SELECT * FROM queue_proposals WHERE owner = ? AND name = ? AND proposal = ?`)
      .get(owner, name, proposal) as ProposalRow | undefined;
    return row ? proposalOf(row) : undefined;
  }

  /** Jobs of a repository in queue order (queued and running), for status pages and tests. */
  listJobs(owner: string, name: string): QueueJob[] {
    const rows = this.db
      .prepare(`SELECT * FROM queue_jobs WHERE owner = ? AND name = ? AND state IN ('queued', 'running') ORDER BY id`)
      .all(owner, name) as JobRow[];
    return rows.map(jobOf);
  }
}
