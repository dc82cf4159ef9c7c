// A Git LFS server through the Batch API with basic transfers: batched existence checks (upload batches), PUT/GET
// of object hrefs, `verify` actions, per-object errors by oid, credentials via `git credential`. `expires_in` is not
// trusted: an action that fails with 401/403/404 is requested again once, whatever its stated expiry.

import { RemoteError } from '../errors.js';
import { credentialFill, credentialReport, type HttpCredential } from './git-credential.js';
import {
  type BodyAllocator,
  checkOid,
  classifyStatus,
  DEFAULT_RETRY,
  type DownloadOptions,
  fetchOrThrow,
  type HashedBytes,
  httpError,
  type RemoteObject,
  type RetryPolicy,
  readBody,
  readBodyHashed,
  redactUrl,
  serverText,
  type Transport,
  transferTimeoutMs,
  uniqueObjects,
  withRetry,
} from './transport.js';

const LFS_MEDIA_TYPE = 'application/vnd.git-lfs+json';
/** Objects per batch request (git-lfs sends 100; servers may refuse more). */
const BATCH_SIZE = 100;
/** Largest batch response read (a hostile server cannot exhaust memory). */
const MAX_BATCH_RESPONSE_BYTES = 16 * 1024 * 1024;
/** Largest object downloaded into memory (1 GiB raw + headroom). */
const MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024 + 64 * 1024 * 1024;
const BATCH_TIMEOUT_MS = 60_000;

interface LfsAction {
  href: string;
  header?: Record<string, string>;
  expires_in?: number;
}

interface LfsResponseObject {
  oid: string;
  size?: number;
  actions?: { upload?: LfsAction; download?: LfsAction; verify?: LfsAction };
  error?: { code?: number; message?: string };
}

export interface LfsTransportOptions {
  /** The LFS API URL (`…/info/lfs`), as git-lfs derives it (see lfs-url.ts). May hold a user name. */
  url: string;
  /** Where `git credential` runs (the repository, for its config). */
  cwd: string;
  /** Sent as the batch request's `ref` (the ref being pushed or fetched), when known. */
  refName?: string;
  retry?: RetryPolicy;
}

/**
 * A Git LFS remote.
 *
 * @example
 * const t = new LfsTransport({ url: 'https://hub.example/org/model.git/info/lfs', cwd: repo.topLevel });
 * const missing = await t.listMissing(objects);
 */
export class LfsTransport implements Transport {
  readonly name: string;
  private readonly url: string;
  private readonly cwd: string;
  private readonly username: string | undefined;
  private readonly refName: string | undefined;
  private readonly retry: RetryPolicy;
  private credential: HttpCredential | undefined;
  private credentialPromise: Promise<HttpCredential | undefined> | undefined;
  /** Upload actions from the last existence check, so upload need not ask again. */
  private readonly uploadActions = new Map<string, LfsResponseObject>();
  /** Download actions from {@link LfsTransport.prepareDownloads}, used once each (an expired one is asked again). */
  private readonly downloadActions = new Map<string, LfsResponseObject>();
  /** Downloads asked for in this tick, sent as one batch. */
  private pendingDownloads: { object: RemoteObject; resolve(o: LfsResponseObject): void; reject(e: unknown): void }[] =
    [];

