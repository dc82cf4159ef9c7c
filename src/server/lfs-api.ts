// The Git LFS Batch API with the basic transfer, per repository under `/<owner>/<name>.git/info/lfs/`: batch,
// object PUT/GET, verify, and an empty lock verification. Validates every oid and size before touching storage;
// per-object problems are per-object errors, malformed requests are 4xx, never a crash.

import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { ActionSigner, type Caller } from './auth.js';
import { canAccess, type HubDatabase, type HubRepo, type Role } from './db.js';
import { type LfsObjectStore, OID_PATTERN } from './lfs-store.js';

export const LFS_MEDIA_TYPE = 'application/vnd.git-lfs+json';
/** Largest batch request body read (blocks memory exhaustion by a huge JSON document; 100 objects are ~12 KiB). */
const MAX_BATCH_REQUEST_BYTES = 1024 * 1024;
/** Most objects in one batch request (git-lfs and Weft send 100; more is an attempt to make the server stall). */
const MAX_BATCH_OBJECTS = 1000;
/** Largest verify request body (it holds one oid and one size). */
const MAX_VERIFY_REQUEST_BYTES = 4096;
/** Lifetime of the signed headers in actions; a transfer only has to start before it ends. */
const ACTION_TTL_SECONDS = 3600;
/** Default largest object accepted (Weft chunks tensors far below this; raise with --max-object-size). */
export const DEFAULT_MAX_OBJECT_SIZE_BYTES = 5 * 1024 * 1024 * 1024;

export interface LfsRepoRef {
  record: HubRepo;
  gitDir: string;
}

export interface LfsApiContext {
  db: HubDatabase;
  signer: ActionSigner;
  maxObjectSizeBytes: number;
  storeFor(repo: LfsRepoRef): LfsObjectStore;
}

/** A JSON answer in the LFS media type. */
export function lfsJson(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': LFS_MEDIA_TYPE, ...headers },
  });
}

export const CHALLENGE_HEADERS = {
  'www-authenticate': 'Basic realm="weft", charset="UTF-8"',
  'lfs-authenticate': 'Basic realm="weft", charset="UTF-8"',
};

/** The answer when `caller` may not do `need`: 401 to ask for credentials, 404 to hide a private repository. */
export function denied(caller: Caller, canRead: boolean, media = LFS_MEDIA_TYPE): Response {
  const json = (status: number, message: string, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify({ message }), { status, headers: { 'content-type': media, ...headers } });
  if (caller.kind !== 'user') return json(401, 'credentials needed', CHALLENGE_HEADERS);
  if (!canRead) return json(404, 'repository not found');
  return json(403, 'write access needed');
}

