// The hub's web UI in the browser: reads the URL, fetches the hub's JSON API and draws the page (repository list,
// history of main with a score trend plot, a version's change heatmap, a proposal). Builds DOM nodes only through
// createElement/textContent (never innerHTML): repository data is untrusted text. No framework, no CDN.

const TOKEN_KEY = 'weft-hub-token';
const SVG_NS = 'http://www.w3.org/2000/svg';
/** Most tensors listed in a version's table (the heatmap shows them all). */
const MAX_TENSOR_ROWS = 500;
/** Series colours of the trend plot (distinguishable, AA against both backgrounds). */
const SERIES = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];
/** The heatmap's colour ramp (viridis, low → high). */
const RAMP: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

// ---- API types (the hub's JSON) ----

interface RepoSummary {
  owner: string;
  name: string;
  public: boolean;
}
interface RepoInfo extends RepoSummary {
  defaultBranch: string | null;
  headCommit: string | null;
}
interface VersionScore {
  suite: string;
  mean: number;
  lower: number | null;
  upper: number | null;
  n: number | null;
}
interface GateSuite {
  name: string;
  role: string | null;
  decision: string | null;
  estimate: number;
  lower: number | null;
  upper: number | null;
  threshold: number | null;
  used: number | null;
  available: number | null;
  alpha?: number;
}
interface HistoryEntry {
  commit: string;
  parents: string[];
  author: string;
  date: string;
  message: string;
  scores: VersionScore[];
  gate: { decision: string; baseline: string | null; examplesUsed: number | null; suites: GateSuite[] } | null;
  proposal: { name: string } | null;
}
interface RepoHistory {
  branch: string;
  commits: HistoryEntry[];
  truncated: boolean;
}
interface TensorRow {
  path: string;
  name: string;
  change: string;
  relativeL2: number | null;
  maxAbsDiff: number | null;
  cosine: number | null;
  storedAs: string | null;
}
interface HeatmapCell {
  layer: string;
  module: string;
  value: number | null;
  tensors: { name: string; relativeL2: number | null; change: string }[];
}
interface CommitDiff {
  commit: string;
  parent: string | null;
  files: { path: string; change: string }[];
  tensors: TensorRow[];
  heatmap: { layers: string[]; modules: string[]; cells: HeatmapCell[] };
  statsUnavailable: string | null;
}
interface Proposal {
  proposal: string;
  state: string;
  head: string;
  pushedBy: string | null;
  createdAt: string;
  updatedAt: string;
  pushes: number;
  baseCommit: string | null;
  mergedCommit: string | null;
  evidence: Record<string, unknown> | null;
  conflicts: unknown[] | null;
  message: string | null;
  bytesAdded: number | null;
  mergeBytes: number | null;
}
interface ProposalList {
  proposals: Proposal[];
  queue: { proposal: string; state: string; position: number }[];
}

// ---- DOM helpers ----

type Child = Node | string | number | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) el.setAttribute(k, v);
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

function s(tag: string, attrs: Record<string, string | number> = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

/** Replaces an element's content with `children` (nulls and falses left out). */
function fill(el: HTMLElement, ...children: Child[]): void {
  el.replaceChildren();
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
}

const short = (sha: string | null | undefined) => (sha ? sha.slice(0, 10) : '—');
const repoPath = (owner: string, name: string) => `/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
const apiRepo = (owner: string, name: string) => `/api/repos${repoPath(owner, name)}`;

function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
}
const signed = (v: number | null | undefined) => (v !== null && v !== undefined && v > 0 ? `+${fmt(v)}` : fmt(v));
const percent = (v: number) => (v === 0 ? '0%' : `${fmt(v * 100)}%`);

function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]} (${n.toLocaleString('en')} bytes)`;
}

