// The server side of git's long-running filter process protocol, version 2 (gitattributes(5), "Long Running
// Filter Process"): handshake, capabilities, then clean/smudge requests answered by the caller's handlers.
// It must not know what the content means; `delay` is offered when the caller's handlers can delay smudges.

import type { Readable, Writable } from 'node:stream';
import { GitError } from '../errors.js';
import { type ContentAllocator, type PacketContent, PktLineReader, PktLineWriter } from './pkt-line.js';

/** The capabilities this server can take on; it advertises whichever of them git offers. */
const SERVED_CAPABILITIES = ['clean', 'smudge', 'delay'] as const;
/** Largest content of a smudge request held to decide whether to delay it (a manifest; anything larger is not). */
const MAX_DELAY_CONTENT_BYTES = 64 * 1024 * 1024;

/** One file git asks the filter to convert. */
export interface FilterRequest {
  /** `clean` (worktree → repository, `git add`) or `smudge` (repository → worktree, checkout). */
  command: string;
  /** The path relative to the repository root. */
  pathname: string;
  /** Every `key=value` git sent with the request, `command` and `pathname` included (e.g. `blob`, `ref`). */
  headers: Record<string, string>;
  /**
   * The file's bytes as large chunks. Read it to the end before the response produces its first byte: git does
   * not read the answer until it has sent all of the content. What is left unread is discarded.
   */
  content: AsyncIterable<Uint8Array>;
}

/** The converted bytes: all at once, or streamed (streamed responses are never held in memory). */
export type FilterResponse = Uint8Array | AsyncIterable<Uint8Array>;

/** What Weft does with each file. A rejection (or a response stream that throws) reports `status=error`. */
export interface FilterHandlers {
  clean(request: FilterRequest): Promise<FilterResponse>;
  smudge(request: FilterRequest): Promise<FilterResponse>;
  /**
   * git's `delay` (gitattributes(5), "Delay"): a checkout may answer "later" for a file and let git go on, so
   * slow work (downloads) for many files runs at once. Without it, `delay` is not advertised.
   */
  delay?: FilterDelayHandlers;
}

/** What a filter needs to delay smudges. */
export interface FilterDelayHandlers {
  /**
   * Decides whether to delay this smudge (its whole content given): true means the work has started and the
   * pathname will be reported by `available`; git then asks for it again with no content, so keep the content.
   */
  begin(request: { pathname: string; content: Uint8Array }): Promise<boolean>;
  /** Pathnames whose delayed work is done, waiting until at least one is when some is still running; [] ends it. */
  available(): Promise<string[]>;
}

export interface ServeFilterProcessOptions {
  /** What git writes (the filter's stdin). */
  /** A stream, or a blocking descriptor read directly (fd 0 of a filter process). */
  input: Readable | { fd: number };
  /** Where git reads (the filter's stdout): nothing but protocol may be written to it. */
  output: Writable;
  handlers: FilterHandlers;
  /** Allocates the buffers request content is delivered in (see ContentAllocator). */
  allocateContent?: ContentAllocator;
  /** Receives each chunk of a streamed response once git's pipe has its bytes (for reuse). */
  releaseResponse?: (chunk: Uint8Array) => void;
  /**
   * Called once per failed request (the handler's error, or a GitError for an unknown command). By default
   * the message is written to stderr as one line, `weft: <message>`, which git shows to the user.
   */
  onError?: (error: unknown, request: FilterRequest) => void;
}

/** What happened in one session, for logs and tests. */
export interface FilterSessionSummary {
  /** Capabilities git offered (`clean`, `smudge`, `delay` from git 2.15 on). */
  offeredCapabilities: string[];
  /** Capabilities this server took on. */
  capabilities: string[];
  /** Whether git offered `delay` (not used: answers are always immediate). */
  delayOffered: boolean;
  requests: number;
  failedRequests: number;
}

/** Marks an error thrown by the handler's response stream, as opposed to one writing to git. */
class ResponseStreamError {
  constructor(readonly error: unknown) {}
}

