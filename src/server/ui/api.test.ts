// The web UI's JSON routes and pages on a real hub app: a bare repository whose model versions are cleaned by the
// library straight into its lfs/objects (as pushes leave them), commits and gate notes made with git; no mocks.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../manifest/manifest.js';
import { cleanFile } from '../../ops/clean.js';
import type { Repo } from '../../ops/repo.js';
import { ContentIndex } from '../../store/content-index.js';
import { ObjectStore } from '../../store/object-store.js';
import { createHubApp, type HubApp } from '../app.js';
import { createRepo, createToken, createUser, type HubDatabase, openHubDatabase } from '../db.js';
import { createUiRoutes } from './index.js';
import type { CommitDiff, RepoHistory } from './repo-data.js';
import { summariseNote } from './repo-data.js';

const NAMES = [
  'model.layers.0.mlp.up_proj.weight',
  'model.layers.0.self_attn.q_proj.weight',
  'model.layers.1.mlp.up_proj.weight',
  'model.layers.1.self_attn.q_proj.weight',
  'lm_head.weight',
];

/** A safetensors file of F32 [8, 8] tensors built by hand; `scale(name)` multiplies a tensor's values. */
function model(scale: (name: string) => number): Uint8Array {
  const numel = 64;
  const header: Record<string, unknown> = {};
  NAMES.forEach((n, k) => {
    header[n] = { dtype: 'F32', shape: [8, 8], data_offsets: [k * numel * 4, (k + 1) * numel * 4] };
  });
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + NAMES.length * numel * 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  NAMES.forEach((n, k) => {
    for (let i = 0; i < numel; i++) {
      view.setFloat32(
        8 + json.length + (k * numel + i) * 4,
        Math.fround((((i * 7 + k * 3) % 11) - 5) / 4) * scale(n),
        true,
      );
    }
  });
  return out;
}