function date(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().replace('T', ' ').slice(0, 16)} UTC`;
}

function badge(state: string | null | undefined, id?: string): HTMLElement {
  const b = h('span', { class: `badge state-${state ?? 'none'}` }, state ?? '—');
  if (id) b.id = id;
  return b;
}

function facts(rows: [string, Child][]): HTMLElement {
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of rows) dl.append(h('dt', null, k), h('dd', null, v ?? '—'));
  return dl;
}

function table(head: string[], rows: Child[][], options: { numeric?: number[]; caption?: string } = {}): HTMLElement {
  const num = new Set(options.numeric ?? []);
  const t = h('table');
  if (options.caption) t.append(h('caption', { class: 'sr-only' }, options.caption));
  t.append(
    h(
      'thead',
      null,
      h('tr', null, ...head.map((x, i) => h('th', { scope: 'col', class: num.has(i) ? 'num' : '' }, x))),
    ),
  );
  const body = h('tbody');
  for (const r of rows)
    body.append(h('tr', null, ...r.map((x, i) => h('td', num.has(i) ? { class: 'num' } : null, x))));
  t.append(body);
  return h('div', { class: 'scroll' }, t);
}

// ---- API access ----

class Unauthorized extends Error {}
class NotFound extends Error {}

async function api<T>(path: string): Promise<T> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  // credentials 'omit': no browser login dialog on a 401; the token goes in the header we set.
  const res = await fetch(path, {
    credentials: 'omit',
    headers: token ? { authorization: `Bearer ${token}`, accept: 'application/json' } : { accept: 'application/json' },
  });
  if (res.status === 401)
    throw new Unauthorized(token ? 'The hub refused this token.' : 'This page needs an access token.');
  const body = (await res.json().catch(() => ({}))) as { message?: string; error?: string };
  if (res.status === 404) throw new NotFound(body.message ?? body.error ?? `${path}: not found`);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${body.message ?? body.error ?? res.statusText}`);
  return body as T;
}

function crumbs(...parts: [string, string | null][]): void {
  const nav = document.getElementById('crumbs')!;
  nav.replaceChildren();
  parts.forEach(([label, href], i) => {
    if (i > 0) nav.append(' / ');
    nav.append(href ? h('a', { href }, label) : h('span', { 'aria-current': 'page' }, label));
  });
}

function tokenForm(main: HTMLElement, reason: string): void {
  const input = h('input', { type: 'password', name: 'token', id: 'token', autocomplete: 'off', required: '' });
  const form = h(
    'form',
    { class: 'token', 'aria-describedby': 'token-why' },
    h('label', { for: 'token' }, 'Access token', input),
    h('button', { type: 'submit' }, 'Continue'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    void route();
  });
  fill(
    main,
    h('h1', null, 'Sign in'),
    h(
      'p',
      { id: 'token-why' },
      reason,
      ' Create one with ',
      h('code', null, 'weft hub token create <user>'),
      '; it is kept in this tab only.',
    ),
    form,
  );
  input.focus();
}

// ---- pages ----

async function reposPage(main: HTMLElement): Promise<void> {
  crumbs(['Repositories', null]);
  const repos = await api<RepoSummary[]>('/api/repos');
  const signedIn = sessionStorage.getItem(TOKEN_KEY) !== null;
  const action = h('button', { type: 'button' }, signedIn ? 'Sign out' : 'Sign in with a token');
  action.addEventListener('click', () => {
    if (signedIn) {
      sessionStorage.removeItem(TOKEN_KEY);
      void route();
    } else tokenForm(main, 'Private repositories need an access token.');
  });
  fill(
    main,
    h('h1', null, 'Repositories'),
    repos.length === 0
      ? h('p', { class: 'muted' }, 'No repository you can read yet.')
      : table(
          ['Repository', 'Visibility'],
          repos.map((r) => [
            h('a', { href: repoPath(r.owner, r.name) }, `${r.owner}/${r.name}`),
            r.public ? 'public' : 'private',
          ]),
          { caption: 'Repositories' },
        ),
    h('p', null, action),
  );
}

interface TrendPoint {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
  entry: HistoryEntry;
  label: string;
}

