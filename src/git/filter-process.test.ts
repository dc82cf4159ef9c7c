// The filter protocol in memory, playing git's side byte for byte: handshake, many files, big content, every
// error path. The real-git round trip is in filter-process.git.test.ts.

import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GitError } from '../errors.js';
import { type FilterHandlers, type FilterRequest, serveFilterProcess } from './filter-process.js';

// git's side of the conversation, byte for byte, built by hand (not with PktLineWriter).
function packet(payload: Uint8Array | string): Buffer {
  const body = Buffer.from(payload);
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0')), body]);
}
const FLUSH = Buffer.from('0000');
function list(...lines: string[]): Buffer {
  return Buffer.concat([...lines.map((line) => packet(`${line}\n`)), FLUSH]);
}
function content(bytes: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 65516) parts.push(packet(bytes.subarray(at, at + 65516)));
  return Buffer.concat([...parts, FLUSH]);
}
const HANDSHAKE = Buffer.concat([
  list('git-filter-client', 'version=2'),
  list('capability=clean', 'capability=smudge', 'capability=delay'),
]);
function request(command: string, pathname: string, bytes: Uint8Array, ...extra: string[]): Buffer {
  return Buffer.concat([list(`command=${command}`, `pathname=${pathname}`, ...extra), content(bytes)]);
}

/** The filter's answer split at flushes: each section is a list of packets (text without its newline). */
function sections(output: Buffer): Buffer[][] {
  const result: Buffer[][] = [];
  let current: Buffer[] = [];
  let at = 0;
  while (at < output.length) {
    const length = Number.parseInt(output.subarray(at, at + 4).toString('latin1'), 16);
    if (length === 0) {
      result.push(current);
      current = [];
      at += 4;
      continue;
    }
    expect(length).toBeGreaterThan(4);
    expect(length).toBeLessThanOrEqual(65520);
    current.push(output.subarray(at + 4, at + length));
    at += length;
  }
  expect(current).toEqual([]);
  return result;
}
function texts(section: Buffer[] | undefined): string[] {
  return (section ?? []).map((p) => {
    expect(p.at(-1)).toBe(0x0a);
    return p.subarray(0, -1).toString('utf8');
  });
}

async function consume(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}
function reversed(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes).reverse();
}

/** Serves `input` (git's bytes), collecting the answer and every reported error. */
async function serve(input: Buffer, handlers: FilterHandlers) {
  const inStream = new PassThrough();
  const outStream = new PassThrough();
  const out: Buffer[] = [];
  outStream.on('data', (chunk: Buffer) => out.push(chunk));
  const errors: string[] = [];
  // Fed in 64 KiB chunks, as a pipe delivers.
  for (let at = 0; at < input.length; at += 65536) inStream.write(input.subarray(at, at + 65536));
  inStream.end();
  const summary = await serveFilterProcess({
    input: inStream,
    output: outStream,
    handlers,
    onError: (error, req) => errors.push(`${req.pathname}: ${(error as Error).message}`),
  });
  return { summary, errors, output: Buffer.concat(out) };
}

const reverser: FilterHandlers = {
  clean: async (request) => reversed(await consume(request.content)),
  smudge: async (request) => {
    const bytes = reversed(await consume(request.content));
    return (async function* () {
      // Odd-sized pieces: the server must coalesce them into full packets.
      for (let at = 0; at < bytes.length; at += 100_001) yield bytes.subarray(at, at + 100_001);
    })();
  },
};

