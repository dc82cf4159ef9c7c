// Running git: one-shot commands (no shell, exact bytes), repository look-ups, and a long-running
// `git cat-file --batch` reader. It must not parse porcelain output meant for people.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { GitError, UsageError } from '../errors.js';
import { StreamReader } from './stream-reader.js';

export interface RunGitOptions {
  /** The directory git runs in (it finds the repository from here). */
  cwd: string;
  /** Bytes for git's stdin; without it stdin is empty. */
  input?: Uint8Array | string;
  /** Variables added to (or, when `undefined`, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
  /** Exit codes that are answers rather than failures; `[0]` by default. */
  allowedExitCodes?: readonly number[];
}

export interface RunGitResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/**
 * Runs `git <args>` without a shell and collects its output. Rejects with GitError `GIT_FAILED` (naming the
 * command and git's first line of stderr) when the exit code is not allowed, or `GIT_NOT_A_REPO` when git says
 * it is not in a repository.
 *
 * @example
 * const { stdout } = await runGit(['rev-parse', 'HEAD'], { cwd: repo });
 * const head = stdout.toString().trim();
 */
export async function runGit(args: readonly string[], options: RunGitOptions): Promise<RunGitResult> {
  const child = spawnGit(args, options, options.input === undefined ? 'ignore' : 'pipe');
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  if (child.stdin !== null) {
    // git may exit without reading its input (on an error); the exit code tells that story, not EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
  }
  const exit = await waitForExit(child, args, options.cwd);
  const result: RunGitResult = {
    stdout: Buffer.concat(stdout),
    stderr: Buffer.concat(stderr).toString('utf8'),
    code: exit.code ?? -1,
  };
  if (exit.code === null || !(options.allowedExitCodes ?? [0]).includes(exit.code)) {
    throw gitFailure(args, options.cwd, exit.code === null ? `killed by ${exit.signal}` : `exit ${exit.code}`, result);
  }
  return result;
}

/**
 * The absolute path of the repository's git directory (`.git`, or `.git/worktrees/<name>` in a linked
 * worktree). Rejects with `GIT_NOT_A_REPO` outside a repository.
 *
 * @example
 * await resolveGitDir('/repo/src'); // '/repo/.git'
 */
export async function resolveGitDir(cwd: string): Promise<string> {
  return path.resolve(cwd, await revParse(cwd, '--absolute-git-dir'));
}

/**
 * The absolute path of the working tree's top directory. Rejects with `GIT_NOT_A_REPO` outside a repository
 * and `GIT_FAILED` in a bare one.
 *
 * @example
 * await resolveTopLevel('/repo/src'); // '/repo'
 */
export async function resolveTopLevel(cwd: string): Promise<string> {
  const top = await revParse(cwd, '--show-toplevel');
  if (top === '') throw new GitError('GIT_NOT_A_REPO', `${cwd}: not inside a working tree (a bare repository?)`);
  return path.resolve(cwd, top);
}

/**
 * The absolute path of the git directory shared by all worktrees of the repository (objects, refs, config).
 * Weft's store lives under it, so that every worktree sees the same objects.
 *
 * @example
 * const store = path.join(await resolveCommonDir(cwd), 'weft', 'objects');
 */
export async function resolveCommonDir(cwd: string): Promise<string> {
  // Relative to cwd since git 2.13; --path-format=absolute would need git 2.31.
  return path.resolve(cwd, await revParse(cwd, '--git-common-dir'));
}

async function revParse(cwd: string, option: string): Promise<string> {
  const { stdout } = await runGit(['rev-parse', option], { cwd });
  return stripNewline(stdout.toString('utf8'));
}

/** One object read by CatFileBatch. */
export interface CatFileObject {
  oid: string;
  type: string;
  sizeBytes: number;
  content: Buffer;
}

export interface CatFileBatchOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
}

/**
 * One long-running `git cat-file --batch` for reading many objects cheaply (manifests across history).
 * Requests are answered in order; they are pipelined to git, so issuing several before awaiting is faster.
 * Each object is read whole into memory: meant for manifests, not for large blobs. Call `close()` when done.
 *
 * @example
 * const batch = new CatFileBatch({ cwd: repo });
 * const manifest = await batch.read('HEAD:model.safetensors'); // undefined if missing
 * await batch.close();
 */
export class CatFileBatch {
  readonly #cwd: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #stdout: StreamReader;
  readonly #exit: Promise<Exit>;
  readonly #stderr: Buffer[] = [];
  #tail: Promise<unknown> = Promise.resolve();
  #broken: GitError | undefined;
  #closed = false;

  constructor(options: CatFileBatchOptions) {
    this.#cwd = options.cwd;
    this.#child = spawnGit(['cat-file', '--batch'], options, 'pipe') as ChildProcessWithoutNullStreams;
    this.#child.stdin.on('error', () => {});
    this.#child.stderr.on('data', (chunk: Buffer) => this.#stderr.push(chunk));
    this.#stdout = new StreamReader(this.#child.stdout);
    this.#exit = waitForExit(this.#child, ['cat-file', '--batch'], options.cwd);
    // A spawn failure is reported by the reads; do not let it go unhandled meanwhile.
    this.#exit.catch(() => {});
  }

