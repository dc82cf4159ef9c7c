// The hub's web UI: the pages (`/`, `/<owner>/<name>`, `…/commit/<sha>`, `…/proposals/<name>`, all the same HTML
// shell), the client module and stylesheet under /-/ui/, and the UI's JSON routes (api.ts). Serves no repository
// data outside /api/ (which the hub guards); never serves files from anywhere but the client folder's app.js.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { isValidRepoName } from '../db.js';
import { createUiApiRoutes } from './api.js';
import { ASSET_PREFIX, INDEX_HTML, STYLE_CSS } from './shell.js';

export { createUiApiRoutes, type UiApiOptions } from './api.js';
export { type Heatmap, type HeatmapCell, heatmapOf, type LayerModule, layerModuleOf } from './layer-module.js';
export { type CommitDiff, commitDiff, type HistoryEntry, type RepoHistory, readHistory } from './repo-data.js';

export interface UiRoutesOptions {
  dataDir: string;
  /**
   * The folder holding the compiled client (`app.js`): default `$WEFT_UI_CLIENT_DIR`, else `client/` beside this
   * module (dist/server/ui/client, written by `npm run build`).
   */
  clientDir?: string;
}

/** Browsers may run only the hub's own script and styles, and send data only to the hub (blocks injected content). */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * A `.` or `..` path segment (also percent-encoded) in the URL as the client sent it: the request URL is normalised
 * before routing, so `/a/../../etc/passwd` would otherwise be answered as the page of a repository `etc/passwd`.
 */
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|\?|#|$)/i;

function defaultClientDir(): string {
  return process.env.WEFT_UI_CLIENT_DIR ?? fileURLToPath(new URL('./client/', import.meta.url));
}

/**
 * The UI's routes, to mount before the hub's git catch-all (through `extraRoutes`).
 *
 * @example createHubApp({ dataDir, db, log, extraRoutes: (app) => app.route('/', createUiRoutes({ dataDir })) });
 */
export function createUiRoutes(options: UiRoutesOptions): Hono {
  const app = new Hono();
  const clientDir = options.clientDir ?? defaultClientDir();
  let script: Promise<string> | undefined;

  app.route('/', createUiApiRoutes({ dataDir: options.dataDir }));

  app.get(`${ASSET_PREFIX}/app.js`, async (c) => {
    script ??= readFile(join(clientDir, 'app.js'), 'utf8');
    let text: string;
    try {
      text = await script;
    } catch {
      script = undefined;
      return c.text(`the web UI's client is not built: no app.js in ${clientDir} (run npm run build)`, 503);
    }
    return c.body(text, 200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'no-cache',
    });
  });
  app.get(`${ASSET_PREFIX}/style.css`, (c) =>
    c.body(STYLE_CSS, 200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/css; charset=utf-8',
      'cache-control': 'no-cache',
    }),
  );

  const page = () =>
    new Response(INDEX_HTML, {
      headers: { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' },
    });
  app.get('/', () => page());
  app.get('/favicon.ico', () => new Response(null, { status: 204 }));
  // Repository pages: only for names that can be repositories, so `/api/…` and `/x/y.git` keep their 404s.
  const isRepoPage = (owner: string, name: string) => owner !== 'api' && isValidRepoName(owner, name);
  for (const path of ['/:owner/:name', '/:owner/:name/commit/:commit', '/:owner/:name/proposals/:proposal{.+}']) {
    app.get(path, async (c, next) => {
      const raw = (c.env as { incoming?: { url?: string } } | undefined)?.incoming?.url ?? '';
      if (!DOT_SEGMENT.test(raw) && isRepoPage(c.req.param('owner') ?? '', c.req.param('name') ?? '')) return page();
      await next();
    });
  }
  return app;
}
