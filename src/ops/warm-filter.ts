// The warm filter process: `weft filter-process --warm`, started in the background after a filter run, waits with
// its code loaded and its worker threads running until git starts the filter client (native/weft_filter_client.c)
// in this repository. The client hands over git's pipes (descriptors 0, 1, 2), its arguments and its environment
// through the Unix socket .git/weft/filter.sock; this process takes them, serves git exactly as a filter started
// cold would, sends the client its exit status, starts its own successor (passing it the listening socket, so the
// next command finds one waiting) and exits. One command per process: nothing of one command's state reaches
// the next but loaded code.
//
// It refuses (and exits; the client then runs the filter itself, which starts a fresh one) a client of another
// build, of other Weft or Node settings (WEFT_* and NODE_* variables are read as modules load), or once the build
// on disk changed. It exits when idle for WEFT_WARM_FILTER_IDLE seconds (default 300) and as soon as its socket is
// gone (the repository was deleted, or another warm process took over). WEFT_WARM_FILTER=0 switches it all off;
// WEFT_WARM_FILTER_LOG=<file> has each warm process append what it does there (why a command ran cold, say).

import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  existsSync,
  openSync,
  readSync,
  realpathSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BUILD_ROOT } from '../build-root.js';
import { CodecPool } from '../store/codec-pool.js';
import { nativeKernels } from '../store/native-kernels.js';

/** The socket, relative to the work tree's top level (where git starts filters): short enough for any path. */
export const WARM_SOCKET = '.git/weft/filter.sock';
/** The client git runs (built by `npm ci` on Linux): `weft init` configures it when it is there. */
export const WARM_CLIENT_PATH = fileURLToPath(new URL('../native/build/Release/weft_filter_client', BUILD_ROOT));
const DEFAULT_IDLE_SECONDS = 300;
/** How often an idle warm process looks up from accept() to check its socket, its build and the time. */
const POLL_MS = 1000;
/** How often it looks for a client while it is still loading (accept() must not block the loading then). */
const WARMING_POLL_MS = 2;

interface WarmNative {
  warmListen(path: string): number;
  warmAccept(listenFd: number, timeoutMs: number): WarmClient | undefined;
  adoptStdio(fds: number[]): number;
  blocking(fd: number): number;
}

interface WarmClient {
  conn: number;
  fds: number[];
  argv: string[];
  env: string[];
}

function warmNative(): WarmNative | undefined {
  const n = nativeKernels() as Partial<WarmNative> | undefined;
  return n?.warmListen && n.warmAccept && n.adoptStdio && n.blocking ? (n as WarmNative) : undefined;
}

/** The filter client's path when it is built (Linux), for `weft init` to put in front of the filter command. */
export function warmFilterClient(): string | undefined {
  return process.platform === 'linux' && existsSync(WARM_CLIENT_PATH) ? WARM_CLIENT_PATH : undefined;
}

/** What a warm process does before it waits: starts the codec threads and loads the clean and smudge code. */
export async function warmUpFilter(): Promise<void> {
  CodecPool.shared()?.start();
  await Promise.all([import('./clean.js'), import('./smudge.js')]);
}

/** Whether this build and this platform can run warm filter processes. */
export function warmFilterSupported(env: Record<string, string | undefined>): boolean {
  return process.platform === 'linux' && env.WEFT_WARM_FILTER !== '0' && warmNative() !== undefined;
}

/** The files whose change means a cold start would now load other code than this process did. */
function buildStamp(mainScript: string): string {
  const files = [mainScript, fileURLToPath(new URL('filter.bundle.js', BUILD_ROOT))];
  files.push(fileURLToPath(new URL('cli/filter-process.js', BUILD_ROOT)));
  return files.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 'none').join(',');
}

/**
 * Variables read per command (from the environment the command brings), or only by the warm process itself: they
 * may differ between a warm process and its client.
 */
const PER_COMMAND = new Set([
  'WEFT_FILTER_CLIENT',
  'WEFT_REPORT_MAXRSS',
  'WEFT_SKIP_SMUDGE',
  'WEFT_SKIP_PUSH',
  'WEFT_WARM_FILTER_IDLE',
  'WEFT_WARM_FILTER_LOG',
]);

