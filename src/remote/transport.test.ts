import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RemoteError } from '../errors.js';
import { readBody, readBodyHashed } from './transport.js';

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
