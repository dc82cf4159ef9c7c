// A remote in an S3-compatible object store (S3, R2, MinIO, Ceph): `s3://bucket/prefix`, objects at
// `<prefix>/lfs/objects/aa/bb/<oid>`. SigV4-signed fetch requests, HEAD before PUT, multipart for large objects.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RemoteError, UsageError } from '../errors.js';
import { type AwsCredentials, awsUriEncode, EMPTY_SHA256, signRequest } from './sigv4.js';
import {
  type BodyAllocator,
  checkOid,
  DEFAULT_RETRY,
  type DownloadOptions,
  fetchOrThrow,
  type HashedBytes,
  httpError,
  mapLimit,
  type RemoteObject,
  type RetryPolicy,
  readBody,
  readBodyHashed,
  type Transport,
  transferTimeoutMs,
  uniqueObjects,
  withRetry,
} from './transport.js';

/** Objects larger than this are sent in parts (S3's single PUT is slower and not resumable for big bodies). */
export const DEFAULT_MULTIPART_THRESHOLD = 64 * 1024 * 1024;
/** Smallest part S3 accepts (except the last). */
const MIN_PART_BYTES = 5 * 1024 * 1024;
/** Parts are 8–64 MiB: at most 10 000 parts per upload, as S3 requires. */
const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
const MAX_PART_BYTES = 64 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Largest object downloaded into memory (1 GiB raw + headroom; a hostile server cannot exhaust memory). */
const MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024 + 64 * 1024 * 1024;
/** HEAD requests in flight during existence checks. */
const HEAD_PARALLEL = 16;
/** Timeout of small requests (HEAD, create/complete multipart). */
const SMALL_TIMEOUT_MS = 30_000;

export interface S3TransportOptions {
  /** `s3://bucket` or `s3://bucket/prefix`. */
  url: string;
  /** `http(s)://host[:port]`; default `https://s3.<region>.amazonaws.com`. */
  endpoint?: string;
  region?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (default: true with a custom endpoint). */
  pathStyle?: boolean;
  /** Anonymous (unsigned) requests when absent. */
  credentials?: AwsCredentials;
  multipartThreshold?: number;
  partBytes?: number;
  retry?: RetryPolicy;
}

/**
 * Reads S3 settings the usual way: environment (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION,
 * AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE), then the shared
 * files `~/.aws/credentials` and `~/.aws/config`, then the remote's own settings (endpoint, region, path style).
 *
 * @example
 * const t = new S3Transport(await s3OptionsFromEnvironment({ url: 's3://models/llama', env: process.env }));
 */