/** WEFT_* and NODE_* variables: what modules and Node itself read once, at start (the client's must match). */
function startSettings(env: Record<string, string | undefined>): string {
  return JSON.stringify(
    Object.entries(env)
      .filter(([k]) => (k.startsWith('WEFT_') || k.startsWith('NODE_')) && !PER_COMMAND.has(k))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

function parseEnv(list: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of list) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/**
 * Starts a warm filter process for the repository whose top level is `cwd`, in the background (its own session, no
 * stdio), with `env`. `listenFd`: the socket it is to accept on (else it binds its own).
 */
export function startWarmFilter(options: {
  cwd: string;
  env: Record<string, string | undefined>;
  mainScript: string;
  listenFd?: number;
}): ChildProcess | undefined {
  if (!warmFilterSupported(options.env)) return undefined;
  const { WEFT_FILTER_CLIENT: _, ...env } = options.env;
  const args = [options.mainScript, 'filter-process', '--warm'];
  if (options.listenFd !== undefined) args.push('--listen-fd', '3');
  try {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd,
      env,
      detached: true,
      stdio: options.listenFd === undefined ? 'ignore' : ['ignore', 'ignore', 'ignore', options.listenFd],
    });
    child.on('error', () => {}); // best effort: the next command runs cold
    child.unref();
    return child;
  } catch {
    return undefined;
  }
}

/** Appends one line to WEFT_WARM_FILTER_LOG (as this process started), if set; never fails. */
function logger(path: string | undefined): (event: string) => void {
  return (event) => {
    if (!path) return;
    try {
      appendFileSync(path, `${new Date().toISOString()} ${process.pid} ${event}\n`);
    } catch {}
  };
}

