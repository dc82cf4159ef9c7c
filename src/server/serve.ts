// Starts the hub: opens the database in the data dir, builds the app, listens (127.0.0.1, port 0 by default), and
// shuts down gracefully: stop accepting, let in-flight requests finish, run the close hooks, close the database.

import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { createHubApp, type HubApp, type HubHooks } from './app.js';
import { type HubDatabase, openHubDatabase } from './db.js';
import type { LfsObjectStore } from './lfs-store.js';
import { type HubLog, jsonLineLog } from './log.js';
import { createQueueRoutes, ensureQueueSchema, MergeQueue, type MergeQueueOptions } from './queue/index.js';
import { withRepoLock } from './repo-lock.js';
import { createUiRoutes } from './ui/index.js';

/** How long close() waits for in-flight requests (a push, a big download) before cutting their connections. */
const SHUTDOWN_GRACE_MS = 30_000;
/** Longest a single request (an object upload or download, a push) may take. */
const REQUEST_TIMEOUT_MS = 60 * 60 * 1000;
/** How often close() closes connections that have gone idle while it waits. */
const IDLE_SWEEP_MS = 50;

export interface StartHubOptions {
  dataDir: string;
  host?: string;
  port?: number;
  log?: HubLog;
  hooks?: HubHooks;
  maxObjectSizeBytes?: number;
  storeFor?: (repo: { owner: string; name: string; gitDir: string }) => LfsObjectStore;
  publicUrl?: string;
  version?: string;
  extraRoutes?: (app: HubApp) => void;
  /** Called with the open database before the server listens (the merge queue's `ensureQueueSchema`, its start). */
  onStart?: (hub: { db: HubDatabase; dataDir: string; log: HubLog }) => void | Promise<void>;
  /** Milliseconds close() waits for in-flight requests (default 30 s). */
  shutdownGraceMs?: number;
  /**
   * The merge queue (proposals pushed as `refs/heads/proposals/<name>`): on by default; `false` turns it off.
   * It reads model objects from each bare repository's `lfs/objects`, so it is off when `storeFor` puts them
   * elsewhere (an S3 bucket).
   */
  mergeQueue?: false | Pick<MergeQueueOptions, 'weftCommand' | 'evaluatorTimeoutMs' | 'workDir' | 'parallelRepos'>;
}

export interface RunningHub {
  url: string;
  port: number;
  db: HubDatabase;
  /**
   * Shutdown steps run after the listener stops accepting and before the database closes, in order (the merge
   * queue's `stop()` goes here: finish or requeue running jobs).
   */
  onClose: (() => void | Promise<void>)[];
  close(): Promise<void>;
}

/**
 * Starts a hub server.
 *
 * @example
 * const hub = await startHub({ dataDir: '/srv/weft' });
 * console.log(hub.url); // http://127.0.0.1:40123
 * await hub.close();
 */
export async function startHub(options: StartHubOptions): Promise<RunningHub> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? jsonLineLog(process.stderr);
  const db = openHubDatabase(join(options.dataDir, 'hub.db'));
  const onClose: (() => void | Promise<void>)[] = [];
  let queue: MergeQueue | undefined;
  try {
    await options.onStart?.({ db, dataDir: options.dataDir, log });
    if (options.mergeQueue !== false && !options.storeFor) {
      ensureQueueSchema(db);
      queue = new MergeQueue({ db, dataDir: options.dataDir, log, withRepoLock, ...(options.mergeQueue ?? {}) });
    } else if (options.mergeQueue !== false) {
      log({ level: 'warn', msg: 'merge queue off: model objects are not kept in the repositories (--s3)' });
    }
  } catch (error) {
    db.close();
    throw error;
  }
  const running = queue;
  const hooks: HubHooks = {
    onPush: (event) => {
      options.hooks?.onPush?.(event);
      running?.notifyPush(event);
    },
  };
  const app = createHubApp({
    dataDir: options.dataDir,
    db,
    log,
    hooks,
    extraRoutes: (a) => {
      if (running) a.route('/', createQueueRoutes(running));
      options.extraRoutes?.(a);
      a.route('/', createUiRoutes({ dataDir: options.dataDir }));
    },
    ...(options.maxObjectSizeBytes !== undefined ? { maxObjectSizeBytes: options.maxObjectSizeBytes } : {}),
    ...(options.storeFor ? { storeFor: options.storeFor } : {}),
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    ...(options.version ? { version: options.version } : {}),
  });
  const { server, info } = await new Promise<{ server: ReturnType<typeof serve>; info: AddressInfo }>(
    (resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: options.port ?? 0, hostname: host }, (i) =>
        resolve({ server: s, info: i }),
      );
      s.once('error', reject);
      // Node's default (5 min per request) would cut a 1 GiB upload on a slow link; headers still time out at 60 s,
      // which is what blocks slow-loris clients.
      (s as unknown as { requestTimeout: number }).requestTimeout = REQUEST_TIMEOUT_MS;
    },
  );
  const urlHost = info.family === 'IPv6' || host.includes(':') ? `[${info.address}]` : info.address;
  const url = `http://${urlHost}:${info.port}`;
  log({ level: 'info', msg: 'listening', url });
  if (running) {
    running.start();
    // First of the shutdown steps: a running job finishes or goes back to the queue before the database closes.
    onClose.push(() => running.stop());
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      log({ level: 'info', msg: 'shutting down' });
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const http = server as unknown as { closeIdleConnections?(): void; closeAllConnections?(): void };
      // Keep-alive connections that go idle after their last response are closed as they do (not after 5 s).
      http.closeIdleConnections?.();
      const sweep = setInterval(() => http.closeIdleConnections?.(), IDLE_SWEEP_MS);
      const grace = setTimeout(() => http.closeAllConnections?.(), options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS);
      await stopped;
      clearInterval(sweep);
      clearTimeout(grace);
      for (const step of onClose) {
        try {
          await step();
        } catch (error) {
          log({ level: 'error', msg: 'shutdown step failed', error: String(error) });
        }
      }
      db.close();
      log({ level: 'info', msg: 'stopped' });
    })();
    return closing;
  };
  return { url, port: info.port, db, onClose, close };
}