/** Per-suite trend over main's versions: a version's `weft eval` score, else the last value plus its gate estimate. */
function trends(oldestFirst: HistoryEntry[]): { suite: string; points: TrendPoint[] }[] {
  const names: string[] = [];
  for (const c of oldestFirst) {
    for (const sc of c.scores) if (!names.includes(sc.suite)) names.push(sc.suite);
    for (const g of c.gate?.suites ?? []) if (!names.includes(g.name)) names.push(g.name);
  }
  return names.map((suite) => {
    let y = 0;
    const points = oldestFirst.map((entry, x): TrendPoint => {
      const abs = entry.scores.find((sc) => sc.suite === suite);
      const gate = entry.gate?.suites.find((g) => g.name === suite);
      if (abs) {
        y = abs.mean;
        return {
          x,
          y,
          ...(abs.lower !== null ? { lo: abs.lower } : {}),
          ...(abs.upper !== null ? { hi: abs.upper } : {}),
          entry,
          label: `${suite}: score ${fmt(abs.mean)} (weft eval, n=${abs.n ?? '?'})`,
        };
      }
      if (gate) {
        const before = y;
        y = before + gate.estimate;
        return {
          x,
          y,
          ...(gate.lower !== null ? { lo: before + gate.lower } : {}),
          ...(gate.upper !== null ? { hi: before + gate.upper } : {}),
          entry,
          label: `${suite}: gate ${entry.gate?.decision ?? ''}, change ${signed(gate.estimate)} [${fmt(gate.lower)}, ${fmt(gate.upper)}] on ${gate.used ?? '?'} examples`,
        };
      }
      return { x, y, entry, label: `${suite}: no new result (${fmt(y)} carried)` };
    });
    return { suite, points };
  });
}

