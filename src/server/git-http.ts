// Git smart HTTP by running git's own `git http-backend` as a CGI program: request body streamed in, CGI headers
// (with Status) parsed, response body streamed out. No git protocol is spoken here; gzip bodies are git's to inflate.

import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

/** Largest CGI header block read from http-backend (it sends a few short lines; more means something is wrong). */
const MAX_CGI_HEADER_BYTES = 64 * 1024;
/** Largest stderr kept from one http-backend run (for the log; git's messages are short). */
const MAX_STDERR_BYTES = 16 * 1024;

export interface GitCgiRequest {
  /** The directory holding `<owner>/<name>.git` (GIT_PROJECT_ROOT). */
  projectRoot: string;
  /** `/<owner>/<name>.git/<service path>`, already validated. */
  pathInfo: string;
  /** The query string without `?` (only `service=…` is ever needed). */
  query: string;
  method: string;
  contentType?: string | undefined;
  contentLength?: string | undefined;
  contentEncoding?: string | undefined;
  /** The `Git-Protocol` request header (protocol v2 negotiation). */
  gitProtocol?: string | undefined;
  /** The authenticated user (REMOTE_USER: enables receive-pack and names the reflog entries). */
  remoteUser?: string | undefined;
  remoteAddr?: string | undefined;
  body: ReadableStream<Uint8Array> | null;
}

export interface GitCgiResponse {
  status: number;
  headers: Headers;
  body: ReadableStream<Uint8Array>;
  /** Settles when http-backend has exited (its exit code and the tail of its stderr). */
  done: Promise<{ code: number | null; stderr: string }>;
}

/**
 * Runs `git http-backend` for one request and resolves once its CGI headers are read.
 *
 * @example
 * const r = await runGitHttpBackend({ projectRoot, pathInfo: '/alice/m.git/info/refs', query: 'service=git-upload-pack',
 *   method: 'GET', body: null });
 * return new Response(r.body, { status: r.status, headers: r.headers });
 */
export function runGitHttpBackend(req: GitCgiRequest): Promise<GitCgiResponse> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_SOFTWARE: 'weft-hub',
    GIT_PROJECT_ROOT: req.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method,
    PATH_INFO: req.pathInfo,
    QUERY_STRING: req.query,
  };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  if (req.contentType) env.CONTENT_TYPE = req.contentType;
  if (req.contentLength) env.CONTENT_LENGTH = req.contentLength;
  if (req.contentEncoding) env.HTTP_CONTENT_ENCODING = req.contentEncoding;
  if (req.gitProtocol) env.GIT_PROTOCOL = req.gitProtocol;
  if (req.remoteUser) env.REMOTE_USER = req.remoteUser;
  if (req.remoteAddr) env.REMOTE_ADDR = req.remoteAddr;

  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < MAX_STDERR_BYTES) stderr += c.toString('utf8').slice(0, MAX_STDERR_BYTES - stderr.length);
  });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stderr }));
    child.on('error', (e) => resolve({ code: null, stderr: `${stderr}${String(e)}` }));
  });
  // http-backend may exit before reading the whole body (an error answer): EPIPE on its stdin is expected then.
  child.stdin.on('error', () => {});
  if (req.body) {
    const input = Readable.fromWeb(req.body as NodeReadableStream<Uint8Array>);
    input.on('error', () => child.kill('SIGTERM'));
    input.pipe(child.stdin);
  } else {
    child.stdin.end();
  }

  return readCgiHeaders(child.stdout).then(
    ({ status, headers, rest, iterator }) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          if (rest.length > 0) controller.enqueue(new Uint8Array(rest));
        },
        async pull(controller) {
          const next = await iterator.next();
          if (next.done) controller.close();
          else controller.enqueue(new Uint8Array(next.value as Buffer));
        },
        cancel() {
          child.kill('SIGTERM');
        },
      });
      return { status, headers, body, done };
    },
    async (error: unknown) => {
      child.kill('SIGTERM');
      const exit = await done;
      throw new Error(`git http-backend gave no CGI headers (${String(error)}): ${exit.stderr.trim()}`);
    },
  );
}

/** Reads the CGI header block (`Name: value` lines, blank line) from http-backend's stdout. */
async function readCgiHeaders(stdout: Readable): Promise<{
  status: number;
  headers: Headers;
  rest: Buffer;
  iterator: AsyncIterator<unknown>;
}> {
  const iterator = stdout[Symbol.asyncIterator]();
  let buf = Buffer.alloc(0);
  for (;;) {
    const next = await iterator.next();
    if (next.done) throw new Error('output ended before the header block');
    buf = Buffer.concat([buf, next.value as Buffer]);
    const crlf = buf.indexOf('\r\n\r\n');
    const lf = buf.indexOf('\n\n');
    let end = -1;
    let sep = 0;
    if (crlf >= 0 && (lf < 0 || crlf < lf)) {
      end = crlf;
      sep = 4;
    } else if (lf >= 0) {
      end = lf;
      sep = 2;
    }
    if (end >= 0) {
      const { status, headers } = parseCgiHeaders(buf.subarray(0, end).toString('latin1'));
      return { status, headers, rest: buf.subarray(end + sep), iterator };
    }
    if (buf.length > MAX_CGI_HEADER_BYTES) throw new Error(`header block over ${MAX_CGI_HEADER_BYTES} bytes`);
  }
}

/**
 * Parses a CGI header block: `Status: 404 Not Found` sets the status (default 200), other lines become headers.
 *
 * @example
 * parseCgiHeaders('Status: 403 Forbidden\r\nContent-Type: text/plain') // → { status: 403, headers }
 */
export function parseCgiHeaders(block: string): { status: number; headers: Headers } {
  const headers = new Headers();
  let status = 200;
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const n = Number.parseInt(value, 10);
      if (n >= 100 && n <= 599) status = n;
    } else {
      try {
        headers.append(name, value);
      } catch {
        // An invalid header name or value from the CGI program is dropped rather than failing the response.
      }
    }
  }
  return { status, headers };
}
