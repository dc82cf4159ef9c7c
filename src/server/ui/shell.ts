// The web UI's static parts: the one HTML page every UI URL answers with (the client module draws the view from
// the URL and the JSON API) and its stylesheet. Text only: no data, no user input, nothing secret in them.

/** Where the client's files are served from (`-` starts no valid user name, so no repository page collides). */
export const ASSET_PREFIX = '/-/ui';

/** The HTML shell of every UI page. */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weft hub</title>
<link rel="stylesheet" href="${ASSET_PREFIX}/style.css">
<script type="module" src="${ASSET_PREFIX}/app.js"></script>
</head>
<body>
<header class="top"><a href="/" class="brand">Weft hub</a><nav id="crumbs" aria-label="Breadcrumb"></nav></header>
<main id="main" tabindex="-1"><p class="muted">Loading…</p>
<noscript><p>The Weft hub's pages need JavaScript; the same data is at <code>/api/repos</code>.</p></noscript>
</main>
</body>
</html>
`;

/** The stylesheet: system fonts, AA contrast in both colour schemes, no external resources. */
export const STYLE_CSS = `:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa; --link: #0550ae;
  --accept: #116329; --reject: #a40e26; --warn: #7d4e00; --info: #0550ae;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.45;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --panel: #151b23; --link: #4493f8;
    --accept: #3fb950; --reject: #ff7b72; --warn: #d29922; --info: #58a6ff; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid var(--info); outline-offset: 2px; }
.top { display: flex; gap: 1rem; align-items: baseline; padding: .75rem 1.5rem; border-bottom: 1px solid var(--line);
  background: var(--panel); flex-wrap: wrap; }
.brand { font-weight: 700; text-decoration: none; color: var(--fg); }
#crumbs a { margin-right: .25rem; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; word-break: break-word; }
h2 { font-size: 1.2rem; margin: 2rem 0 .75rem; }
code, .sha { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .95rem; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .85rem; font-weight: 600;
  border: 1px solid currentColor; }
.state-merged, .state-accept { color: var(--accept); }
.state-rejected, .state-reject, .state-conflicted, .state-error { color: var(--reject); }
.state-inconclusive, .state-queued, .state-running { color: var(--warn); }
.state-closed { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0 0 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
.panel { border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; background: var(--panel); }
.error { color: var(--reject); font-weight: 600; }
figure { margin: 0 0 1rem; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .25rem; }
svg text { fill: var(--fg); font-size: 12px; font-family: inherit; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .zero { stroke: var(--muted); stroke-dasharray: 4 3; }
.plot { width: 100%; max-width: 48rem; height: auto; overflow: visible; }
.scroll { overflow-x: auto; }
table.heatmap { width: auto; border-collapse: separate; border-spacing: 2px; }
table.heatmap td.cell { min-width: 4.5rem; text-align: center; font-variant-numeric: tabular-nums; border: 0;
  border-radius: 3px; font-size: .85rem; }
table.heatmap td.none { background: repeating-linear-gradient(45deg, var(--panel), var(--panel) 4px, var(--line) 4px,
  var(--line) 6px); }
table.heatmap th { border: 0; background: none; font-weight: 600; font-size: .85rem; }
.legend { display: flex; align-items: center; gap: .75rem; flex-wrap: wrap; font-size: .9rem; margin: .5rem 0 1rem; }
.swatch { display: inline-block; width: 1rem; height: 1rem; vertical-align: middle; border: 1px solid var(--line); }
form.token { display: flex; gap: .5rem; align-items: end; flex-wrap: wrap; }
form.token label { display: flex; flex-direction: column; gap: .25rem; font-weight: 600; }
input { font: inherit; padding: .35rem .5rem; border: 1px solid var(--muted); border-radius: .3rem; background: var(--bg);
  color: var(--fg); min-width: 20rem; }
button { font: inherit; padding: .4rem .9rem; border-radius: .3rem; border: 1px solid var(--link); background: var(--link);
  color: var(--bg); cursor: pointer; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;