/** About five round tick values inside [lo, hi]. */
function niceTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((x) => x >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9 && out.length < 20; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function trendPlot(owner: string, name: string, oldestFirst: HistoryEntry[]): HTMLElement {
  const series = trends(oldestFirst);
  if (series.length === 0) {
    return h('p', { class: 'muted', id: 'trend-empty' }, 'No version of main has gate or evaluation results yet.');
  }
  const absolute = oldestFirst.some((c) => c.scores.length > 0);
  const W = 720;
  const H = 280;
  const m = { l: 64, r: 16, t: 16, b: 48 };
  const all = series.flatMap((sr) => sr.points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]));
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi - lo < 1e-9) {
    lo -= 0.01;
    hi += 0.01;
  }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const n = oldestFirst.length;
  const X = (x: number) => (n === 1 ? (m.l + W - m.r) / 2 : m.l + (x * (W - m.l - m.r)) / (n - 1));
  const Y = (y: number) => m.t + ((hi - y) * (H - m.t - m.b)) / (hi - lo);
  const svg = s('svg', {
    class: 'plot trend',
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-labelledby': 'trend-title trend-desc',
  });
  svg.append(
    s('title', { id: 'trend-title' }, 'Score trend of main'),
    s(
      'desc',
      { id: 'trend-desc' },
      `${n} versions, oldest on the left; ${series.map((x) => x.suite).join(', ')}; the table below lists the same data.`,
    ),
  );
  for (const v of niceTicks(lo, hi)) {
    svg.append(
      s('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v) }),
      s('text', { x: m.l - 6, y: Y(v) + 4, 'text-anchor': 'end' }, fmt(v)),
    );
  }
  if (lo < 0 && hi > 0) svg.append(s('line', { class: 'zero', x1: m.l, x2: W - m.r, y1: Y(0), y2: Y(0) }));
  svg.append(
    s('line', { class: 'axis', x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }),
    s('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }),
    s(
      'text',
      { x: 14, y: (m.t + H - m.b) / 2, transform: `rotate(-90 14 ${(m.t + H - m.b) / 2})`, 'text-anchor': 'middle' },
      absolute ? 'score' : 'score change since the first version',
    ),
    s('text', { x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle' }, 'versions of main, oldest → newest'),
  );
  const every = Math.max(1, Math.ceil(n / 10));
  oldestFirst.forEach((c, x) => {
    if (x % every === 0 || x === n - 1) {
      svg.append(s('text', { x: X(x), y: H - m.b + 16, 'text-anchor': 'middle', class: 'sha' }, c.commit.slice(0, 7)));
    }
  });
  series.forEach((sr, k) => {
    const colour = SERIES[k % SERIES.length]!;
    const g = s('g', { class: 'series', 'data-suite': sr.suite });
    g.append(
      s('polyline', {
        fill: 'none',
        stroke: colour,
        'stroke-width': 2,
        points: sr.points.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' '),
      }),
    );
    for (const p of sr.points) {
      if (p.lo !== undefined && p.hi !== undefined) {
        g.append(
          s('line', {
            x1: X(p.x),
            x2: X(p.x),
            y1: Y(p.lo),
            y2: Y(p.hi),
            stroke: colour,
            'stroke-width': 1.5,
            'stroke-opacity': 0.7,
          }),
        );
      }
      const link = s('a', { href: `${repoPath(owner, name)}/commit/${p.entry.commit}` });
      link.append(
        s(
          'circle',
          { class: 'point', cx: X(p.x), cy: Y(p.y), r: 5, fill: colour, 'data-commit': p.entry.commit },
          s('title', {}, `${p.entry.commit.slice(0, 10)} · ${p.entry.message}\n${p.label}`),
        ),
      );
      g.append(link);
    }
    svg.append(g);
  });
  const legend = h(
    'div',
    { class: 'legend' },
    ...series.map((sr, k) => {
      const sw = h('span', { class: 'swatch', 'aria-hidden': 'true' });
      sw.style.background = SERIES[k % SERIES.length]!;
      return h('span', null, sw, ' ', sr.suite);
    }),
  );
  return h(
    'figure',
    null,
    svg,
    legend,
    h(
      'figcaption',
      null,
      absolute
        ? 'Scores of each version (weft eval); where a version has only a gate result, its estimated change is added to the previous score. Bars: confidence intervals.'
        : 'Cumulative gate estimates: each gated version adds its estimated change against its parent (paired examples); bars are the gate’s confidence interval for that step.',
    ),
  );
}

async function repoPage(main: HTMLElement, owner: string, name: string): Promise<void> {
  crumbs(['Repositories', '/'], [`${owner}/${name}`, null]);
  const base = apiRepo(owner, name);
  const [info, history, proposals] = await Promise.all([
    api<RepoInfo>(base),
    api<RepoHistory>(`${base}/history?limit=200`),
    api<ProposalList>(`${base}/proposals`).catch((e: unknown) => {
      if (e instanceof NotFound) return { proposals: [], queue: [] } as ProposalList;
      throw e;
    }),
  ]);
  document.title = `${owner}/${name} · Weft hub`;
  const oldestFirst = [...history.commits].reverse();
  const gateCell = (c: HistoryEntry) => (c.gate ? badge(c.gate.decision) : '—');
  const scoreCell = (c: HistoryEntry) =>
    [
      ...c.scores.map((sc) => `${sc.suite} ${fmt(sc.mean)}`),
      ...(c.gate?.suites ?? []).map((g) => `${g.name} Δ ${signed(g.estimate)}`),
    ].join('; ') || '—';
  fill(
    main,
    h('h1', null, `${owner}/${name}`),
    facts([
      ['Visibility', info.public ? 'public' : 'private'],
      ['Branch', history.branch],
      ['Head', h('code', null, short(info.headCommit))],
      ['Clone', h('code', null, `git clone ${location.origin}${repoPath(owner, name)}.git`)],
    ]),
    h(
      'section',
      { 'aria-labelledby': 'trend-h' },
      h('h2', { id: 'trend-h' }, 'Score trend'),
      trendPlot(owner, name, oldestFirst),
    ),
    h(
      'section',
      { 'aria-labelledby': 'history-h' },
      h('h2', { id: 'history-h' }, `History of ${history.branch}`),
      history.commits.length === 0
        ? h('p', { class: 'muted' }, `Nothing has been pushed to ${history.branch} yet.`)
        : table(
            ['Version', 'Message', 'Author', 'Date', 'Gate', 'Results'],
            history.commits.map((c) => [
              h('a', { href: `${repoPath(owner, name)}/commit/${c.commit}`, class: 'sha' }, short(c.commit)),
              c.proposal
                ? h('span', null, c.message, ' ', h('span', { class: 'muted' }, `(proposal ${c.proposal.name})`))
                : c.message,
              c.author,
              date(c.date),
              gateCell(c),
              scoreCell(c),
            ]),
            { caption: `History of ${history.branch}, newest first` },
          ),
      history.truncated ? h('p', { class: 'muted' }, 'Older versions are not shown.') : null,
    ),
    h(
      'section',
      { 'aria-labelledby': 'proposals-h' },
      h('h2', { id: 'proposals-h' }, 'Proposals'),
      proposals.proposals.length === 0
        ? h('p', { class: 'muted' }, 'No proposals. Push a branch to refs/heads/proposals/<name> to open one.')
        : table(
            ['Proposal', 'State', 'Pushed by', 'Updated', 'Bytes added'],
            proposals.proposals.map((p) => [
              h(
                'a',
                {
                  href: `${repoPath(owner, name)}/proposals/${p.proposal.split('/').map(encodeURIComponent).join('/')}`,
                },
                p.proposal,
              ),
              badge(p.state),
              p.pushedBy ?? '—',
              date(p.updatedAt),
              bytes(p.bytesAdded),
            ]),
            { numeric: [4], caption: 'Proposals' },
          ),
    ),
  );
}

/** The heatmap colour of t in [0, 1], and a text colour readable on it. */
function rampColour(t: number): { bg: string; fg: string } {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [RAMP[i]!, RAMP[i + 1]!];
  const c = a.map((v, k) => Math.round(v + (b[k]! - v) * f)) as [number, number, number];
  const lum = (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;
  return { bg: `rgb(${c[0]}, ${c[1]}, ${c[2]})`, fg: lum > 0.5 ? '#000000' : '#ffffff' };
}

function heatmapView(diff: CommitDiff): HTMLElement {
  const { layers, modules, cells } = diff.heatmap;
  const positive = cells.map((c) => c.value).filter((v): v is number => v !== null && v > 0);
  let hi = positive.length ? Math.max(...positive) : 1;
  let lo = positive.length ? Math.min(...positive) : 0.1;
  if (hi / lo < 10) lo = hi / 10;
  if (!(hi > lo)) hi = lo * 10;
  const scale = (v: number) => (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
  const byKey = new Map(cells.map((c) => [`${c.layer}\u0000${c.module}`, c]));
  const t = h('table', { class: 'heatmap', id: 'heatmap' });
  t.append(
    h('caption', { class: 'sr-only' }, 'Relative change (‖after − before‖ / ‖before‖) by layer and module'),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Layer')),
        ...modules.map((mod) => h('th', { scope: 'col' }, mod)),
      ),
    ),
  );
  const body = h('tbody');
  for (const layer of layers) {
    const tr = h('tr', null, h('th', { scope: 'row' }, layer === '' ? '(no layer)' : layer));
    for (const mod of modules) {
      const cell = byKey.get(`${layer}\u0000${mod}`);
      const td = h('td', { class: 'cell' });
      if (!cell) {
        td.classList.add('none');
        td.append(h('span', { class: 'sr-only' }, 'no tensor'));
      } else {
        td.dataset.layer = layer;
        td.dataset.module = mod;
        td.title = cell.tensors
          .map((x) => `${x.name}: ${x.relativeL2 === null ? x.change : percent(x.relativeL2)}`)
          .join('\n');
        if (cell.value === null) {
          td.classList.add('none');
          td.append(cell.tensors[0]?.change === 'added' ? 'added' : 'n/a');
        } else if (cell.value === 0) {
          td.classList.add('zero');
          td.style.background = '#d0d7de';
          td.style.color = '#1b1f24';
          td.append('0');
        } else {
          const c = rampColour(scale(cell.value));
          td.style.background = c.bg;
          td.style.color = c.fg;
          td.append(percent(cell.value));
        }
      }
      tr.append(td);
    }
    body.append(tr);
  }
  t.append(body);
  const gradient = s('svg', { width: 200, height: 14, role: 'presentation', 'aria-hidden': 'true' });
  const defs = s('defs');
  const lg = s('linearGradient', { id: 'ramp' });
  RAMP.forEach((c, i) => {
    lg.append(s('stop', { offset: `${(i * 100) / (RAMP.length - 1)}%`, 'stop-color': `rgb(${c.join(',')})` }));
  });
  defs.append(lg);
  gradient.append(defs, s('rect', { x: 0, y: 0, width: 200, height: 14, fill: 'url(#ramp)' }));
  const zero = h('span', { class: 'swatch', 'aria-hidden': 'true' });
  zero.style.background = '#d0d7de';
  const none = h('span', { class: 'swatch none-swatch', 'aria-hidden': 'true' });
  none.style.background = 'repeating-linear-gradient(45deg, #f6f8fa, #f6f8fa 3px, #d0d7de 3px, #d0d7de 5px)';
  const legend = h(
    'div',
    { class: 'legend', id: 'legend' },
    h('span', null, 'Relative change (log scale):'),
    h('span', null, percent(lo)),
    gradient,
    h('span', null, percent(hi)),
    h('span', null, zero, ' unchanged'),
    h('span', null, none, ' no tensor / not measured'),
  );
  return h(
    'figure',
    null,
    legend,
    h('div', { class: 'scroll' }, t),
    h('figcaption', null, 'Each cell shows the largest relative L2 change among its tensors (hover for each tensor).'),
  );
}

async function commitPage(main: HTMLElement, owner: string, name: string, sha: string): Promise<void> {
  crumbs(['Repositories', '/'], [`${owner}/${name}`, repoPath(owner, name)], [sha.slice(0, 10), null]);
  const base = apiRepo(owner, name);
  const [diff, history] = await Promise.all([
    api<CommitDiff>(`${base}/commits/${sha}/diff`),
    api<RepoHistory>(`${base}/history?limit=500`).catch(
      () => ({ branch: 'main', commits: [], truncated: false }) as RepoHistory,
    ),
  ]);
  const entry = history.commits.find((c) => c.commit === diff.commit);
  document.title = `${short(diff.commit)} · ${owner}/${name} · Weft hub`;
  const changed = diff.tensors.filter((t) => t.change !== 'unchanged');
  const rows = [...diff.tensors]
    .sort((a, b) => (b.relativeL2 ?? Infinity) - (a.relativeL2 ?? Infinity))
    .slice(0, MAX_TENSOR_ROWS);
  fill(
    main,
    h('h1', null, 'Version ', h('code', null, short(diff.commit))),
    facts([
      ['Commit', h('code', null, diff.commit)],
      ['Message', entry?.message ?? null],
      ['Author', entry ? `${entry.author}, ${date(entry.date)}` : null],
      [
        'Compared with',
        diff.parent
          ? h('a', { href: `${repoPath(owner, name)}/commit/${diff.parent}` }, h('code', null, short(diff.parent)))
          : 'nothing (first version)',
      ],
      ['Gate', entry?.gate ? badge(entry.gate.decision) : null],
      ['Model files changed', diff.files.map((f) => `${f.path} (${f.change})`).join(', ') || 'none'],
      ['Tensors changed', `${changed.length} of ${diff.tensors.length}`],
    ]),
    diff.statsUnavailable
      ? h('p', { class: 'error' }, `Relative changes are not available: ${diff.statsUnavailable}`)
      : null,
    h(
      'section',
      { 'aria-labelledby': 'heat-h' },
      h('h2', { id: 'heat-h' }, 'Relative change by layer and module'),
      diff.tensors.length === 0
        ? h('p', { class: 'muted' }, 'This version has no Weft-tracked model.')
        : heatmapView(diff),
    ),
    h(
      'section',
      { 'aria-labelledby': 'tensors-h' },
      h('h2', { id: 'tensors-h' }, 'Tensors'),
      table(
        ['Tensor', 'File', 'Change', 'Relative L2', 'Max |Δ|', 'Cosine', 'Stored as'],
        rows.map((t) => [
          h('code', null, t.name),
          t.path,
          t.change,
          t.relativeL2 === null ? '—' : percent(t.relativeL2),
          fmt(t.maxAbsDiff),
          fmt(t.cosine, 6),
          t.storedAs ?? '—',
        ]),
        { numeric: [3, 4, 5], caption: 'Tensors of this version' },
      ),
      diff.tensors.length > MAX_TENSOR_ROWS
        ? h('p', { class: 'muted' }, `The ${MAX_TENSOR_ROWS} largest changes are listed.`)
        : null,
    ),
  );
}

function evidenceView(evidence: Record<string, unknown>): HTMLElement {
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const commitOf = (v: unknown) => str((v as { commit?: unknown } | null)?.commit ?? null);
  const suites = (Array.isArray(evidence.suites) ? evidence.suites : []) as GateSuite[];
  const skipped = Array.isArray(evidence.skipped) ? (evidence.skipped as unknown[]).map(String) : [];
  return h(
    'div',
    { id: 'evidence' },
    facts([
      ['Decision', badge(str(evidence.decision), 'decision')],
      ['Examples used', String(num(evidence.examplesUsed) ?? '—')],
      ['Evaluator calls', String(num(evidence.evaluatorCalls) ?? '—')],
      ['Error level α', fmt(num(evidence.alpha))],
      ['Baseline (main)', h('code', null, short(commitOf(evidence.baseline)))],
      ['Candidate (merged)', h('code', null, short(commitOf(evidence.candidate)))],
      ['Seconds', fmt(num(evidence.seconds))],
    ]),
    table(
      ['Suite', 'Role', 'Decision', 'Estimate (Δ)', 'Confidence interval', 'Threshold', 'Examples'],
      suites.map((x) => [
        x.name,
        x.role ?? '—',
        badge(x.decision),
        signed(x.estimate),
        `[${fmt(x.lower)}, ${fmt(x.upper)}]${typeof x.alpha === 'number' ? ` at ${fmt((1 - x.alpha) * 100)}%` : ''}`,
        fmt(x.threshold),
        `${x.used ?? '?'} of ${x.available ?? '?'}`,
      ]),
      { numeric: [3, 5], caption: 'Gate evidence per suite' },
    ),
    skipped.length
      ? h('p', { class: 'muted' }, `Suites skipped (the change touches none of their modules): ${skipped.join(', ')}`)
      : null,
  );
}

function conflictsView(conflicts: unknown[]): HTMLElement {
  const rows: Child[][] = [];
  for (const f of conflicts) {
    const file = f as { path?: unknown; conflicts?: unknown };
    for (const c of Array.isArray(file.conflicts) ? file.conflicts : []) {
      const x = c as { tensor?: unknown; reason?: unknown; report?: Record<string, unknown> };
      const r = x.report ?? {};
      rows.push([
        String(file.path ?? '—'),
        x.tensor === undefined ? '—' : h('code', null, String(x.tensor)),
        x.reason === undefined ? '—' : String(x.reason),
        fmt(typeof r.cosine === 'number' ? r.cosine : null),
        typeof r.changedBoth === 'number' ? percent(r.changedBoth) : '—',
        typeof r.oppositeSigns === 'number' ? percent(r.oppositeSigns) : '—',
      ]);
    }
  }
  return h(
    'div',
    { id: 'conflicts' },
    table(['File', 'Tensor', 'Reason', 'Cosine of changes', 'Changed on both sides', 'Opposite signs'], rows, {
      numeric: [3, 4, 5],
      caption: 'Conflicts',
    }),
  );
}

async function proposalPage(main: HTMLElement, owner: string, name: string, proposal: string): Promise<void> {
  crumbs(['Repositories', '/'], [`${owner}/${name}`, repoPath(owner, name)], [`proposal ${proposal}`, null]);
  const base = `${apiRepo(owner, name)}/proposals`;
  const [p, list] = await Promise.all([
    api<Proposal>(`${base}/${proposal.split('/').map(encodeURIComponent).join('/')}`),
    api<ProposalList>(base).catch(() => ({ proposals: [], queue: [] }) as ProposalList),
  ]);
  document.title = `Proposal ${proposal} · ${owner}/${name} · Weft hub`;
  const queued = list.queue.find((q) => q.proposal === p.proposal);
  const commitLink = (sha: string | null) =>
    sha ? h('a', { href: `${repoPath(owner, name)}/commit/${sha}` }, h('code', null, short(sha))) : '—';
  fill(
    main,
    h('h1', null, `Proposal ${p.proposal}`),
    h('p', null, 'State: ', badge(p.state, 'state'), queued ? ` — position ${queued.position + 1} in the queue` : ''),
    facts([
      ['Head', h('code', null, short(p.head))],
      ['Gated against main at', commitLink(p.baseCommit)],
      ['Merged as', commitLink(p.mergedCommit)],
      ['Pushed by', p.pushedBy],
      ['Pushes', String(p.pushes)],
      ['Opened', date(p.createdAt)],
      ['Updated', date(p.updatedAt)],
      ['Bytes added', h('span', { id: 'bytes-added' }, bytes(p.bytesAdded))],
      ['Bytes the merge wrote', bytes(p.mergeBytes)],
    ]),
    p.message ? h('p', { class: p.state === 'error' ? 'error' : 'muted', id: 'message' }, p.message) : null,
    h(
      'section',
      { 'aria-labelledby': 'evidence-h' },
      h('h2', { id: 'evidence-h' }, 'Gate evidence'),
      p.evidence ? evidenceView(p.evidence) : h('p', { class: 'muted' }, 'No gate evidence (yet).'),
    ),
    p.conflicts?.length
      ? h(
          'section',
          { 'aria-labelledby': 'conflicts-h' },
          h('h2', { id: 'conflicts-h' }, 'Conflicts'),
          conflictsView(p.conflicts),
        )
      : null,
  );
}

// ---- routing ----

async function route(): Promise<void> {
  const main = document.getElementById('main')!;
  const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts.length === 0) await reposPage(main);
    else if (parts.length === 2) await repoPage(main, parts[0]!, parts[1]!);
    else if (parts.length === 4 && parts[2] === 'commit') await commitPage(main, parts[0]!, parts[1]!, parts[3]!);
    else if (parts.length >= 4 && parts[2] === 'proposals')
      await proposalPage(main, parts[0]!, parts[1]!, parts.slice(3).join('/'));
    else throw new NotFound(`No page at ${location.pathname}`);
  } catch (error) {
    if (error instanceof Unauthorized) {
      if (sessionStorage.getItem(TOKEN_KEY) !== null) sessionStorage.removeItem(TOKEN_KEY);
      tokenForm(main, error.message);
      return;
    }
    const text = error instanceof Error ? error.message : String(error);
    fill(
      main,
      h('h1', null, error instanceof NotFound ? 'Not found' : 'Something went wrong'),
      h('p', { class: 'error', role: 'alert' }, text),
    );
  }
  document.body.dataset.ready = 'true';
}

void route();