describe('serveFilterProcess', () => {
  it('shakes hands, takes on clean and smudge, notes delay, and ends at EOF', async () => {
    const { summary, output } = await serve(HANDSHAKE, reverser);
    const s = sections(output);
    expect(texts(s[0])).toEqual(['git-filter-server', 'version=2']);
    expect(texts(s[1])).toEqual(['capability=clean', 'capability=smudge']);
    expect(s).toHaveLength(2);
    expect(summary).toEqual({
      offeredCapabilities: ['clean', 'smudge', 'delay'],
      capabilities: ['clean', 'smudge'],
      delayOffered: true,
      requests: 0,
      failedRequests: 0,
    });
  });

  it('delays smudges when the handlers can: status=delayed, the ready list, then the file again with no content', async () => {
    const kept = new Map<string, Uint8Array>();
    const readyOrder: string[] = [];
    const handlers: FilterHandlers = {
      clean: reverser.clean,
      smudge: async (request) => {
        const bytes = await consume(request.content);
        return reversed(bytes.length === 0 ? kept.get(request.pathname)! : bytes);
      },
      delay: {
        // Delays everything whose content starts with "slow"; keeps it for the content-less second request.
        begin: async ({ pathname, content: c }) => {
          if (!Buffer.from(c).toString('latin1').startsWith('slow')) return false;
          kept.set(pathname, c);
          readyOrder.push(pathname);
          return true;
        },
        available: async () => readyOrder.splice(0),
      },
    };
    const input = Buffer.concat([
      HANDSHAKE,
      request('smudge', 'a', Buffer.from('slow a'), 'can-delay=1'),
      request('smudge', 'b', Buffer.from('fast b'), 'can-delay=1'),
      list('command=list_available_blobs'),
      request('smudge', 'a', new Uint8Array(0)),
      list('command=list_available_blobs'),
    ]);
    const { output, summary, errors } = await serve(input, handlers);
    expect(errors).toEqual([]);
    expect(summary.capabilities).toEqual(['clean', 'smudge', 'delay']);
    const s = sections(output);
    expect(texts(s[1])).toEqual(['capability=clean', 'capability=smudge', 'capability=delay']);
    expect(texts(s[2])).toEqual(['status=delayed']); // a: later
    expect(texts(s[3])).toEqual(['status=success']); // b: now
    expect(Buffer.concat(s[4]!).toString()).toBe('b tsaf');
    expect(s[5]).toEqual([]);
    expect(texts(s[6])).toEqual(['pathname=a']); // the ready list
    expect(texts(s[7])).toEqual(['status=success']);
    expect(texts(s[8])).toEqual(['status=success']); // a, asked again without content
    expect(Buffer.concat(s[9]!).toString()).toBe('a wols');
    expect(s[10]).toEqual([]);
    expect(s[11]).toEqual([]); // an empty ready list ends it
    expect(texts(s[12])).toEqual(['status=success']);
  });

  it('advertises only what git offers', async () => {
    const input = Buffer.concat([list('git-filter-client', 'version=2'), list('capability=clean')]);
    const { output, summary } = await serve(input, reverser);
    expect(texts(sections(output)[1])).toEqual(['capability=clean']);
    expect(summary.delayOffered).toBe(false);
  });

  it('answers several files of 0, 1, 65516, 65517 bytes and 5 MiB, both ways', async () => {
    const files = [0, 1, 65516, 65517, 5 * 1024 * 1024].map((size, i) => ({
      path: `dir/f${i}.bin`,
      bytes: randomBytes(size),
    }));
    const seen: FilterRequest[] = [];
    const handlers: FilterHandlers = {
      clean: async (r) => {
        seen.push(r);
        return reverser.clean(r);
      },
      smudge: reverser.smudge,
    };
    const input = Buffer.concat([
      HANDSHAKE,
      ...files.map((f) => request('clean', f.path, f.bytes)),
      ...files.map((f) => request('smudge', f.path, f.bytes, 'blob=0123abcd', 'ref=refs/heads/main', 'odd=a=b')),
    ]);
    const { output, summary, errors } = await serve(input, handlers);
    expect(errors).toEqual([]);
    expect(summary.requests).toBe(10);
    expect(seen.map((r) => r.pathname)).toEqual(files.map((f) => f.path));
    expect(seen[0]!.headers).toEqual({ command: 'clean', pathname: 'dir/f0.bin' });
    const s = sections(output).slice(2);
    expect(s).toHaveLength(30);
    for (let i = 0; i < 10; i++) {
      const file = files[i % 5]!;
      expect(texts(s[3 * i])).toEqual(['status=success']);
      const packets = s[3 * i + 1]!;
      expect(Buffer.concat(packets).equals(reversed(file.bytes))).toBe(true);
      // Full packets, however the response was chunked.
      for (const p of packets.slice(0, -1)) expect(p.length).toBe(65516);
      expect(s[3 * i + 2]).toEqual([]);
    }
  });

  it('passes every header, values with "=" included', async () => {
    let headers: Record<string, string> = {};
    const handlers = {
      ...reverser,
      smudge: async (r: FilterRequest) => {
        headers = r.headers;
        return new Uint8Array(0);
      },
    };
    await serve(Buffer.concat([HANDSHAKE, request('smudge', 'a b.bin', Buffer.from('x'), 'treeish=1=2')]), handlers);
    expect(headers).toEqual({ command: 'smudge', pathname: 'a b.bin', treeish: '1=2' });
  });

  it('answers status=error when the handler fails before any output, drains the content and carries on', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    const handlers: FilterHandlers = {
      clean: async (r) => {
        if (r.pathname === 'bad.bin') {
          // Reads a little, then fails: the server must skip the rest.
          for await (const _ of r.content) break;
          throw new Error('bad.bin: not a checkpoint');
        }
        return reverser.clean(r);
      },
      smudge: async () => {
        throw new Error('never read the content');
      },
    };
    const input = Buffer.concat([
      HANDSHAKE,
      request('clean', 'bad.bin', big),
      request('smudge', 'other.bin', big),
      request('clean', 'good.bin', Buffer.from('abc')),
    ]);
    const { output, summary, errors } = await serve(input, handlers);
    const s = sections(output).slice(2);
    expect(texts(s[0])).toEqual(['status=error']);
    expect(texts(s[1])).toEqual(['status=error']);
    expect(texts(s[2])).toEqual(['status=success']);
    expect(Buffer.concat(s[3]!).toString()).toBe('cba');
    expect(s).toHaveLength(5);
    expect(errors).toEqual(['bad.bin: bad.bin: not a checkpoint', 'other.bin: never read the content']);
    expect(summary).toMatchObject({ requests: 3, failedRequests: 2 });
  });

  it('answers status=error when a lazy response stream fails before its first chunk', async () => {
    const handlers = {
      ...reverser,
      clean: async (r: FilterRequest) => {
        await consume(r.content);
        return (async function* () {
          yield* [];
          throw new Error('store is full');
        })();
      },
    };
    const { output, errors } = await serve(
      Buffer.concat([HANDSHAKE, request('clean', 'x.bin', randomBytes(10))]),
      handlers,
    );
    expect(texts(sections(output)[2])).toEqual(['status=error']);
    expect(sections(output)).toHaveLength(3);
    expect(errors).toEqual(['x.bin: store is full']);
  });

  it('sends flush then status=error when the response stream fails midway', async () => {
    let closed = false;
    const handlers = {
      ...reverser,
      smudge: async (r: FilterRequest) => {
        await consume(r.content);
        return (async function* () {
          try {
            yield Buffer.alloc(2 * 1024 * 1024, 1);
            throw new Error('object 1234 is corrupt');
          } finally {
            closed = true;
          }
        })();
      },
    };
    const input = Buffer.concat([
      HANDSHAKE,
      request('smudge', 'm.bin', Buffer.from('manifest')),
      request('clean', 'n.bin', Buffer.from('ok')),
    ]);
    const { output, errors } = await serve(input, handlers);
    const s = sections(output).slice(2);
    expect(texts(s[0])).toEqual(['status=success']);
    expect(Buffer.concat(s[1]!).length).toBeGreaterThan(0);
    expect(texts(s[2])).toEqual(['status=error']);
    expect(texts(s[3])).toEqual(['status=success']);
    expect(Buffer.concat(s[4]!).toString()).toBe('ko');
    expect(errors).toEqual(['m.bin: object 1234 is corrupt']);
    expect(closed).toBe(true);
  });

  it('fails a response that reads the content after answering began', async () => {
    const handlers = {
      ...reverser,
      clean: async (r: FilterRequest) =>
        (async function* () {
          yield Buffer.from('header');
          yield await consume(r.content);
        })(),
    };
    const { output, errors } = await serve(
      Buffer.concat([HANDSHAKE, request('clean', 'x.bin', randomBytes(10))]),
      handlers,
    );
    expect(texts(sections(output).at(-1))).toEqual(['status=error']);
    expect(errors).toEqual(['x.bin: content was read after it was drained (the response had begun)']);
  });

  it('answers status=error to unknown commands and to commands git did not negotiate', async () => {
    const input = Buffer.concat([
      list('git-filter-client', 'version=2'),
      list('capability=clean'),
      request('frobnicate', 'a.bin', randomBytes(70_000)),
      request('smudge', 'b.bin', randomBytes(5)),
      request('clean', 'c.bin', Buffer.from('xy')),
    ]);
    const { output, errors } = await serve(input, reverser);
    const s = sections(output).slice(2);
    expect(texts(s[0])).toEqual(['status=error']);
    expect(texts(s[1])).toEqual(['status=error']);
    expect(texts(s[2])).toEqual(['status=success']);
    expect(Buffer.concat(s[3]!).toString()).toBe('yx');
    expect(errors).toEqual([
      'a.bin: git filter protocol: a.bin: unknown filter command "frobnicate"',
      'b.bin: git filter protocol: b.bin: unknown filter command "smudge"',
    ]);
  });

  it.each([
    ['a wrong greeting', list('git-filter-server', 'version=2'), /expected "git-filter-client"/],
    ['no version 2', list('git-filter-client', 'version=3'), /version=3; need version=2/],
    [
      'a request without =',
      Buffer.concat([HANDSHAKE, list('command=clean', 'pathname')]),
      /bad request line "pathname"/,
    ],
    ['a request without a pathname', Buffer.concat([HANDSHAKE, list('command=clean'), FLUSH]), /without a pathname/],
    [
      'input ending mid-request',
      Buffer.concat([HANDSHAKE, list('command=clean', 'pathname=a'), packet('xyz')]),
      /no flush/,
    ],
    ['input ending in the handshake', packet('git-filter-client\n'), /text packet/],
  ])('rejects %s with GIT_PROTOCOL', async (_, input, message) => {
    const error = await serve(input, reverser).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).code).toBe('GIT_PROTOCOL');
    expect((error as GitError).message).toMatch(message);
  });
});
