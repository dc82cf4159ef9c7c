// The hub's merge queue: pushes of `refs/heads/proposals/<name>` open proposals; one job at a time per
// repository, in push order, merges a proposal onto main, gates it and fast-forwards main on accept. State lives
// in SQLite (tables `queue_*`), so jobs survive a restart. Serves no HTTP itself: see createQueueRoutes.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { JobCancelled, PROPOSAL_PREFIX, runMergeJob } from './job.js';
import { type Proposal, type QueueJob, QueueStore } from './store.js';

export { JobCancelled, MAIN_BRANCH, type MergeJobResult, PROPOSAL_PREFIX, runMergeJob } from './job.js';
export { ensureQueueSchema, type Proposal, type ProposalState, type QueueJob, QueueStore } from './store.js';

/** Default upper bound of one evaluator call (a batch), whatever a suite's own `timeout` says. */
export const DEFAULT_EVALUATOR_TIMEOUT_MS = 10 * 60 * 1000;
/** Times a job is run again because main moved under it before it gives up (blocks a livelock under heavy pushing). */
const MAX_JOB_ATTEMPTS = 8;
/** How long stop() waits for running jobs to reach a checkpoint before marking them queued again. */
const DEFAULT_STOP_GRACE_MS = 30_000;
/**
 * Owner, repository and proposal names the queue accepts (the server validates too): no `..`, no absolute paths,
 * nothing a shell or git would read as an option — a proposal name becomes part of a path and a ref.
 */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;
const SAFE_PROPOSAL = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}(\/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}){0,3}$/;
const ZERO_OID = /^0+$/;

/** A structured log entry (the server decides where it goes). */
export interface QueueLogEntry {
  level: 'info' | 'warn' | 'error';
  msg: string;
  [field: string]: unknown;
}

/** What the server reports after every successful push. */
export interface PushEvent {
  repo: { owner: string; name: string; gitDir?: string };
  updates: { ref: string; oldOid: string; newOid: string }[];
  user?: string | null | { name?: string; login?: string };
}

export interface MergeQueueOptions {
  db: Database;
  /** The hub's data folder: repositories at `<dataDir>/repos/<owner>/<name>.git`; the queue uses `<dataDir>/queue/`. */
  dataDir: string;
  log?: (entry: QueueLogEntry) => void;
  /** Upper bound of one evaluator call (default 10 min). */
  evaluatorTimeoutMs?: number;
  /** Where jobs make their temp clones (default `<dataDir>/queue/work`). */
  workDir?: string;
  /**
   * Shell command line running Weft's CLI, used as the temp clone's merge driver and filter (default: this
   * installation's `dist/cli/main.js` under the current Node, or $WEFT_QUEUE_CLI).
   */
  weftCommand?: string;
  /** Repositories processed at once (each still one job at a time; default 1: evaluators may share one GPU). */
  parallelRepos?: number;
  /**
   * The server's per-repository lock (its `withRepoLock`), held while a job moves main and the notes, keyed by
   * the bare repository's path `<dataDir>/repos/<owner>/<name>.git`.
   */
  withRepoLock?: <T>(gitDir: string, fn: () => Promise<T>) => Promise<T>;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** This installation's CLI as a command line, when it is built (dist/server/queue → dist/cli/main.js). */
function defaultWeftCommand(): string | undefined {
  if (process.env.WEFT_QUEUE_CLI) return process.env.WEFT_QUEUE_CLI;
  const script = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
  return existsSync(script) ? `${shellQuote(process.execPath)} ${shellQuote(script)}` : undefined;
}

function userName(user: PushEvent['user']): string | null {
  if (user === undefined || user === null) return null;
  if (typeof user === 'string') return user;
  return user.login ?? user.name ?? null;
}

/**
 * The merge queue of a hub.
 *
 * @example
 * const queue = new MergeQueue({ db, dataDir: '/srv/weft' });
 * queue.start();
 * queue.notifyPush({ repo: { owner: 'ada', name: 'digits' },
 *   updates: [{ ref: 'refs/heads/proposals/better', oldOid: '0'.repeat(40), newOid: head }], user: 'ada' });
 * await queue.idle(); queue.getProposal('ada', 'digits', 'better')?.state; // → 'merged'
 * await queue.stop();
 */
export class MergeQueue {
  readonly store: QueueStore;
  private readonly dataDir: string;
  private readonly workDir: string;
  private readonly evaluatorTimeoutMs: number;
  private readonly weftCommand: string | undefined;
  private readonly parallelRepos: number;
  private readonly logFn: (entry: QueueLogEntry) => void;
  private readonly withRepoLock: MergeQueueOptions['withRepoLock'];
  private started = false;
  private stopping = false;
  private closed = false;
  /** Repository key → the promise draining its queue. */
  private readonly active = new Map<string, Promise<void>>();
  /** Running job id → its cancel flag. */
  private readonly running = new Map<number, { cancelled: boolean }>();
  private idleWaiters: (() => void)[] = [];

