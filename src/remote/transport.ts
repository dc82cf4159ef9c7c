// The one interface every remote (filesystem, Git LFS, S3) implements, plus what they share: retries with backoff,
// HTTP error mapping, bounded parallelism and credential-free names. It never verifies objects: callers do.

import { createHash, type Hash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { RemoteError, type RemoteErrorCode } from '../errors.js';

/** An object as remotes see it: its id (SHA-256 of the stored bytes, = the Git LFS oid) and stored size. */
export interface RemoteObject {
  oid: string;
  /** Stored bytes; `undefined` when unknown (manifests name objects without their sizes). */
  size?: number;
}

/**
 * A place that holds objects. Calls may run concurrently. Downloads are not verified here: the caller checks the
 * SHA-256 and header before storing (see fetch.ts), so a transport can never put a bad object in the store.
 *
 * @example
 * const missing = await transport.listMissing([{ oid, size }]);
 * for (const o of missing) await transport.upload(o, await store.readStored(o.oid));
 * const bytes = await transport.download({ oid });
 */
export interface Transport {
  /** Where the objects go, for messages; never holds credentials. */
  readonly name: string;
  /** The objects of `objects` that the remote does not hold (duplicates removed), in input order. */
  listMissing(objects: readonly RemoteObject[]): Promise<RemoteObject[]>;
  /** Stores `bytes` as object `object.oid` (idempotent: same oid, same bytes). */
  upload(object: RemoteObject & { size: number }, bytes: Uint8Array): Promise<void>;
  /** The stored bytes of an object; RemoteError REMOTE_MISSING when the remote does not hold it. */
  download(object: RemoteObject): Promise<Uint8Array>;
  /**
   * As {@link Transport.download}, plus the SHA-256 of exactly the returned bytes, computed chunk by chunk as they
   * arrived (while the next chunks were still on the wire), so the caller need not hash 1 GiB again afterwards.
   * Optional: callers fall back to `download` and hash themselves. The caller still compares it with the oid.
   */
  downloadHashed?(object: RemoteObject, options?: DownloadOptions): Promise<HashedBytes>;
  /** Optional hint before many downloads (LFS asks for their actions in batches); downloads work without it. */
  prepareDownloads?(objects: readonly RemoteObject[]): Promise<void>;
  /** Releases connections and helpers (idempotent). */
  close(): Promise<void>;
}

/** Options of {@link Transport.downloadHashed}. */
export interface DownloadOptions {
  /**
   * Memory for a body of a declared length (a recycled buffer; fresh memory costs a page fault per 4 KiB), or
   * undefined to allocate. The result is then a view of it.
   */
  allocate?: BodyAllocator;
}

/** Gives `bytes` of memory to read a response body into, or undefined (then the reader allocates). */
export type BodyAllocator = (bytes: number) => Uint8Array | undefined;

/** How often and how patiently a request is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the second attempt; doubles each time (with jitter), capped at {@link MAX_RETRY_DELAY_MS}. */
  baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250 };
/** Longest wait between two attempts. */
const MAX_RETRY_DELAY_MS = 8000;
/** Most bytes of a server's error text put into a message (a hostile or broken server could send megabytes). */
const MAX_SERVER_TEXT = 200;

/**
 * Runs `attempt` until it succeeds, it throws something not retryable, or the attempts run out (the last error is
 * thrown). Only RemoteErrors with `retryable` are retried.
 *
 * @example
 * const res = await withRetry(() => httpRequest(url), DEFAULT_RETRY);
 */
export async function withRetry<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!(error instanceof RemoteError) || !error.retryable || n >= policy.attempts) throw error;
      const delay = Math.min(MAX_RETRY_DELAY_MS, policy.baseDelayMs * 2 ** (n - 1));
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)));
    }
  }
}

/** The RemoteError code and retryability of an HTTP status. */
export function classifyStatus(status: number): { code: RemoteErrorCode; retryable: boolean } {
  if (status === 401 || status === 403) return { code: 'REMOTE_AUTH', retryable: false };
  if (status === 404 || status === 410) return { code: 'REMOTE_MISSING', retryable: false };
  if (status === 408 || status === 429 || status >= 500) return { code: 'REMOTE_UNREACHABLE', retryable: true };
  return { code: 'REMOTE_REJECTED', retryable: false };
}