  /**
   * The object that `revision` names (an object id or any revision such as `HEAD:path`), or `undefined` if
   * it does not exist. Rejects with GitError `GIT_FAILED` if git fails or the name is ambiguous.
   */
  read(revision: string): Promise<CatFileObject | undefined> {
    if (this.#closed) return Promise.reject(new Error('CatFileBatch.read after close()'));
    if (/[\n\r]/.test(revision) || revision === '') {
      return Promise.reject(new UsageError('USAGE', `invalid revision ${JSON.stringify(revision)}`));
    }
    this.#child.stdin.write(`${revision}\n`);
    const result = this.#tail.then(() => this.#readResponse(revision));
    this.#tail = result.catch(() => {});
    return result;
  }

  /** Ends the git process after the pending reads are answered. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    this.#child.stdin.end();
    try {
      await this.#exit;
    } catch (error) {
      if (this.#broken === undefined) throw error;
    }
  }

  async #readResponse(revision: string): Promise<CatFileObject | undefined> {
    if (this.#broken !== undefined) throw this.#broken;
    let answer: CatFileObject | 'missing' | 'ambiguous';
    try {
      answer = await this.#readAnswer();
    } catch (error) {
      // The stream is out of step from here on: fail every later read the same way.
      this.#broken = error instanceof GitError ? error : new GitError('GIT_FAILED', String(error), { cause: error });
      throw this.#broken;
    }
    if (answer === 'ambiguous') {
      throw new GitError('GIT_FAILED', `${this.#cwd}: revision ${JSON.stringify(revision)} is ambiguous`);
    }
    return answer === 'missing' ? undefined : answer;
  }

  async #readAnswer(): Promise<CatFileObject | 'missing' | 'ambiguous'> {
    const line = await this.#readLine();
    if (line === undefined) throw await this.#failure('git cat-file ended early');
    const fields = line.split(' ');
    // "<name> missing" / "<name> ambiguous"; the name is whatever was asked, so look at the last field.
    if (fields.length >= 2 && (fields.at(-1) === 'missing' || fields.at(-1) === 'ambiguous')) {
      return fields.at(-1) as 'missing' | 'ambiguous';
    }
    const [oid, type, size] = fields;
    if (fields.length !== 3 || !/^[0-9a-f]{40,64}$/.test(oid!) || !/^\d+$/.test(size!)) {
      throw new GitError('GIT_PROTOCOL', `git cat-file: unexpected answer ${JSON.stringify(line)}`);
    }
    const sizeBytes = Number(size);
    if (!(await this.#stdout.fill(sizeBytes + 1))) throw await this.#failure('git cat-file ended inside an object');
    // A copy: a view would pin the pipe's chunk, and callers may keep manifests around.
    const content = Buffer.from(this.#stdout.take(sizeBytes));
    this.#stdout.skip(1);
    return { oid: oid!, type: type!, sizeBytes, content };
  }

  async #readLine(): Promise<string | undefined> {
    for (;;) {
      const at = this.#stdout.indexOf(0x0a);
      if (at >= 0) {
        const line = this.#stdout.take(at).toString('utf8');
        this.#stdout.skip(1);
        return line;
      }
      if (!(await this.#stdout.fill(this.#stdout.buffered + 1))) return undefined;
    }
  }

  /** The error for git's stdout ending early: the process's own failure if it has one. */
  async #failure(what: string): Promise<GitError> {
    try {
      await this.#exit;
    } catch (error) {
      if (error instanceof GitError) return error;
    }
    const stderr = Buffer.concat(this.#stderr).toString('utf8');
    return gitFailure(['cat-file', '--batch'], this.#cwd, what, { stdout: Buffer.alloc(0), stderr, code: -1 });
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function spawnGit(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string | undefined> },
  stdin: 'pipe' | 'ignore',
) {
  let env: NodeJS.ProcessEnv = process.env;
  if (options.env !== undefined) {
    env = { ...process.env };
    for (const [key, value] of Object.entries(options.env)) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
  }
  return spawn('git', args, { cwd: options.cwd, env, stdio: [stdin, 'pipe', 'pipe'], windowsHide: true });
}

/** Resolves when the child has exited and its pipes are closed; rejects if it could not be started. */
function waitForExit(child: ReturnType<typeof spawnGit>, args: readonly string[], cwd: string): Promise<Exit> {
  return new Promise((resolve, reject) => {
    let startFailure: Promise<GitError> | undefined;
    // A child that cannot start emits 'error', then 'close' with a negative code.
    child.once('error', (error: NodeJS.ErrnoException) => {
      startFailure = explainSpawnError(error, args, cwd);
    });
    child.once('close', (code, signal) => {
      if (startFailure === undefined) resolve({ code, signal });
      else void startFailure.then(reject);
    });
  });
}

async function explainSpawnError(error: NodeJS.ErrnoException, args: readonly string[], cwd: string) {
  // spawn reports a missing cwd as ENOENT too, which reads like "git is not installed".
  const cwdExists = await stat(cwd).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const why = !cwdExists
    ? `${cwd} is not a directory`
    : error.code === 'ENOENT'
      ? 'git is not installed or not on PATH'
      : error.message;
  return new GitError('GIT_FAILED', `git ${args.join(' ')}: cannot start: ${why}`, { cause: error });
}

function gitFailure(args: readonly string[], cwd: string, how: string, result: RunGitResult): GitError {
  const firstLine = result.stderr.split('\n').find((line) => line.trim() !== '') ?? '(no message)';
  const code = /not a git repository|can only be used inside a git repository/i.test(result.stderr)
    ? 'GIT_NOT_A_REPO'
    : 'GIT_FAILED';
  return new GitError(code, `git ${args.join(' ')} failed in ${cwd} (${how}): ${firstLine.trim()}`);
}

function stripNewline(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}