/**
 * Serves git's filter process protocol on `input`/`output` until git closes the input, calling `handlers` for
 * each file in turn. Resolves with a summary at a clean end of input; rejects with a GitError `GIT_PROTOCOL`
 * on a protocol violation or when writing to git fails (git then stops the filter and reports it).
 *
 * @example
 * // .git/config: [filter "weft"] process = weft filter-process; required = true
 * await serveFilterProcess({
 *   input: process.stdin,
 *   output: process.stdout,
 *   handlers: { clean: async (r) => manifestOf(r.content), smudge: async (r) => checkoutOf(r.content) },
 * });
 */
export async function serveFilterProcess(options: ServeFilterProcessOptions): Promise<FilterSessionSummary> {
  const reader = new PktLineReader(options.input);
  const writer = new PktLineWriter(options.output);
  const onError = options.onError ?? reportToStderr;

  const welcome = await reader.readTextListUntilFlush();
  if (welcome[0] !== 'git-filter-client') {
    throw protocolError(`expected "git-filter-client" to open the handshake, got ${JSON.stringify(welcome[0])}`);
  }
  const versions = welcome.slice(1).filter((line) => line.startsWith('version='));
  if (!versions.includes('version=2')) {
    throw protocolError(`git offers filter protocol ${versions.join(', ') || 'without a version'}; need version=2`);
  }
  await writer.writeText('git-filter-server');
  await writer.writeText('version=2');
  await writer.writeFlush();

  const offered = (await reader.readTextListUntilFlush())
    .filter((line) => line.startsWith('capability='))
    .map((line) => line.slice('capability='.length));
  const capabilities: string[] = SERVED_CAPABILITIES.filter(
    (capability) => offered.includes(capability) && (capability !== 'delay' || options.handlers.delay !== undefined),
  );
  for (const capability of capabilities) await writer.writeText(`capability=${capability}`);
  await writer.writeFlush();

  const summary: FilterSessionSummary = {
    offeredCapabilities: offered,
    capabilities,
    delayOffered: offered.includes('delay'),
    requests: 0,
    failedRequests: 0,
  };
  while (!(await reader.atEof())) {
    const headers = parseHeaders(await reader.readTextListUntilFlush());
    const command = headers.command!;
    summary.requests++;
    if (command === 'list_available_blobs') {
      // Only sent to filters that took on `delay`; without delayed work the answer is "nothing", which ends it.
      const ready =
        capabilities.includes('delay') && options.handlers.delay ? await options.handlers.delay.available() : [];
      for (const path of ready) await writer.writeText(`pathname=${path}`);
      await writer.writeFlush();
      await writer.writeText('status=success');
      await writer.writeFlush();
      continue;
    }
    const pathname = headers.pathname;
    if (pathname === undefined) throw protocolError(`"${command}" request without a pathname`);
    let content = reader.readContent(options.allocateContent);
    if (
      command === 'smudge' &&
      headers['can-delay'] === '1' &&
      capabilities.includes('delay') &&
      options.handlers.delay
    ) {
      // Decide on the whole content when it is small (a manifest); a large file is never delayed. A delayed answer
      // carries no content; git asks again later, without content.
      const peeked = await peekContent(content);
      if (peeked.whole && (await options.handlers.delay.begin({ pathname, content: peeked.whole }))) {
        await writer.writeText('status=delayed');
        await writer.writeFlush();
        continue;
      }
      content = peeked.replay;
    }
    const request: FilterRequest = { command, pathname, headers, content };
    const ok = await serveRequest(request, content, capabilities, options, writer, onError);
    if (!ok) summary.failedRequests++;
  }
  return summary;
}

/**
 * Reads a request's content up to MAX_DELAY_CONTENT_BYTES: `whole` when it ended within that (the bytes), and in
 * any case `replay`, a content that yields what was read and then the rest, for the handler.
 */
async function peekContent(content: PacketContent): Promise<{ whole?: Uint8Array; replay: PacketContent }> {
  const parts: Uint8Array[] = [];
  let size = 0;
  const it = content[Symbol.asyncIterator]();
  let ended = false;
  while (size <= MAX_DELAY_CONTENT_BYTES) {
    const next = await it.next();
    if (next.done) {
      ended = true;
      break;
    }
    parts.push(new Uint8Array(next.value)); // a copy: the chunk's buffer may be reused
    size += next.value.length;
  }
  let whole: Uint8Array | undefined;
  if (ended) {
    whole = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      whole.set(p, at);
      at += p.length;
    }
  }
  const replay = {
    async *[Symbol.asyncIterator]() {
      yield* parts;
      if (!ended) {
        for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
      }
    },
    // What the handler did not read is discarded from the underlying section.
    drain: async () => (ended ? 0 : content.drain()),
  };
  return { ...(whole ? { whole } : {}), replay: replay as unknown as PacketContent };
}