/** Reads a request body up to `limit` bytes; undefined when longer. */
async function readLimited(req: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(req.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) return undefined;
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface Target {
  ctx: LfsApiContext;
  repo: LfsRepoRef;
  caller: Caller;
  /** Scheme, host and port the client used (or the configured public URL). */
  baseUrl: string;
}

function repoPath(repo: HubRepo): string {
  return `${repo.owner}/${repo.name}`;
}

function allowed(t: Target, need: Role): boolean {
  const user = t.caller.kind === 'user' ? t.caller.user : undefined;
  return canAccess(t.ctx.db, { user, repo: t.repo.record, need });
}

/**
 * Handles one request below `/<owner>/<name>.git/info/lfs/` (`rest` is the part after it).
 *
 * @example
 * return handleLfsRequest({ ctx, repo, caller, baseUrl }, 'objects/batch', c.req.raw);
 */
export async function handleLfsRequest(
  target: Omit<Target, 'caller'> & { caller: Caller; authorization: string | undefined },
  rest: string,
  req: Request,
): Promise<Response> {
  const method = req.method;
  if (rest === 'objects/batch') {
    if (method !== 'POST') return lfsJson(405, { message: 'use POST' }, { allow: 'POST' });
    return batch(target, req);
  }
  const m = /^objects\/([^/]*)(\/verify)?$/.exec(rest);
  if (m) {
    const oid = m[1]!;
    if (!OID_PATTERN.test(oid)) return lfsJson(422, { message: 'object id must be 64 lower-case hex digits' });
    const op = m[2] ? 'verify' : method === 'PUT' ? 'upload' : method === 'GET' || method === 'HEAD' ? 'download' : '';
    if (op === '' || (op === 'verify' && method !== 'POST')) {
      return lfsJson(405, { message: `${method} is not supported here` });
    }
    // A signed action header stands for its user, for this one object and operation; the user's role is rechecked.
    let caller = target.caller;
    let claimSize: number | undefined;
    if (ActionSigner.isActionHeader(target.authorization)) {
      const claim = target.ctx.signer.verify(ActionSigner.tokenOf(target.authorization!));
      if (!claim || claim.repo !== repoPath(target.repo.record) || claim.oid !== oid || claim.op !== op) {
        return lfsJson(401, { message: 'action token invalid or expired; ask the batch API again' }, CHALLENGE_HEADERS);
      }
      caller = claim.user ? { kind: 'user', user: claim.user } : { kind: 'anonymous' };
      claimSize = claim.size;
    }
    const t: Target = { ...target, caller };
    const need: Role = op === 'download' ? 'read' : 'write';
    if (!allowed(t, need)) return denied(caller, allowed(t, 'read'));
    if (op === 'upload') return putObject(t, oid, req, claimSize);
    if (op === 'verify') return verifyObject(t, oid, req);
    return getObject(t, oid, method === 'HEAD');
  }
  if (rest === 'locks/verify' && method === 'POST') {
    // Locking is not offered; an empty answer lets git-lfs push without warnings. Writers only, like a push.
    if (target.caller.kind === 'invalid') return denied(target.caller, false);
    if (!allowed(target, 'write')) return denied(target.caller, allowed(target, 'read'));
    return lfsJson(200, { ours: [], theirs: [] });
  }
  return lfsJson(404, { message: 'not found (locking is not supported)' });
}

async function batch(t: Target, req: Request): Promise<Response> {
  const bytes = await readLimited(req, MAX_BATCH_REQUEST_BYTES);
  if (!bytes) return lfsJson(413, { message: `batch request over ${MAX_BATCH_REQUEST_BYTES} bytes` });
  const body = parseJson(bytes);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return lfsJson(400, { message: 'batch request is not a JSON object' });
  }
  const b = body as { operation?: unknown; objects?: unknown; transfers?: unknown; hash_algo?: unknown };
  if (b.operation !== 'upload' && b.operation !== 'download') {
    return lfsJson(422, { message: 'operation must be "upload" or "download"' });
  }
  if (!Array.isArray(b.objects)) return lfsJson(422, { message: 'objects must be an array' });
  if (b.objects.length > MAX_BATCH_OBJECTS) {
    return lfsJson(413, { message: `${b.objects.length} objects in one batch; at most ${MAX_BATCH_OBJECTS}` });
  }
  if (b.transfers !== undefined && (!Array.isArray(b.transfers) || !b.transfers.includes('basic'))) {
    return lfsJson(422, { message: 'only the basic transfer is supported' });
  }
  if (b.hash_algo !== undefined && b.hash_algo !== 'sha256') {
    return lfsJson(409, { message: 'only hash_algo sha256 is supported' });
  }
  const operation = b.operation;
  const need: Role = operation === 'upload' ? 'write' : 'read';
  if (!allowed(t, need)) return denied(t.caller, allowed(t, 'read'));

  const store = t.ctx.storeFor(t.repo);
  const user = t.caller.kind === 'user' ? t.caller.user : '';
  const exp = Math.floor(Date.now() / 1000) + ACTION_TTL_SECONDS;
  const base = `${t.baseUrl}/${repoPath(t.repo.record)}.git/info/lfs/objects`;
  const action = (href: string, op: 'upload' | 'download' | 'verify', oid: string, size?: number) => ({
    href,
    header: {
      Authorization: `Bearer ${t.ctx.signer.sign({ user, repo: repoPath(t.repo.record), op, oid, exp, ...(size !== undefined ? { size } : {}) })}`,
    },
    expires_in: ACTION_TTL_SECONDS,
  });
  const objects = await Promise.all(
    (b.objects as unknown[]).map(async (o) => {
      const { oid, size } = (typeof o === 'object' && o !== null ? o : {}) as { oid?: unknown; size?: unknown };
      if (typeof oid !== 'string' || !OID_PATTERN.test(oid)) {
        return {
          oid: typeof oid === 'string' ? oid.slice(0, 100) : String(oid),
          size: 0,
          error: { code: 422, message: 'oid must be 64 lower-case hex digits (SHA-256)' },
        };
      }
      if (!isSize(size)) return { oid, size: 0, error: { code: 422, message: 'size must be a non-negative integer' } };
      if (operation === 'upload') {
        if (size > t.ctx.maxObjectSizeBytes) {
          return {
            oid,
            size,
            error: {
              code: 422,
              message: `object is ${size} bytes; this hub accepts at most ${t.ctx.maxObjectSizeBytes}`,
            },
          };
        }
        if ((await store.size(oid)) !== undefined) return { oid, size };
        return {
          oid,
          size,
          authenticated: true,
          actions: {
            upload: action(`${base}/${oid}`, 'upload', oid, size),
            verify: action(`${base}/${oid}/verify`, 'verify', oid),
          },
        };
      }
      const have = await store.size(oid);
      if (have === undefined) return { oid, size, error: { code: 404, message: 'object does not exist' } };
      return { oid, size: have, authenticated: true, actions: { download: action(`${base}/${oid}`, 'download', oid) } };
    }),
  );
  return lfsJson(200, { transfer: 'basic', objects, hash_algo: 'sha256' });
}

