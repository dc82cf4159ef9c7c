// MergeQueue's bookkeeping without running jobs: which pushes open, re-queue or close proposals, name checks, and
// the JSON routes (through Hono's in-process request, no server).
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createQueueRoutes, MergeQueue } from './index.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const ZERO = '0'.repeat(40);

describe('MergeQueue.notifyPush and the routes', () => {
  it('opens proposals from refs/heads/proposals/*, ignores other refs and unsafe names, closes on deletion', async () => {
    const logs: unknown[] = [];
    const queue = new MergeQueue({ db: new Database(':memory:'), dataDir: '/nonexistent', log: (e) => logs.push(e) });
    const repo = { owner: 'ada', name: 'digits' };
    expect(
      queue.notifyPush({
        repo,
        user: 'ada',
        updates: [
          { ref: 'refs/heads/main', oldOid: ZERO, newOid: A },
          { ref: 'refs/heads/proposals/better', oldOid: ZERO, newOid: A },
          { ref: 'refs/heads/proposals/team/idea', oldOid: ZERO, newOid: B },
          { ref: 'refs/heads/proposals/../x', oldOid: ZERO, newOid: B },
          { ref: 'refs/heads/proposals/-rf', oldOid: ZERO, newOid: B },
        ],
      }),
    ).toEqual(['better', 'team/idea']);
    expect(queue.notifyPush({ repo: { owner: '..', name: 'digits' }, updates: [] })).toEqual([]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', ref: 'refs/heads/proposals/../x' }));
    queue.notifyPush({ repo, updates: [{ ref: 'refs/heads/proposals/team/idea', oldOid: B, newOid: ZERO }] });
    await queue.idle(); // not started: nothing runs
    expect(queue.listJobs('ada', 'digits').map((j) => j.proposal)).toEqual(['better']);

    const app = createQueueRoutes(queue);
    const list = await app.request('/api/repos/ada/digits/proposals');
    expect(list.status).toBe(200);
    const body = (await list.json()) as { proposals: { proposal: string; state: string }[]; queue: unknown[] };
    expect(body.proposals.map((p) => [p.proposal, p.state]).sort()).toEqual([
      ['better', 'queued'],
      ['team/idea', 'closed'],
    ]);
    expect(body.queue).toEqual([expect.objectContaining({ proposal: 'better', position: 0, head: A })]);
    const one = await app.request('/api/repos/ada/digits/proposals/team/idea');
    expect(await one.json()).toMatchObject({ proposal: 'team/idea', state: 'closed', head: B });
    const missing = await app.request('/api/repos/ada/digits/proposals/nope');
    expect(missing.status).toBe(404);
  });

  it('marks a job an error when no weft CLI can be found, and keeps running', async () => {
    const db = new Database(':memory:');
    const prev = process.env.WEFT_QUEUE_CLI;
    delete process.env.WEFT_QUEUE_CLI;
    try {
      // from src/, dist/cli/main.js is not beside this module: no default command
      const queue = new MergeQueue({ db, dataDir: '/nonexistent' });
      queue.start();
      queue.notifyPush({
        repo: { owner: 'ada', name: 'digits' },
        updates: [{ ref: 'refs/heads/proposals/p', oldOid: ZERO, newOid: A }],
      });
      await queue.idle();
      await queue.stop();
      expect(queue.getProposal('ada', 'digits', 'p')).toMatchObject({ state: 'error', message: /weft CLI/ });
    } finally {
      if (prev !== undefined) process.env.WEFT_QUEUE_CLI = prev;
    }
  });
});