  constructor(options: LfsTransportOptions) {
    const u = new URL(options.url.replace(/\/+$/, ''));
    if (u.password)
      this.credential = { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
    // fetch refuses URLs with credentials, and messages must never show them: keep only the user name aside.
    this.username = u.username ? decodeURIComponent(u.username) : undefined;
    u.username = '';
    u.password = '';
    this.url = u.toString().replace(/\/+$/, '');
    this.name = redactUrl(this.url);
    this.cwd = options.cwd;
    this.refName = options.refName;
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  async listMissing(objects: readonly RemoteObject[]): Promise<RemoteObject[]> {
    const unique = uniqueObjects(objects);
    for (const o of unique) checkOid(o.oid);
    const missing: RemoteObject[] = [];
    for (let i = 0; i < unique.length; i += BATCH_SIZE) {
      const chunk = unique.slice(i, i + BATCH_SIZE);
      const answers = await this.batch('upload', chunk);
      for (const o of chunk) {
        const a = answers.get(o.oid);
        if (!a) throw new RemoteError('REMOTE_REJECTED', `${this.name}: batch response lacks object ${o.oid}`);
        if (a.error) throw this.objectError(o.oid, a.error, 'upload');
        if (a?.actions?.upload) {
          this.uploadActions.set(o.oid, a);
          missing.push(o);
        }
      }
    }
    return missing;
  }

  async upload(object: RemoteObject & { size: number }, bytes: Uint8Array): Promise<void> {
    checkOid(object.oid);
    if (bytes.length !== object.size) {
      throw new RangeError(`upload ${object.oid}: ${bytes.length} bytes given, size says ${object.size}`);
    }
    for (let round = 0; ; round++) {
      let answer = this.uploadActions.get(object.oid);
      this.uploadActions.delete(object.oid);
      if (!answer) {
        answer = (await this.batch('upload', [object])).get(object.oid);
        if (answer?.error) throw this.objectError(object.oid, answer.error, 'upload');
      }
      const action = answer?.actions?.upload;
      if (!action) return; // the server has it
      try {
        await this.transfer('PUT', action, `upload object ${object.oid}`, bytes);
        const verify = answer?.actions?.verify;
        if (verify) {
          const body = new TextEncoder().encode(JSON.stringify({ oid: object.oid, size: object.size }));
          await this.transfer('POST', verify, `verify object ${object.oid}`, body, LFS_MEDIA_TYPE);
        }
        return;
      } catch (error) {
        // An expired or revoked href: ask the batch API once more (expires_in is advisory).
        if (
          round === 0 &&
          error instanceof RemoteError &&
          (error.code === 'REMOTE_AUTH' || error.code === 'REMOTE_MISSING')
        ) {
          continue;
        }
        throw error;
      }
    }
  }

  async download(object: RemoteObject): Promise<Uint8Array> {
    return (await this.get(object, false)).bytes;
  }

  async downloadHashed(object: RemoteObject, options: DownloadOptions = {}): Promise<HashedBytes> {
    return this.get(object, true, options.allocate);
  }

  /** Downloads an object; with `hashed`, its SHA-256 computed as the chunks arrive (else sha256 is ''). */
  private async get(object: RemoteObject, hashed: boolean, allocate?: BodyAllocator): Promise<HashedBytes> {
    checkOid(object.oid);
    for (let round = 0; ; round++) {
      const cached = round === 0 ? this.downloadActions.get(object.oid) : undefined;
      this.downloadActions.delete(object.oid);
      const answer = cached ?? (await this.queueDownload(object));
      if (answer.error) throw this.objectError(object.oid, answer.error, 'download');
      const action = answer.actions?.download;
      if (!action) {
        throw new RemoteError(
          'REMOTE_REJECTED',
          `${this.name}: object ${object.oid}: the server gave no download action`,
        );
      }
      try {
        return await this.receive(action, `download object ${object.oid}`, hashed, allocate);
      } catch (error) {
        if (round === 0 && error instanceof RemoteError && error.code === 'REMOTE_AUTH') continue;
        if (error instanceof RemoteError && error.code === 'REMOTE_MISSING') {
          throw new RemoteError('REMOTE_MISSING', `${this.name}: object ${object.oid} is not on the remote`);
        }
        throw error;
      }
    }
  }

  /**
   * Asks for the download actions of many objects in batches of {@link BATCH_SIZE} ahead of their downloads, so that
   * N downloads cost N/100 batch requests rather than N. Per-object errors surface when that object is downloaded.
   */
  async prepareDownloads(objects: readonly RemoteObject[]): Promise<void> {
    const unique = uniqueObjects(objects);
    for (const o of unique) checkOid(o.oid);
    for (let i = 0; i < unique.length; i += BATCH_SIZE) {
      const answers = await this.batch('download', unique.slice(i, i + BATCH_SIZE));
      for (const [oid, answer] of answers) this.downloadActions.set(oid, answer);
    }
  }

  async close(): Promise<void> {
    this.uploadActions.clear();
    this.downloadActions.clear();
  }

  /** Coalesces the downloads requested in one tick into batch requests of up to {@link BATCH_SIZE}. */
  private queueDownload(object: RemoteObject): Promise<LfsResponseObject> {
    return new Promise((resolve, reject) => {
      this.pendingDownloads.push({ object, resolve, reject });
      if (this.pendingDownloads.length === 1) setImmediate(() => this.flushDownloads());
    });
  }

  private flushDownloads(): void {
    const all = this.pendingDownloads;
    this.pendingDownloads = [];
    for (let i = 0; i < all.length; i += BATCH_SIZE) {
      const chunk = all.slice(i, i + BATCH_SIZE);
      const objects = uniqueObjects(chunk.map((c) => c.object));
      this.batch('download', objects).then(
        (answers) => {
          for (const c of chunk) {
            const a = answers.get(c.object.oid);
            if (a) c.resolve(a);
            else
              c.reject(new RemoteError('REMOTE_REJECTED', `${this.name}: batch response lacks object ${c.object.oid}`));
          }
        },
        (error: unknown) => {
          for (const c of chunk) c.reject(error);
        },
      );
    }
  }

  /** One batch request; returns the response objects by oid. */
  private async batch(
    operation: 'upload' | 'download',
    objects: readonly RemoteObject[],
  ): Promise<Map<string, LfsResponseObject>> {
    const body = JSON.stringify({
      operation,
      transfers: ['basic'],
      ...(this.refName ? { ref: { name: this.refName } } : {}),
      // Manifests do not record stored sizes; 0 stands for "unknown" on downloads.
      objects: objects.map((o) => ({ oid: o.oid, size: o.size ?? 0 })),
      hash_algo: 'sha256',
    });
    const what = `batch ${operation} of ${objects.length} object(s)${objects.length === 1 ? ` (${objects[0]!.oid})` : ''}`;
    const response = await this.apiRequest(`${this.url}/objects/batch`, body, what);
    const text = new TextDecoder().decode(await readBody(response, MAX_BATCH_RESPONSE_BYTES, what, this.name));
    let parsed: { objects?: LfsResponseObject[]; transfer?: string };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new RemoteError('REMOTE_REJECTED', `${this.name}: ${what}: the response is not JSON`);
    }
    if (parsed.transfer !== undefined && parsed.transfer !== 'basic') {
      throw new RemoteError(
        'REMOTE_REJECTED',
        `${this.name}: ${what}: the server chose transfer ${JSON.stringify(parsed.transfer)}, not basic`,
      );
    }
    if (!Array.isArray(parsed.objects))
      throw new RemoteError('REMOTE_REJECTED', `${this.name}: ${what}: no objects in the response`);
    const out = new Map<string, LfsResponseObject>();
    for (const o of parsed.objects) if (o && typeof o.oid === 'string') out.set(o.oid, o);
    return out;
  }

  /** A POST to the LFS API with credentials: 401 → `git credential fill` once, then approve or reject. */
  private async apiRequest(url: string, body: string, what: string): Promise<Response> {
    return withRetry(async () => {
      for (let attempt = 0; ; attempt++) {
        const cred = this.credential;
        const headers: Record<string, string> = { accept: LFS_MEDIA_TYPE, 'content-type': LFS_MEDIA_TYPE };
        if (cred) headers.authorization = basicAuth(cred);
        const response = await fetchOrThrow(url, { method: 'POST', headers, body }, what, this.name, BATCH_TIMEOUT_MS);
        if (response.status === 401 && attempt === 0) {
          await response.body?.cancel();
          if (cred) {
            await credentialReport({ cwd: this.cwd, url, credential: cred, verdict: 'reject' });
            this.credential = undefined;
            this.credentialPromise = undefined;
          }
          const filled = await this.fillCredential(url);
          if (!filled)
            throw new RemoteError('REMOTE_AUTH', `${this.name}: ${what}: HTTP 401 and git has no credentials for it`);
          continue;
        }
        if (response.status === 401 && cred) {
          await credentialReport({ cwd: this.cwd, url, credential: cred, verdict: 'reject' });
          this.credential = undefined;
          this.credentialPromise = undefined;
        }
        if (!response.ok) throw await httpError(response, what, this.name);
        if (cred && attempt > 0) await credentialReport({ cwd: this.cwd, url, credential: cred, verdict: 'approve' });
        return response;
      }
    }, this.retry);
  }

  /** One `git credential fill` shared by concurrent requests. */
  private async fillCredential(url: string): Promise<HttpCredential | undefined> {
    this.credentialPromise ??= credentialFill({
      cwd: this.cwd,
      url,
      ...(this.username ? { username: this.username } : {}),
    });
    this.credential = await this.credentialPromise;
    return this.credential;
  }

  /** A basic-transfer GET of an action's href; with `hashed`, the body's SHA-256 as it arrives (else ''). */
  private async receive(
    action: LfsAction,
    what: string,
    hashed: boolean,
    allocate?: BodyAllocator,
  ): Promise<HashedBytes> {
    let out: HashedBytes = { bytes: new Uint8Array(), sha256: '' };
    await this.transfer('GET', action, what, undefined, undefined, async (response) => {
      out = hashed
        ? await readBodyHashed(response, MAX_DOWNLOAD_BYTES, what, this.name, allocate)
        : { bytes: await readBody(response, MAX_DOWNLOAD_BYTES, what, this.name), sha256: '' };
    });
    return out;
  }

  /** A basic-transfer request to an action's href (with its headers; our credentials only on the API's origin). */
  private async transfer(
    method: 'PUT' | 'GET' | 'POST',
    action: LfsAction,
    what: string,
    body?: Uint8Array,
    contentType?: string,
    readGet?: (response: Response) => Promise<void>,
  ): Promise<Uint8Array> {
    if (typeof action.href !== 'string' || !/^https?:\/\//.test(action.href)) {
      throw new RemoteError('REMOTE_REJECTED', `${this.name}: ${what}: the server gave no usable href`);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(action.header ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    if (contentType) headers['content-type'] = contentType;
    else if (body) headers['content-type'] = 'application/octet-stream';
    if (!headers.authorization && this.credential && new URL(action.href).origin === new URL(this.url).origin) {
      headers.authorization = basicAuth(this.credential);
    }
    const timeout = transferTimeoutMs(body?.length ?? MAX_DOWNLOAD_BYTES / 64);
    return withRetry(async () => {
      const init: RequestInit = { method, headers };
      if (body) init.body = body;
      const response = await fetchOrThrow(action.href, init, what, this.name, timeout);
      if (!response.ok) throw await httpError(response, what, this.name);
      if (method !== 'GET') {
        await response.body?.cancel();
        return new Uint8Array();
      }
      if (readGet) {
        await readGet(response);
        return new Uint8Array();
      }
      return readBody(response, MAX_DOWNLOAD_BYTES, what, this.name);
    }, this.retry);
  }

  private objectError(oid: string, error: { code?: number; message?: string }, operation: string): RemoteError {
    const status = typeof error.code === 'number' ? error.code : 0;
    const { code, retryable } = classifyStatus(status);
    const detail = serverText(typeof error.message === 'string' ? error.message : '');
    return new RemoteError(
      code,
      `${this.name}: ${operation} object ${oid}: server error ${status}${detail ? `: ${detail}` : ''}`,
      { retryable },
    );
  }
}

function basicAuth(c: HttpCredential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}
