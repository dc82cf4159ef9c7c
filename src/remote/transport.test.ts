import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RemoteError } from '../errors.js';
import { fetchOrThrow, readBody, readBodyHashed } from './transport.js';

/** A response whose body arrives in `parts`, declaring `length` (or nothing). */
function response(parts: Uint8Array[], length?: number): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of parts) controller.enqueue(p);
      controller.close();
    },
  });
  return new Response(body, { headers: length === undefined ? {} : { 'content-length': String(length) } });
}
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const parts = [bytes(1000, 1), bytes(7, 2), bytes(4096, 3)];
const whole = Buffer.concat(parts);

describe('readBody', () => {
  it('returns the body whether its length is declared, undeclared, too long or too short', async () => {
    for (const length of [undefined, whole.length, whole.length - 100, whole.length + 100]) {
      const got = await readBody(response(parts, length), 1 << 20, 'download', 'test');
      expect(Buffer.from(got).equals(whole)).toBe(true);
    }
  });

  it('reads a body of declared length into the memory it is given', async () => {
    for (const length of [whole.length, whole.length - 100, whole.length + 100]) {
      const memory = new Uint8Array(length).fill(0xee);
      const got = await readBody(response(parts, length), 1 << 20, 'download', 'test', undefined, () => memory);
      expect(Buffer.from(got).equals(whole)).toBe(true);
      // the declared length fits the body: the result is that memory (a longer body is gathered elsewhere)
      expect(got.buffer === memory.buffer).toBe(length >= whole.length);
    }
    const declined = await readBody(
      response(parts, whole.length),
      1 << 20,
      'download',
      'test',
      undefined,
      () => undefined,
    );
    expect(Buffer.from(declined).equals(whole)).toBe(true);
  });

  it('hashes exactly the bytes it returns, and refuses more than the limit', async () => {
    const { bytes: got, sha256 } = await readBodyHashed(response(parts, whole.length), 1 << 20, 'download', 'test');
    expect(sha256).toBe(createHash('sha256').update(got).digest('hex'));
    expect(sha256).toBe(createHash('sha256').update(whole).digest('hex'));
    const over = await readBody(response(parts), 2000, 'download x', 'test').catch((e: unknown) => e);
    expect(over).toBeInstanceOf(RemoteError);
    expect((over as RemoteError).code).toBe('REMOTE_REJECTED');
    const declared = await readBody(response(parts, 5000), 2000, 'download x', 'test').catch((e: unknown) => e);
    expect((declared as RemoteError).message).toMatch(/5000 bytes is over the 2000-byte limit/);
  });
});

/** A server on 127.0.0.1 port 0 answering with `handle` after reading each request whole. */
async function withServer(
  handle: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void,
  use: (url: string) => Promise<void>,
): Promise<void> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('fetchOrThrow with a large body (sent through node:http)', () => {
  const big = bytes(300_000, 9);

  it('sends the bytes and headers as they are and answers as fetch would, small bodies and all', async () => {
    const seen: { method?: string; headers: IncomingMessage['headers']; body: Buffer }[] = [];
    await withServer(
      (req, body, res) => {
        seen.push({ ...(req.method ? { method: req.method } : {}), headers: req.headers, body });
        if (req.url === '/empty') {
          res.writeHead(204).end();
          return;
        }
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.writeHead(201, 'Made', { 'content-type': 'application/json', 'x-echo': req.headers['x-token'] ?? '' });
        res.end(JSON.stringify({ got: body.length }));
      },
      async (url) => {
        for (const body of [big, big.subarray(1000, 200_000), new Uint8Array(10)]) {
          const init = { method: 'PUT', headers: { 'x-token': 'secret', 'content-type': 'application/x-test' }, body };
          const res = await fetchOrThrow(`${url}/o?q=1`, init, 'upload', 'test', 10_000);
          expect(res.status).toBe(201);
          expect(res.statusText).toBe('Made');
          expect(res.headers.get('x-echo')).toBe('secret');
          expect(res.headers.get('content-type')).toBe('application/json');
          expect(await res.json()).toEqual({ got: body.length });
          const last = seen.at(-1)!;
          expect(last.method).toBe('PUT');
          expect(last.headers['content-length']).toBe(String(body.length));
          expect(last.headers['content-type']).toBe('application/x-test');
          expect(Buffer.from(body).equals(last.body)).toBe(true);
        }
        const empty = await fetchOrThrow(`${url}/empty`, { method: 'PUT', body: big }, 'upload', 'test', 10_000);
        expect(empty.status).toBe(204);
        expect(empty.body).toBeNull();
      },
    );
  });

  it('reports a refused connection and a timeout as retryable RemoteErrors naming the request', async () => {
    let port = 0;
    await withServer(
      () => {}, // never answers
      async (url) => {
        port = Number(new URL(url).port);
        const error = await fetchOrThrow(url, { method: 'PUT', body: big }, 'upload object ab', 'test', 300).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(RemoteError);
        expect(error).toMatchObject({ code: 'REMOTE_UNREACHABLE', retryable: true });
        expect((error as Error).message).toMatch(/^test: upload object ab: .*timeout/);
      },
    );
    const refused = await fetchOrThrow(
      `http://127.0.0.1:${port}/`,
      { method: 'PUT', body: big },
      'upload',
      'test',
      5000,
    )
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'REMOTE_UNREACHABLE', retryable: true });
    expect((refused as Error).message).toMatch(/ECONNREFUSED/);
  });
});