async function putObject(t: Target, oid: string, req: Request, claimSize: number | undefined): Promise<Response> {
  const max = t.ctx.maxObjectSizeBytes;
  const lengthHeader = req.headers.get('content-length');
  const declared = lengthHeader === null ? undefined : Number(lengthHeader);
  if (declared !== undefined && (!isSize(declared) || declared > max)) {
    await req.body?.cancel().catch(() => {});
    return lfsJson(413, { message: `object over this hub's limit of ${max} bytes` }, { connection: 'close' });
  }
  if (claimSize !== undefined && declared !== undefined && declared !== claimSize) {
    await req.body?.cancel().catch(() => {});
    return lfsJson(400, { message: `body is ${declared} bytes; the batch request said ${claimSize}` });
  }
  const expectedSize = claimSize ?? declared;
  const body = req.body
    ? Readable.fromWeb(req.body as NodeReadableStream<Uint8Array>)
    : Readable.from([] as Uint8Array[]);
  const result = await t.ctx
    .storeFor(t.repo)
    .put(oid, body, { maxBytes: max, ...(expectedSize !== undefined ? { expectedSize } : {}) });
  if (!result.ok) {
    body.destroy();
    if (result.reason === 'too-large') {
      return lfsJson(413, { message: `object over this hub's limit of ${max} bytes` }, { connection: 'close' });
    }
    if (result.reason === 'size-mismatch') {
      return lfsJson(
        400,
        { message: `body size differs from the ${expectedSize} bytes announced` },
        { connection: 'close' },
      );
    }
    return lfsJson(422, { message: `body's SHA-256 is not ${oid}` });
  }
  return new Response(null, { status: 200 });
}

async function verifyObject(t: Target, oid: string, req: Request): Promise<Response> {
  const bytes = await readLimited(req, MAX_VERIFY_REQUEST_BYTES);
  const body = bytes ? (parseJson(bytes) as { oid?: unknown; size?: unknown } | undefined) : undefined;
  if (!body || typeof body !== 'object' || body.oid !== oid || !isSize(body.size)) {
    return lfsJson(422, { message: 'verify expects {"oid": <this object>, "size": <bytes>}' });
  }
  const have = await t.ctx.storeFor(t.repo).size(oid);
  if (have === undefined) return lfsJson(404, { message: 'object does not exist' });
  if (have !== body.size) return lfsJson(422, { message: `object is ${have} bytes, not ${body.size}` });
  return lfsJson(200, {});
}

async function getObject(t: Target, oid: string, headOnly: boolean): Promise<Response> {
  const found = await t.ctx.storeFor(t.repo).open(oid);
  if (!found) return lfsJson(404, { message: 'object does not exist' });
  const headers = { 'content-type': 'application/octet-stream', 'content-length': String(found.size) };
  if (headOnly) {
    found.stream.destroy();
    return new Response(null, { status: 200, headers });
  }
  return new Response(Readable.toWeb(found.stream) as ReadableStream<Uint8Array>, { status: 200, headers });
}