export async function s3OptionsFromEnvironment(options: {
  url: string;
  env: Record<string, string | undefined>;
  settings?: { endpoint?: string; region?: string; pathStyle?: boolean };
}): Promise<S3TransportOptions> {
  const env = options.env;
  const profile = env.AWS_PROFILE ?? 'default';
  const home = env.HOME ?? homedir();
  const credFile = await readIni(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'));
  const confFile = await readIni(env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config'));
  const fromCred = credFile[profile] ?? {};
  const fromConf = confFile[profile === 'default' ? 'default' : `profile ${profile}`] ?? {};
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? fromCred.aws_access_key_id;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? fromCred.aws_secret_access_key;
  const sessionToken = env.AWS_ACCESS_KEY_ID ? env.AWS_SESSION_TOKEN : fromCred.aws_session_token;
  const endpoint =
    env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? options.settings?.endpoint ?? fromConf.endpoint_url;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? options.settings?.region ?? fromConf.region;
  const out: S3TransportOptions = { url: options.url };
  if (endpoint) out.endpoint = endpoint;
  if (region) out.region = region;
  if (options.settings?.pathStyle !== undefined) out.pathStyle = options.settings.pathStyle;
  if (accessKeyId && secretAccessKey) {
    out.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }
  return out;
}

/** A tiny INI reader for the AWS shared files: `[section]` and `key = value`; absent file → empty. */
async function readIni(path: string): Promise<Record<string, Record<string, string>>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, Record<string, string>> = {};
  let section: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = out[head[1]!.trim()] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (section && eq > 0) section[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/**
 * Objects in an S3 bucket.
 *
 * @example
 * const t = new S3Transport({ url: 's3://bucket/models', endpoint: 'http://127.0.0.1:4568', region: 'us-east-1',
 *   credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
 * await t.upload({ oid, size }, bytes);
 */
export class S3Transport implements Transport {
  readonly name: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly base: string;
  private readonly region: string;
  private readonly credentials: AwsCredentials | undefined;
  private readonly threshold: number;
  private readonly partBytes: number;
  private readonly retry: RetryPolicy;
  /** Objects a HEAD found absent just now (listMissing): upload need not HEAD them again. */
  private readonly knownMissing = new Set<string>();

  constructor(options: S3TransportOptions) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(options.url);
    if (!m) throw new UsageError('USAGE', `${options.url}: not an S3 URL (expected s3://bucket or s3://bucket/prefix)`);
    this.bucket = m[1]!;
    this.prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
    this.name = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    this.region = options.region ?? 'us-east-1';
    const endpoint = (options.endpoint ?? `https://s3.${this.region}.amazonaws.com`).replace(/\/+$/, '');
    const pathStyle = options.pathStyle ?? options.endpoint !== undefined;
    if (!/^https?:\/\//.test(endpoint))
      throw new UsageError('USAGE', `S3 endpoint ${endpoint}: expected http(s)://host`);
    if (pathStyle) this.base = `${endpoint}/${this.bucket}`;
    else {
      const u = new URL(endpoint);
      u.hostname = `${this.bucket}.${u.hostname}`;
      this.base = u.toString().replace(/\/+$/, '');
    }
    this.credentials = options.credentials;
    this.threshold = Math.max(MIN_PART_BYTES, options.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD);
    this.partBytes = Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, options.partBytes ?? DEFAULT_PART_BYTES));
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  /** The key of object `oid` (the filesystem remote's layout under the prefix). */
  keyOf(oid: string): string {
    checkOid(oid);
    return `${this.prefix ? `${this.prefix}/` : ''}lfs/objects/${oid.slice(0, 2)}/${oid.slice(2, 4)}/${oid}`;
  }

  async listMissing(objects: readonly RemoteObject[]): Promise<RemoteObject[]> {
    const unique = uniqueObjects(objects);
    const sizes = await mapLimit(unique, HEAD_PARALLEL, (o) => this.head(o.oid));
    const missing = unique.filter((o, i) => sizes[i] === undefined || (o.size !== undefined && sizes[i] !== o.size));
    for (const o of missing) this.knownMissing.add(o.oid);
    return missing;
  }

  async upload(object: RemoteObject & { size: number }, bytes: Uint8Array): Promise<void> {
    const key = this.keyOf(object.oid);
    if (bytes.length !== object.size) {
      throw new RangeError(`upload ${object.oid}: ${bytes.length} bytes given, size says ${object.size}`);
    }
    // HEAD before PUT: content addressing makes a PUT idempotent, but sending what is there wastes the link.
    if (!this.knownMissing.delete(object.oid) && (await this.head(object.oid)) === bytes.length) return;
    if (bytes.length > this.threshold) await this.putMultipart(object.oid, key, bytes);
    else {
      await this.request('PUT', key, '', {
        what: `upload object ${object.oid}`,
        body: bytes,
        payloadHash: object.oid, // the oid is the SHA-256 of these bytes: S3 checks it
        timeoutMs: transferTimeoutMs(bytes.length),
      });
    }
  }

  async download(object: RemoteObject): Promise<Uint8Array> {
    return (await this.get(object, false)).bytes;
  }

  async downloadHashed(object: RemoteObject, options: DownloadOptions = {}): Promise<HashedBytes> {
    return this.get(object, true, options.allocate);
  }

  async close(): Promise<void> {}

  /** GET an object (retried); with `hashed`, its SHA-256 computed as the chunks arrive (else sha256 is ''). */
  private async get(object: RemoteObject, hashed: boolean, allocate?: BodyAllocator): Promise<HashedBytes> {
    const key = this.keyOf(object.oid);
    const what = `download object ${object.oid}`;
    return withRetry(async () => {
      const response = await this.send('GET', key, '', {
        what,
        timeoutMs: transferTimeoutMs(object.size ?? MAX_PART_BYTES),
      });
      if (!response.ok) {
        const error = await httpError(response, what, this.name);
        if (error.code === 'REMOTE_MISSING') {
          throw new RemoteError('REMOTE_MISSING', `${this.name}: object ${object.oid} is not on the remote (${key})`);
        }
        throw error;
      }
      if (hashed) return readBodyHashed(response, MAX_DOWNLOAD_BYTES, what, this.name, allocate);
      return { bytes: await readBody(response, MAX_DOWNLOAD_BYTES, what, this.name), sha256: '' };
    }, this.retry);
  }

  /** The stored size of `oid` (one HEAD request), or undefined when absent. */
  async sizeOf(oid: string): Promise<number | undefined> {
    return this.head(oid);
  }

  private async head(oid: string): Promise<number | undefined> {
    const key = this.keyOf(oid);
    const what = `check object ${oid}`;
    return withRetry(async () => {
      const response = await this.send('HEAD', key, '', { what, timeoutMs: SMALL_TIMEOUT_MS });
      if (response.status === 404) return undefined;
      if (!response.ok) throw await httpError(response, what, this.name);
      return Number(response.headers.get('content-length') ?? Number.NaN);
    }, this.retry);
  }

  private async putMultipart(oid: string, key: string, bytes: Uint8Array): Promise<void> {
    const partBytes = Math.max(this.partBytes, Math.ceil(bytes.length / MAX_PARTS));
    const created = await this.request('POST', key, 'uploads=', { what: `start multipart upload of ${oid}` });
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created)?.[1];
    if (!uploadId)
      throw new RemoteError('REMOTE_REJECTED', `${this.name}: start multipart upload of ${oid}: no UploadId`);
    const q = `uploadId=${awsUriEncode(uploadId, false)}`;
    try {
      const count = Math.ceil(bytes.length / partBytes);
      const etags = await mapLimit(
        Array.from({ length: count }, (_, i) => i),
        2,
        async (i) => {
          const part = bytes.subarray(i * partBytes, Math.min(bytes.length, (i + 1) * partBytes));
          const hash = createHash('sha256').update(part).digest('hex');
          let etag = '';
          await this.request('PUT', key, `partNumber=${i + 1}&${q}`, {
            what: `upload part ${i + 1}/${count} of object ${oid}`,
            body: part,
            payloadHash: hash,
            timeoutMs: transferTimeoutMs(part.length),
            onResponse: (r) => {
              etag = r.headers.get('etag') ?? '';
            },
          });
          return etag;
        },
      );
      const xml = `<CompleteMultipartUpload>${etags
        .map(
          (e, i) =>
            `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</ETag></Part>`,
        )
        .join('')}</CompleteMultipartUpload>`;
      const body = new TextEncoder().encode(xml);
      const done = await this.request('POST', key, q, {
        what: `complete multipart upload of ${oid}`,
        body,
        payloadHash: createHash('sha256').update(body).digest('hex'),
        timeoutMs: transferTimeoutMs(bytes.length),
      });
      // S3 may answer 200 with an error document for CompleteMultipartUpload.
      if (/<Error>/.test(done)) {
        throw new RemoteError('REMOTE_UNREACHABLE', `${this.name}: complete multipart upload of ${oid}: server error`, {
          retryable: true,
        });
      }
    } catch (error) {
      await this.send('DELETE', key, q, { what: 'abort multipart upload', timeoutMs: SMALL_TIMEOUT_MS }).catch(
        () => undefined,
      );
      throw error;
    }
  }

  /** A signed request with retries; returns the response text; non-2xx → RemoteError. */
  private async request(
    method: string,
    key: string,
    query: string,
    options: {
      what: string;
      body?: Uint8Array;
      payloadHash?: string;
      timeoutMs?: number;
      onResponse?: (response: Response) => void;
    },
  ): Promise<string> {
    return withRetry(async () => {
      const response = await this.send(method, key, query, {
        ...options,
        timeoutMs: options.timeoutMs ?? SMALL_TIMEOUT_MS,
      });
      if (!response.ok) throw await httpError(response, options.what, this.name);
      options.onResponse?.(response);
      const text = new TextDecoder().decode(await readBody(response, 1024 * 1024, options.what, this.name));
      return text;
    }, this.retry);
  }

  private async send(
    method: string,
    key: string,
    query: string,
    options: { what: string; body?: Uint8Array; payloadHash?: string; timeoutMs: number },
  ): Promise<Response> {
    const url = `${this.base}/${awsUriEncode(key, true)}${query ? `?${query}` : ''}`;
    const headers: Record<string, string> = {};
    if (options.body) headers['content-length'] = String(options.body.length);
    const signed = this.credentials
      ? signRequest({
          method,
          url,
          headers,
          payloadHash: options.payloadHash ?? EMPTY_SHA256,
          region: this.region,
          credentials: this.credentials,
          date: new Date(),
        })
      : headers;
    delete signed.host; // fetch sets it (the same value)
    const init: RequestInit = { method, headers: signed };
    if (options.body) init.body = options.body;
    return fetchOrThrow(url, init, options.what, this.name, options.timeoutMs);
  }
}