/** A RemoteError for an HTTP response that is not a success; `what` names the request (and the oid). */
export async function httpError(response: Response, what: string, remote: string): Promise<RemoteError> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // the body is only for the message
  }
  const { code, retryable } = classifyStatus(response.status);
  const detail = serverText(text);
  return new RemoteError(code, `${remote}: ${what}: HTTP ${response.status}${detail ? `: ${detail}` : ''}`, {
    retryable,
  });
}

/** A short, single-line, printable excerpt of a server's error text (the JSON `message` when there is one). */
export function serverText(text: string): string {
  let out = text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed?.message === 'string') out = parsed.message;
  } catch {
    const xml = /<Message>([^<]*)<\/Message>/.exec(text);
    if (xml) out = xml[1]!;
  }
  out = out.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return out.length > MAX_SERVER_TEXT ? `${out.slice(0, MAX_SERVER_TEXT)}…` : out;
}

/** A RemoteError (retryable) for a request that failed without a response: refused, reset, timed out. */
export function networkError(error: unknown, what: string, remote: string): RemoteError {
  if (error instanceof RemoteError) return error;
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const text = cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
  // A library's message may quote the URL: drop user info and query strings (presigned hrefs carry signatures).
  const reason = text.replace(/\/\/[^/@\s]*@/g, '//').replace(/(https?:\/\/[^\s?#]*)[?#]\S*/g, '$1?…');
  return new RemoteError('REMOTE_UNREACHABLE', `${remote}: ${what}: ${reason}`, { retryable: true, cause: error });
}

/**
 * `fetch` with a per-request timeout, mapping failures without a response to retryable RemoteErrors.
 *
 * @example
 * const res = await fetchOrThrow(url, { method: 'HEAD' }, `HEAD object ${oid}`, name, 30_000);
 */
export async function fetchOrThrow(
  url: string,
  init: RequestInit,
  what: string,
  remote: string,
  timeoutMs: number,
): Promise<Response> {
  try {
    const signal = AbortSignal.timeout(timeoutMs);
    if (init.body instanceof Uint8Array && init.body.byteLength >= SEND_DIRECT_BYTES) {
      return await sendBytes(url, init.method ?? 'PUT', new Headers(init.headers), init.body, signal);
    }
    return await fetch(url, { ...init, signal });
  } catch (error) {
    throw networkError(error, what, remote);
  }
}

/** Bodies this large go out through node:http(s) (sendBytes); smaller ones through fetch. */
const SEND_DIRECT_BYTES = 64 * 1024;
/** Answers to uploads are short (a status, an error document): more than this is not kept. */
const MAX_ANSWER_BYTES = 1024 * 1024;
// Keep-alive agents: uploads to one server reuse their connections (idle sockets do not keep the process alive).
const httpAgent = new HttpAgent({ keepAlive: true });
const httpsAgent = new HttpsAgent({ keepAlive: true });

/**
 * Sends one buffer as a request body with node:http(s) and gives the answer as a fetch Response (its body read
 * whole, up to {@link MAX_ANSWER_BYTES}). fetch (undici) copies a buffer body twice on its way to the socket,
 * and for uploads of hundreds of MiB those copies and their garbage cost more CPU than hashing the bytes; here
 * the buffer is written to the socket as it is.
 */
function sendBytes(url: string, method: string, headers: Headers, body: Uint8Array, signal: AbortSignal) {
  return new Promise<Response>((resolve, reject) => {
    // A timeout is reported as fetch reports it (the signal's TimeoutError), not as node's AbortError.
    const fail = (error: unknown) => reject(signal.aborted ? signal.reason : error);
    const target = new URL(url);
    const https = target.protocol === 'https:';
    const out: Record<string, string> = {};
    headers.forEach((value, key) => {
      out[key] = value;
    });
    out['content-length'] = String(body.byteLength);
    const request = (https ? httpsRequest : httpRequest)(
      target,
      { method, headers: out, agent: https ? httpsAgent : httpAgent, signal },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept >= MAX_ANSWER_BYTES) return;
          chunks.push(chunk);
          kept += chunk.length;
        });
        res.on('error', fail);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 599) {
            reject(new Error(`${method} ${target.origin}${target.pathname}: HTTP status ${status}`));
            return;
          }
          const answer = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) answer.append(key, v);
          }
          const noBody = method === 'HEAD' || status === 204 || status === 205 || status === 304;
          resolve(
            new Response(noBody ? null : Buffer.concat(chunks), {
              status,
              statusText: res.statusMessage ?? '',
              headers: answer,
            }),
          );
        });
      },
    );
    request.on('error', fail);
    request.end(body);
  });
}

