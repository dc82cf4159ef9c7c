// A small Git LFS Batch API server for tests (node:http on 127.0.0.1, port 0, objects in a directory in the
// git-lfs layout). Switches inject failures: 500s, wrong bytes, verify actions, per-object errors, required auth.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface LfsServerSwitches {
  /** Answer this many of the next requests (any kind) with HTTP 500. */
  fail500?: number;
  /** Serve downloads with one byte flipped. */
  wrongBytes?: boolean;
  /** Add a `verify` action to upload answers. */
  verify?: boolean;
  /** Require HTTP basic auth with these credentials on every request. */
  auth?: { username: string; password: string };
  /** Per-object errors in batch answers: oid → { code, message }. */
  objectErrors?: Record<string, { code: number; message: string }>;
  /** `expires_in` put on every action (the client must not rely on it). */
  expiresIn?: number;
  /** Hand out hrefs that fail with 401 this many times (as if expired), then work. */
  expireHrefs?: number;
  /** Wait this long before storing each uploaded object (to interrupt a push halfway). */
  delayMs?: number;
}

export interface LfsServerStats {
  batches: { operation: string; objects: { oid: string; size: number }[] }[];
  puts: string[];
  gets: string[];
  verifies: string[];
  uploadedBytes: number;
  unauthorized: number;
}

export interface LfsTestServer {
  /** The LFS API URL (`…/info/lfs`). */
  url: string;
  /** Root of the object tree (objects at `lfs/objects/aa/bb/<oid>` below it). */
  dir: string;
  switches: LfsServerSwitches;
  stats: LfsServerStats;
  objectPath(oid: string): string;
  stop(): Promise<void>;
}

const OID = /^[0-9a-f]{64}$/;
const MEDIA = 'application/vnd.git-lfs+json';

/**
 * Starts a server storing objects under `dir`.
 *
 * @example
 * const lfs = await startLfsServer({ dir });
 * lfs.switches.fail500 = 2; // the next two requests fail
 * await lfs.stop();
 */
export async function startLfsServer(options: { dir: string; switches?: LfsServerSwitches }): Promise<LfsTestServer> {
  const switches: LfsServerSwitches = options.switches ?? {};
  const stats: LfsServerStats = { batches: [], puts: [], gets: [], verifies: [], uploadedBytes: 0, unauthorized: 0 };
  const objectPath = (oid: string) => join(options.dir, 'lfs', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid);
  let base = '';
  let tempCounter = 0;

  const send = (res: ServerResponse, status: number, body: unknown, type = MEDIA) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const readAll = async (req: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const authorized = (req: IncomingMessage): boolean => {
    if (!switches.auth) return true;
    const expected = `Basic ${Buffer.from(`${switches.auth.username}:${switches.auth.password}`).toString('base64')}`;
    return req.headers.authorization === expected;
  };
  const sizeOf = async (oid: string): Promise<number | undefined> => {
    try {
      return (await stat(objectPath(oid))).size;
    } catch {
      return undefined;
    }
  };
  const action = (href: string) => ({
    href,
    header: { 'x-test-token': 'action-header' },
    ...(switches.expiresIn !== undefined ? { expires_in: switches.expiresIn } : {}),
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if ((switches.fail500 ?? 0) > 0) {
      switches.fail500!--;
      await readAll(req);
      return send(res, 500, { message: 'injected failure' });
    }
    const url = new URL(req.url ?? '/', base);
    if (!authorized(req)) {
      stats.unauthorized++;
      await readAll(req);
      res.setHeader('lfs-authenticate', 'Basic realm="test"');
      return send(res, 401, { message: 'credentials needed' });
    }
    if (req.method === 'POST' && url.pathname === '/info/lfs/objects/batch') {
      const body = JSON.parse((await readAll(req)).toString('utf8')) as {
        operation: string;
        objects: { oid: string; size: number }[];
      };
      stats.batches.push({ operation: body.operation, objects: body.objects });
      const objects = await Promise.all(
        body.objects.map(async ({ oid, size }) => {
          if (!OID.test(oid)) return { oid, size, error: { code: 422, message: 'bad oid' } };
          const injected = switches.objectErrors?.[oid];
          if (injected) return { oid, size, error: injected };
          const have = await sizeOf(oid);
          const href = `${base}/objects/${oid}`;
          if (body.operation === 'upload') {
            if (have !== undefined && have === size) return { oid, size };
            return {
              oid,
              size,
              actions: {
                upload: action(href),
                ...(switches.verify ? { verify: action(`${base}/verify`) } : {}),
              },
            };
          }
          if (have === undefined) return { oid, size, error: { code: 404, message: 'object does not exist' } };
          return { oid, size: have, actions: { download: action(href) } };
        }),
      );
      return send(res, 200, { transfer: 'basic', objects, hash_algo: 'sha256' });
    }
    if (req.method === 'POST' && url.pathname === '/info/lfs/locks/verify') {
      await readAll(req);
      return send(res, 404, { message: 'locking not supported' });
    }
    const m = /^\/objects\/([0-9a-f]{64})$/.exec(url.pathname);
    if (m && (req.method === 'PUT' || req.method === 'GET')) {
      if ((switches.expireHrefs ?? 0) > 0) {
        switches.expireHrefs!--;
        await readAll(req);
        return send(res, 401, { message: 'href expired' });
      }
      if (req.headers['x-test-token'] !== 'action-header') return send(res, 400, { message: 'action header missing' });
      const oid = m[1]!;
      if (req.method === 'PUT') {
        const bytes = await readAll(req);
        if (switches.delayMs) await new Promise((resolve) => setTimeout(resolve, switches.delayMs));
        if (createHash('sha256').update(bytes).digest('hex') !== oid)
          return send(res, 422, { message: 'hash mismatch' });
        const file = objectPath(oid);
        await mkdir(join(file, '..'), { recursive: true });
        const temp = `${file}.${process.pid}.${++tempCounter}.tmp`;
        await writeFile(temp, bytes);
        await rename(temp, file);
        stats.puts.push(oid);
        stats.uploadedBytes += bytes.length;
        return send(res, 200, '', 'text/plain');
      }
      let bytes: Buffer;
      try {
        bytes = await readFile(objectPath(oid));
      } catch {
        return send(res, 404, { message: 'not found' });
      }
      stats.gets.push(oid);
      if (switches.wrongBytes && bytes.length > 0) {
        bytes = Buffer.from(bytes);
        bytes[bytes.length - 1]! ^= 0xff;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      return res.end(bytes);
    }
    if (req.method === 'POST' && url.pathname === '/verify') {
      const body = JSON.parse((await readAll(req)).toString('utf8')) as { oid: string; size: number };
      stats.verifies.push(body.oid);
      const have = await sizeOf(body.oid);
      return have === body.size ? send(res, 200, {}) : send(res, 422, { message: 'verify failed' });
    }
    await readAll(req);
    return send(res, 404, { message: `no route ${req.method} ${url.pathname}` });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { message: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/info/lfs`,
    dir: options.dir,
    switches,
    stats,
    objectPath,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