/** Answers one request; returns whether it succeeded. Rejects only on protocol or output failures. */
async function serveRequest(
  request: FilterRequest,
  content: PacketContent,
  capabilities: readonly string[],
  { handlers, releaseResponse }: Pick<ServeFilterProcessOptions, 'handlers' | 'releaseResponse'>,
  writer: PktLineWriter,
  onError: (error: unknown, request: FilterRequest) => void,
): Promise<boolean> {
  const fail = async (error: unknown) => {
    await content.drain();
    onError(error, request);
    await writer.writeText('status=error');
    await writer.writeFlush();
    return false;
  };
  const { command } = request;
  if ((command !== 'clean' && command !== 'smudge') || !capabilities.includes(command)) {
    return await fail(protocolError(`${request.pathname}: unknown filter command "${command}"`));
  }

  let first: IteratorResult<Uint8Array> | undefined;
  let rest: AsyncIterator<Uint8Array> | undefined;
  try {
    const response = await handlers[command](request);
    if (response instanceof Uint8Array) {
      first = { done: false, value: response };
    } else if (response !== null && typeof response === 'object' && Symbol.asyncIterator in response) {
      // Pull the first chunk before committing to success: a lazy generator fails here, while nothing is sent.
      rest = response[Symbol.asyncIterator]();
      first = await rest.next();
    } else {
      throw new TypeError(`${request.pathname}: the ${command} handler returned neither bytes nor a byte stream`);
    }
  } catch (error) {
    return await fail(error);
  }

  try {
    // git reads nothing until its content is sent: finish it before answering.
    await content.drain();
    await writer.writeText('status=success');
    await writer.writeFlush();
  } catch (error) {
    await closeQuietly(rest);
    throw error;
  }
  try {
    await writer.writeContentStream(guardedChunks(first, rest), releaseResponse);
  } catch (error) {
    if (!(error instanceof ResponseStreamError)) throw error;
    onError(error.error, request);
    await writer.writeFlush();
    await writer.writeText('status=error');
    await writer.writeFlush();
    return false;
  }
  await writer.writeFlush();
  // An empty list keeps status=success.
  await writer.writeFlush();
  return true;
}

/**
 * The response's chunks, with the stream's own errors wrapped so they are told apart from output errors. If
 * writing stops early, the response stream is closed (its `finally` blocks run).
 */
async function* guardedChunks(
  first: IteratorResult<Uint8Array>,
  rest: AsyncIterator<Uint8Array> | undefined,
): AsyncGenerator<Uint8Array> {
  let step = first;
  let settled = false;
  try {
    while (!step.done) {
      yield step.value;
      if (rest === undefined) break;
      try {
        step = await rest.next();
      } catch (error) {
        settled = true;
        throw new ResponseStreamError(error);
      }
    }
    settled = true;
  } finally {
    if (!settled) await closeQuietly(rest);
  }
}

/** Closes an abandoned response stream; an error doing so would only hide the write failure being reported. */
async function closeQuietly(iterator: AsyncIterator<Uint8Array> | undefined): Promise<void> {
  try {
    await iterator?.return?.();
  } catch {
    // The failure already propagating is the one worth reporting.
  }
}

function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    // Keys never hold "=", values may (gitattributes(5)).
    const at = line.indexOf('=');
    if (at <= 0) throw protocolError(`bad request line ${JSON.stringify(line)}: expected key=value`);
    headers[line.slice(0, at)] = line.slice(at + 1);
  }
  if (headers.command === undefined) {
    throw protocolError(`request without a command (got ${JSON.stringify(lines.join(' '))})`);
  }
  return headers;
}

function protocolError(message: string): GitError {
  return new GitError('GIT_PROTOCOL', `git filter protocol: ${message}`);
}

/** The default error report: one line on stderr, which git relays to the user. */
function reportToStderr(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`weft: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
}