  constructor(options: MergeQueueOptions) {
    this.store = new QueueStore(options.db);
    this.dataDir = options.dataDir;
    this.workDir = options.workDir ?? join(options.dataDir, 'queue', 'work');
    this.evaluatorTimeoutMs = options.evaluatorTimeoutMs ?? DEFAULT_EVALUATOR_TIMEOUT_MS;
    this.weftCommand = options.weftCommand ?? defaultWeftCommand();
    this.parallelRepos = Math.max(1, options.parallelRepos ?? 1);
    this.logFn = options.log ?? (() => {});
    this.withRepoLock = options.withRepoLock;
  }

  private log(level: QueueLogEntry['level'], msg: string, fields: Record<string, unknown> = {}): void {
    try {
      this.logFn({ level, msg, ...fields });
    } catch {
      // a failing logger must not stop the queue
    }
  }

  /** Starts processing; jobs a previous process left running are queued again (in their old place). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.closed = false;
    const requeued = this.store.requeueRunning();
    if (requeued > 0) this.log('info', 'merge queue: resumed interrupted jobs', { jobs: requeued });
    this.kick();
  }

  /**
   * Records a push. Updates of `refs/heads/proposals/<name>` open or re-queue that proposal (a deletion closes
   * it); other refs are ignored. Returns the proposals touched.
   */
  notifyPush(event: PushEvent): string[] {
    const { owner, name } = event.repo;
    if (!SAFE_NAME.test(owner) || !SAFE_NAME.test(name)) {
      this.log('warn', 'merge queue: push to an invalid repository name ignored', { owner, name });
      return [];
    }
    const touched: string[] = [];
    for (const u of event.updates) {
      if (!u.ref.startsWith(PROPOSAL_PREFIX)) continue;
      const proposal = u.ref.slice(PROPOSAL_PREFIX.length);
      if (!SAFE_PROPOSAL.test(proposal) || proposal.split('/').some((p) => p.endsWith('.lock') || p.includes('..'))) {
        this.log('warn', 'merge queue: invalid proposal name ignored', { owner, name, ref: u.ref });
        continue;
      }
      if (ZERO_OID.test(u.newOid)) {
        this.store.close({ owner, name, proposal });
        this.log('info', 'proposal closed', { owner, name, proposal });
      } else if (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(u.newOid)) {
        this.store.enqueue({ owner, name, proposal, head: u.newOid, user: userName(event.user) });
        this.log('info', 'proposal queued', { owner, name, proposal, head: u.newOid });
      } else {
        continue;
      }
      touched.push(proposal);
    }
    this.kick();
    return touched;
  }

  /** The repository's proposals, most recently updated first. */
  listProposals(owner: string, name: string): Proposal[] {
    return this.store.listProposals(owner, name);
  }

  getProposal(owner: string, name: string, proposal: string): Proposal | undefined {
    return this.store.getProposal(owner, name, proposal);
  }

  /** Jobs waiting or running for a repository, in queue order. */
  listJobs(owner: string, name: string): QueueJob[] {
    return this.store.listJobs(owner, name);
  }