/** A timeout for moving `bytes`: a minute plus a second per MiB (slow links still finish, dead ones fail). */
export function transferTimeoutMs(bytes: number): number {
  return 60_000 + Math.ceil(bytes / (1024 * 1024)) * 1000;
}

/** Downloaded bytes and the SHA-256 (lowercase hex) of exactly those bytes. */
export interface HashedBytes {
  bytes: Uint8Array;
  sha256: string;
}

/**
 * {@link readBody}, hashing each chunk as it arrives: the SHA-256 work overlaps the wait for the next chunk.
 *
 * @example
 * const { bytes, sha256 } = await readBodyHashed(response, MAX_DOWNLOAD_BYTES, 'download object ab…', name);
 */
export async function readBodyHashed(
  response: Response,
  limit: number,
  what: string,
  remote: string,
  allocate?: BodyAllocator,
): Promise<HashedBytes> {
  const hash = createHash('sha256');
  const bytes = await readBody(response, limit, what, remote, hash, allocate);
  return { bytes, sha256: hash.digest('hex') };
}

/** Reads a response body completely, refusing more than `limit` bytes (a server cannot exhaust memory). */
export async function readBody(
  response: Response,
  limit: number,
  what: string,
  remote: string,
  hash?: Hash,
  allocate?: BodyAllocator,
): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw new RemoteError('REMOTE_REJECTED', `${remote}: ${what}: ${declared} bytes is over the ${limit}-byte limit`);
  }
  // With a declared length (and no content coding, which fetch undoes), chunks are copied into one buffer as they
  // arrive and dropped at once: no second copy at the end, and half the memory churn (and GC) per object.
  const sized =
    Number.isSafeInteger(declared) && declared > 0 && !response.headers.get('content-encoding')
      ? (allocate?.(declared) ?? new Uint8Array(declared))
      : undefined;
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body ?? []) {
      if (total + chunk.length > limit) {
        // Leaving the loop by throwing cancels the stream (the body is locked to the iterator: cancel() would fail).
        throw new RemoteError('REMOTE_REJECTED', `${remote}: ${what}: more than the ${limit}-byte limit`);
      }
      if (sized && chunks.length === 0 && total + chunk.length <= sized.length) sized.set(chunk, total);
      else {
        if (sized && chunks.length === 0 && total > 0) chunks.push(sized.subarray(0, total)); // longer than declared
        chunks.push(chunk);
      }
      total += chunk.length;
      hash?.update(chunk);
    }
  } catch (error) {
    throw networkError(error, what, remote);
  }
  if (sized && chunks.length === 0) return total === sized.length ? sized : sized.subarray(0, total);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A URL for messages: user name, password and query (which may hold signatures) removed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/**
 * Runs `task` over `items` with at most `limit` in flight; rejects with the first error after the running tasks
 * settle (nothing new starts once one failed).
 *
 * @example
 * await mapLimit(missing, 8, (o) => upload(o));
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await task(items[i]!, i);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failed.error;
  return results;
}

/** Removes repeated oids, keeping the first occurrence (and a known size over an unknown one). */
export function uniqueObjects(objects: readonly RemoteObject[]): RemoteObject[] {
  const seen = new Map<string, RemoteObject>();
  for (const o of objects) {
    const had = seen.get(o.oid);
    if (!had) seen.set(o.oid, { ...o });
    else if (had.size === undefined && o.size !== undefined) had.size = o.size;
  }
  return [...seen.values()];
}

const OID = /^[0-9a-f]{64}$/;

/** Throws RangeError unless `oid` is 64 lowercase hex digits (it becomes a path or URL component). */
export function checkOid(oid: string): void {
  if (!OID.test(oid))
    throw new RangeError(`not an object id (64 lowercase hex digits): ${JSON.stringify(oid.slice(0, 80))}`);
}