/** Listens on WARM_SOCKET (taking over a stale one); undefined when another warm process is alive or it cannot. */
async function listenOnce(native: WarmNative): Promise<number | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const fd = native.warmListen(WARM_SOCKET);
    if (fd >= 0) return fd;
    if (fd !== -98 /* EADDRINUSE */) return undefined;
    const alive = await new Promise<boolean>((resolve) => {
      const probe = connect(WARM_SOCKET);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (alive) return undefined;
    try {
      unlinkSync(WARM_SOCKET); // a socket nobody listens on: left by a process that was killed
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface WarmServeOptions {
  /** dist/cli/main.js, as this process was started with (clients must name the same). */
  mainScript: string;
  /** The socket to accept on, inherited from the previous warm process; else it binds WARM_SOCKET. */
  listenFd?: number;
  /** Runs the filter on descriptors 0, 1 and 2 with process.env set to the client's; resolves with the exit code. */
  serve: () => Promise<number>;
  /** Loads the filter's code and starts its threads (in the background: a client may come meanwhile). */
  warmUp: () => Promise<void>;
  /** Runs after the client has its status, while descriptor 2 is still git's (last words for git's stderr). */
  served?: () => void;
}

/**
 * Waits for one client and serves it (see the top of this file); resolves with the exit code to exit with (the
 * client's status was sent already), or 0 when it ends without serving anyone.
 */
export async function serveWarm(options: WarmServeOptions): Promise<number> {
  const native = warmNative();
  if (!native || process.platform !== 'linux' || process.env.WEFT_WARM_FILTER === '0') return 0;
  const idleMs = Number(process.env.WEFT_WARM_FILTER_IDLE ?? DEFAULT_IDLE_SECONDS) * 1000;
  const log = logger(process.env.WEFT_WARM_FILTER_LOG);
  let listenFd = options.listenFd;
  if (listenFd === undefined) listenFd = await listenOnce(native);
  if (listenFd === undefined) {
    log('exit: another warm process is waiting (or the socket cannot be made)');
    return 0;
  }
  const socketIno = statSync(WARM_SOCKET, { throwIfNoEntry: false })?.ino;
  const ours = () => socketIno !== undefined && statSync(WARM_SOCKET, { throwIfNoEntry: false })?.ino === socketIno;
  const stamp = buildStamp(options.mainScript);
  const settings = startSettings(process.env);
  const main = realpathSync(options.mainScript);
  // A client may come before the warm-up is done (git commands in quick succession: each waits for the process
  // the previous one started): it is served at once, the warm-up going on alongside — no later than a filter
  // started for it would be. Until then the socket is polled without blocking, so that the loading goes on.
  let warm = false;
  options
    .warmUp()
    .catch(() => {}) // the command served loads what it needs itself, and reports what fails
    .finally(() => {
      warm = true;
    });
  log(options.listenFd === undefined ? 'waiting (new socket)' : 'waiting (socket handed on)');
  const deadline = Date.now() + (Number.isFinite(idleMs) && idleMs > 0 ? idleMs : DEFAULT_IDLE_SECONDS * 1000);
  const quit = (why: string): number => {
    log(`exit: ${why}`);
    if (ours()) unlinkSync(WARM_SOCKET);
    closeSync(listenFd);
    return 0;
  };
  for (;;) {
    const client = native.warmAccept(listenFd, warm ? POLL_MS : 0);
    if (!client) {
      if (Date.now() > deadline) return quit('idle'); // also if the warm-up never ends
      if (!warm) {
        await new Promise((resolve) => setTimeout(resolve, WARMING_POLL_MS));
        continue;
      }
      if (!ours()) return quit('the socket is gone');
      if (buildStamp(options.mainScript) !== stamp) return quit('the build changed');
      await new Promise((resolve) => setImmediate(resolve)); // worker threads' messages, between waits
      continue;
    }
    const drop = () => {
      for (const fd of [...client.fds, client.conn]) {
        try {
          closeSync(fd);
        } catch {}
      }
    };
    const env = parseEnv(client.env);
    const [, clientMain, command, ...rest] = client.argv;
    let clientMainReal: string | undefined;
    try {
      clientMainReal = clientMain === undefined ? undefined : realpathSync(clientMain);
    } catch {}
    const refusal =
      clientMainReal !== main || command !== 'filter-process' || rest.length > 0
        ? `another command (${client.argv.slice(1).join(' ')})`
        : startSettings(env) !== settings
          ? 'other WEFT_* or NODE_* settings'
          : buildStamp(options.mainScript) !== stamp
            ? 'the build changed'
            : undefined;
    if (refusal !== undefined) {
      try {
        writeSync(client.conn, 'R');
      } catch {}
      drop();
      return quit(`refused a client: ${refusal}`); // it runs cold, and starts a fresh warm process at its end
    }
    // 'A', then nothing happens to git's pipes before the client's 'G' (it may have given up waiting).
    let go = false;
    try {
      writeSync(client.conn, 'A');
      const answer = Buffer.alloc(1);
      go = readSync(client.conn, answer, 0, 1, null) === 1 && answer[0] === 0x47; // 'G'
    } catch {}
    if (!go) {
      log('a client gave up waiting');
      drop();
      continue;
    }
    if (native.adoptStdio(client.fds) !== 0) {
      // Not serving, and the client waits for a status: it gets none and reports the failure; git sees EOF.
      closeSync(client.conn);
      return quit('cannot take over the client descriptors');
    }
    log('serving');
    for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
    Object.assign(process.env, env);
    let code = 1;
    try {
      code = await options.serve();
    } finally {
      const status = Buffer.alloc(4);
      status.writeInt32LE(code);
      try {
        writeSync(client.conn, status);
      } catch {} // the client was killed: git has what it needs
      closeSync(client.conn);
      options.served?.();
      // git's pipes are let go at once: whoever waits for their end (git's caller, for stderr) does not wait for
      // this process to start its successor and exit.
      try {
        native.adoptStdio([0, 1, 2].map(() => openSync('/dev/null', 'r+')));
      } catch {}
      // The next command finds a process waiting: the socket stays open, handed on.
      if (ours()) startWarmFilter({ cwd: process.cwd(), env: process.env, mainScript: main, listenFd });
      closeSync(listenFd);
      log(`served: exit ${code}`);
    }
    return code;
  }
}