  /** Resolves when nothing runs and (once started) nothing is queued. */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  /**
   * Graceful stop: no new job starts; running jobs are asked to stop at their next checkpoint (between steps,
   * after every gate batch) and go back to the queue; a job already pushing finishes. After `graceMs` a job
   * still running is marked queued and abandoned (it can no longer push or write state).
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (!this.started) return;
    this.stopping = true;
    for (const flag of this.running.values()) flag.cancelled = true;
    const all = Promise.allSettled([...this.active.values()]);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.graceMs ?? DEFAULT_STOP_GRACE_MS);
    });
    await Promise.race([all, grace]);
    clearTimeout(timer);
    for (const id of this.running.keys()) this.store.requeue(id);
    this.closed = true;
    this.started = false;
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.active.size > 0) return;
    if (this.started && !this.stopping && this.store.hasQueued()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private kick(): void {
    if (this.started && !this.stopping) {
      for (const { owner, name } of this.store.pendingRepos()) {
        if (this.active.size >= this.parallelRepos) break;
        const key = `${owner}/${name}`;
        if (this.active.has(key)) continue;
        const drained = this.drain(owner, name)
          .catch((error: unknown) =>
            this.log('error', 'merge queue: worker failed', { owner, name, error: String(error) }),
          )
          .finally(() => {
            this.active.delete(key);
            setImmediate(() => this.kick());
          });
        this.active.set(key, drained);
      }
    }
    this.checkIdle();
  }

  private async drain(owner: string, name: string): Promise<void> {
    while (!this.stopping) {
      const job = this.store.claimNext(owner, name);
      if (!job) return;
      await this.runJob(job);
    }
  }

  private async runJob(job: QueueJob): Promise<void> {
    const flag = { cancelled: false };
    this.running.set(job.id, flag);
    const fields = { owner: job.owner, name: job.name, proposal: job.proposal, head: job.head, job: job.id };
    this.log('info', 'merge job started', { ...fields, attempt: job.attempts });
    try {
      if (!this.weftCommand) {
        this.store.finish(job, {
          state: 'error',
          message: 'the merge queue cannot find the weft CLI (build dist/ or set WEFT_QUEUE_CLI)',
        });
        return;
      }
      const result = await runMergeJob({
        gitDir: join(this.dataDir, 'repos', job.owner, `${job.name}.git`),
        proposal: job.proposal,
        head: job.head,
        workRoot: this.workDir,
        selfCommand: this.weftCommand,
        evaluatorTimeoutMs: this.evaluatorTimeoutMs,
        scoresDir: join(this.dataDir, 'queue', 'scores', job.owner, job.name),
        isCancelled: () => flag.cancelled || this.closed,
        log: (msg, f) => this.log('info', msg, { ...fields, ...f }),
        ...(this.withRepoLock ? { withRefLock: this.withRepoLock } : {}),
      });
      if (this.closed) return; // abandoned by stop(): the job was re-queued there
      switch (result.kind) {
        case 'retry':
          if (job.attempts >= MAX_JOB_ATTEMPTS) {
            this.store.finish(job, {
              state: 'error',
              baseCommit: result.baseCommit,
              message: `${result.message}; gave up after ${job.attempts} attempts`,
            });
          } else {
            this.log('info', 'main moved: job re-queued', { ...fields, reason: result.message });
            this.store.requeue(job.id);
          }
          break;
        case 'merged':
          this.store.finish(job, {
            state: 'merged',
            baseCommit: result.baseCommit,
            mergedCommit: result.mergedCommit,
            evidence: result.evidence,
            message: result.message ?? null,
            bytesAdded: result.bytesAdded,
            mergeBytes: result.mergeBytes,
          });
          break;
        case 'rejected':
        case 'inconclusive':
          this.store.finish(job, {
            state: result.kind,
            baseCommit: result.baseCommit,
            evidence: result.evidence,
            bytesAdded: result.bytesAdded,
            mergeBytes: result.mergeBytes,
          });
          break;
        case 'conflicted':
          this.store.finish(job, {
            state: 'conflicted',
            baseCommit: result.baseCommit,
            conflicts: result.conflicts,
            message: result.message,
            bytesAdded: result.bytesAdded,
          });
          break;
        case 'error':
          this.store.finish(job, { state: 'error', baseCommit: result.baseCommit ?? null, message: result.message });
          break;
      }
      this.log(result.kind === 'error' ? 'warn' : 'info', 'merge job finished', { ...fields, outcome: result.kind });
    } catch (error) {
      if (this.closed) return;
      if (error instanceof JobCancelled) {
        this.store.requeue(job.id);
        this.log('info', 'merge job stopped and re-queued', fields);
      } else {
        this.store.finish(job, { state: 'error', message: `internal error: ${String(error)}` });
        this.log('error', 'merge job failed', { ...fields, error: String(error) });
      }
    } finally {
      this.running.delete(job.id);
    }
  }
}

/**
 * JSON routes of the queue, for the server to mount behind its auth:
 * `GET /api/repos/:owner/:name/proposals` → `{ proposals, queue }` and
 * `GET /api/repos/:owner/:name/proposals/:proposal` → the proposal (404 when unknown).
 *
 * @example app.route('/', createQueueRoutes(queue));
 */
export function createQueueRoutes(queue: MergeQueue): Hono {
  const app = new Hono();
  app.get('/api/repos/:owner/:name/proposals', (c) => {
    const { owner, name } = c.req.param();
    const queued = queue.listJobs(owner, name).map((j, position) => ({
      proposal: j.proposal,
      head: j.head,
      state: j.state,
      position,
      enqueuedAt: j.enqueuedAt,
    }));
    return c.json({ proposals: queue.listProposals(owner, name), queue: queued });
  });
  app.get('/api/repos/:owner/:name/proposals/:proposal{.+}', (c) => {
    const { owner, name, proposal } = c.req.param();
    const found = queue.getProposal(owner, name, proposal);
    if (!found) return c.json({ error: `no proposal ${proposal} in ${owner}/${name}` }, 404);
    return c.json(found);
  });
  return app;
}