function git(cwd: string, args: string[], input?: string, env: Record<string, string> = {}): string {
  const r = spawnSync('git', args, {
    cwd,
    ...(input !== undefined ? { input } : {}),
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Ada',
      GIT_AUTHOR_EMAIL: 'ada@weft.invalid',
      GIT_COMMITTER_NAME: 'Ada',
      GIT_COMMITTER_EMAIL: 'ada@weft.invalid',
      ...env,
    },
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString().trim();
}

let dir: string;
let db: HubDatabase;
let app: HubApp;
let token: string;
let bare: string;
const commits: string[] = [];

/** Commits `files` (path → content) on main of the bare repository with `parent`. */
function commit(files: Record<string, string>, message: string): string {
  const entries = Object.entries(files).map(([path, content]) => {
    const blob = git(bare, ['hash-object', '-w', '--stdin'], content);
    return `100644 blob ${blob}\t${path}`;
  });
  const tree = git(bare, ['mktree'], `${entries.join('\n')}\n`);
  const parent = commits.at(-1);
  const id = git(bare, ['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message]);
  git(bare, ['update-ref', 'refs/heads/main', id]);
  commits.push(id);
  return id;
}

async function clean(
  repo: Repo,
  bytes: Uint8Array,
  previous?: Manifest,
): Promise<{ text: string; manifest: Manifest }> {
  async function* content() {
    yield bytes;
  }
  const r = await cleanFile({
    repo,
    pathname: 'model.safetensors',
    content: content(),
    sizeHint: bytes.length,
    ...(previous ? { previous } : {}),
  });
  return { text: new TextDecoder().decode(r.output), manifest: r.manifest! };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-hub-ui-'));
  db = openHubDatabase(join(dir, 'hub.db'));
  createUser(db, { name: 'ada' });
  token = createToken(db, { user: 'ada' }).token;
  await createRepo(db, { dataDir: dir, owner: 'ada', name: 'm' });
  await createRepo(db, { dataDir: dir, owner: 'ada', name: 'empty', anonymousRead: true });
  bare = join(dir, 'repos', 'ada', 'm.git');
  // The library's clean writes objects where the hub keeps them: <bare>/lfs/objects (git-lfs layout).
  const scratch = join(dir, 'scratch');
  mkdirSync(scratch);
  const repo: Repo = {
    topLevel: scratch,
    gitDir: bare,
    commonDir: bare,
    weftDir: join(scratch, 'weft'),
    store: new ObjectStore(join(bare, 'lfs'), { durable: false }),
    contentIndex: new ContentIndex(join(scratch, 'weft')),
    keyframes: new ContentIndex(join(scratch, 'weft', 'repack')),
  };
  const attrs = '*.safetensors filter=weft diff=weft merge=weft -text\n';
  commit({ 'README.md': 'm\n' }, 'readme');
  const v1 = await clean(
    repo,
    model(() => 1),
  );
  commit({ '.gitattributes': attrs, 'model.safetensors': v1.text, 'README.md': 'm\n' }, 'v1');
  // v2: layer 1's MLP grows by 10% (stored as an update of v1), everything else unchanged.
  const v2 = await clean(
    repo,
    model((n) => (n === 'model.layers.1.mlp.up_proj.weight' ? 1.1 : 1)),
    v1.manifest,
  );
  commit({ '.gitattributes': attrs, 'model.safetensors': v2.text, 'README.md': 'm\n' }, 'v2: tune layer 1');
  const note = {
    weft: 1,
    eval: { acc: { mean: 0.8, lower: 0.75, upper: 0.85, n: 500 } },
    gates: [
      { decision: 'reject', suites: [] },
      {
        decision: 'accept',
        baseline: commits[1],
        examplesUsed: 96,
        at: '2026-01-01T00:00:00Z',
        suites: [
          { name: 'acc', role: 'target', decision: 'accept', estimate: 0.02, lower: 0.01, upper: 0.03, threshold: 0 },
        ],
      },
    ],
    proposal: { name: 'tune', head: commits[2], base: commits[1] },
  };
  git(bare, ['notes', '--ref', 'refs/notes/weft', 'add', '-F', '-', commits[2]!], JSON.stringify(note));
  git(bare, ['notes', '--ref', 'refs/notes/weft', 'add', '-m', 'not json {', commits[1]!]);
  app = createHubApp({
    dataDir: dir,
    db,
    log: () => {},
    extraRoutes: (a) => a.route('/', createUiRoutes({ dataDir: dir, clientDir: join(dir, 'client') })),
  });
});

afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const auth = () => ({ headers: { authorization: `Bearer ${token}` } });

describe('GET /api/repos/:owner/:name/history', () => {
  it('lists main newest first with scores, the latest gate run and the proposal from the notes', async () => {
    const res = await app.request('/api/repos/ada/m/history', auth());
    expect(res.status).toBe(200);
    const h = (await res.json()) as RepoHistory;
    expect(h.branch).toBe('main');
    expect(h.truncated).toBe(false);
    expect(h.commits.map((c) => c.commit)).toEqual([...commits].reverse());
    const [v2, v1, readme] = h.commits;
    expect(v2).toMatchObject({
      message: 'v2: tune layer 1',
      author: 'Ada',
      parents: [commits[1]],
      scores: [{ suite: 'acc', mean: 0.8, lower: 0.75, upper: 0.85, n: 500 }],
      gate: {
        decision: 'accept',
        examplesUsed: 96,
        suites: [{ name: 'acc', role: 'target', estimate: 0.02, lower: 0.01, upper: 0.03, threshold: 0 }],
      },
      proposal: { name: 'tune', head: commits[2], base: commits[1] },
    });
    expect(v2!.date).toMatch(/^\d{4}-\d\d-\d\dT/);
    // a note that is not JSON is ignored, not an error
    expect(v1).toMatchObject({ message: 'v1', scores: [], gate: null, proposal: null });
    expect(readme!.parents).toEqual([]);
  });

  it('honours ?limit, refuses bad limits, and answers an empty history for a repository with no main yet', async () => {
    const one = (await (await app.request('/api/repos/ada/m/history?limit=1', auth())).json()) as RepoHistory;
    expect(one.commits).toHaveLength(1);
    expect(one.truncated).toBe(true);
    for (const bad of ['0', '-1', 'x', '1e9', '2.5']) {
      expect((await app.request(`/api/repos/ada/m/history?limit=${bad}`, auth())).status).toBe(400);
    }
    expect(await (await app.request('/api/repos/ada/empty/history')).json()).toEqual({
      branch: 'main',
      commits: [],
      truncated: false,
    });
  });

  it('is behind the read guard: private repositories need a token', async () => {
    expect((await app.request('/api/repos/ada/m/history')).status).toBe(401);
    expect((await app.request(`/api/repos/ada/m/commits/${commits[2]}/diff`)).status).toBe(401);
    expect((await app.request('/api/repos/ada/none/history', auth())).status).toBe(404);
  });
});

describe('GET /api/repos/:owner/:name/commits/:commit/diff', () => {
  it('measures each tensor against the first parent and lays the changes out by layer and module', async () => {
    const res = await app.request(`/api/repos/ada/m/commits/${commits[2]!.slice(0, 12)}/diff`, auth());
    expect(res.status).toBe(200);
    const d = (await res.json()) as CommitDiff;
    expect(d.commit).toBe(commits[2]);
    expect(d.parent).toBe(commits[1]);
    expect(d.statsUnavailable).toBeNull();
    expect(d.files).toEqual([
      { path: 'model.safetensors', change: 'modified', format: 'safetensors', frameChanged: false },
    ]);
    const changed = d.tensors.filter((t) => t.change === 'changed');
    expect(changed.map((t) => t.name)).toEqual(['model.layers.1.mlp.up_proj.weight']);
    expect(changed[0]!.relativeL2).toBeCloseTo(0.1, 5);
    expect(changed[0]).toMatchObject({ layer: 'model.layers.1', module: 'mlp.up_proj', cosine: expect.any(Number) });
    expect(d.tensors.filter((t) => t.change === 'unchanged')).toHaveLength(4);
    expect(d.heatmap.layers).toEqual(['model.layers.0', 'model.layers.1', '']);
    expect(d.heatmap.modules).toEqual(['mlp.up_proj', 'self_attn.q_proj', 'lm_head']); // the model's order
    const cell = d.heatmap.cells.find((c) => c.layer === 'model.layers.1' && c.module === 'mlp.up_proj')!;
    expect(cell.value).toBeCloseTo(0.1, 5);
    expect(d.heatmap.cells.filter((c) => c.value === 0)).toHaveLength(4);
    // cached on disk per commit pair, and served from there
    const cacheDir = join(dir, 'ui-cache', 'ada', 'm');
    expect(readdirSync(cacheDir)).toContain(`${commits[1]}-${commits[2]}.json`);
    const again = await app.request(`/api/repos/ada/m/commits/${commits[2]}/diff`, auth());
    expect(await again.json()).toEqual(d);
  });

  it('shows a first model version as all tensors added, and a version without models as empty', async () => {
    const v1 = (await (await app.request(`/api/repos/ada/m/commits/${commits[1]}/diff`, auth())).json()) as CommitDiff;
    expect(v1.tensors.map((t) => t.change)).toEqual(Array(5).fill('added'));
    expect(v1.heatmap.cells.every((c) => c.value === null)).toBe(true);
    const root = (await (
      await app.request(`/api/repos/ada/m/commits/${commits[0]}/diff`, auth())
    ).json()) as CommitDiff;
    expect(root).toMatchObject({ parent: null, files: [], tensors: [] });
  });

  it('refuses anything but a hex commit id, and answers 404 for an unknown one', async () => {
    for (const bad of ['HEAD', 'main', '--all', 'abc', `${'a'.repeat(65)}`, 'ABCDEF12']) {
      expect((await app.request(`/api/repos/ada/m/commits/${encodeURIComponent(bad)}/diff`, auth())).status).toBe(400);
    }
    expect((await app.request(`/api/repos/ada/m/commits/${'0'.repeat(40)}/diff`, auth())).status).toBe(404);
  });
});

describe('the UI pages and assets', () => {
  it('answers every page URL with the HTML shell under a strict content security policy', async () => {
    for (const path of [
      '/',
      '/ada/m',
      `/ada/m/commit/${commits[2]}`,
      '/ada/m/proposals/tune',
      '/ada/m/proposals/a/b',
    ]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await res.text()).toContain('<script type="module" src="/-/ui/app.js">');
    }
    const css = await app.request('/-/ui/style.css');
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('leaves git URLs, /api and invalid names to the hub (no HTML shell for them)', async () => {
    expect((await app.request('/api/nothing')).status).toBe(404);
    expect((await app.request('/ada/m.git/info/refs')).headers.get('content-type')).not.toMatch(/^text\/html/);
    expect((await app.request('/ada/.x')).status).toBe(404);
    expect((await app.request('/-/nothing')).status).toBe(404);
    // dot segments as sent (the URL is normalised before routing): not a page of repository etc/passwd
    for (const sent of ['/ada/../../etc/passwd', '/ada/%2e%2e/etc/passwd', '/ada/./m']) {
      const res = await app.request(sent, {}, { incoming: { url: sent } });
      expect(res.headers.get('content-type'), sent).not.toMatch(/^text\/html/);
    }
  });

  it('serves the compiled client from its folder, or says that it is not built', async () => {
    const client = join(dir, 'client');
    expect((await app.request('/-/ui/app.js')).status).toBe(503);
    mkdirSync(client, { recursive: true });
    writeFileSync(join(client, 'app.js'), 'console.log("ui");\n');
    const res = await app.request('/-/ui/app.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await res.text()).toBe('console.log("ui");\n');
    expect(existsSync(join(client, 'app.js'))).toBe(true);
  });
});

describe('summariseNote', () => {
  it('drops what is not the expected shape instead of failing', () => {
    expect(summariseNote('')).toEqual({ scores: [], gate: null, proposal: null });
    expect(summariseNote('[1,2]')).toEqual({ scores: [], gate: null, proposal: null });
    expect(
      summariseNote(
        JSON.stringify({
          eval: { a: { mean: 'x' }, b: { mean: 1 } },
          gates: [{ decision: 'accept', suites: [{ name: 1 }] }],
        }),
      ),
    ).toEqual({
      scores: [{ suite: 'b', mean: 1, lower: null, upper: null, n: null }],
      gate: { decision: 'accept', baseline: null, examplesUsed: null, at: null, suites: [] },
      proposal: null,
    });
  });
});
