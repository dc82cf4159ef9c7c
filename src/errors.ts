// The whole error vocabulary of Weft: one base class with a stable `code`, subclasses split by how a caller
// reacts. Expected outcomes (a merge conflict, a rejected gate) are values, never these exceptions.

/** Input bytes are bad; retrying will not help. */
export type FormatErrorCode =
  | 'FORMAT_TRUNCATED' // the data ends before a structure it declares
  | 'FORMAT_TRAILING_BYTES' // bytes after the last structure
  | 'FORMAT_LIMIT' // a declared size or count exceeds a limit (header length, tensor count, string length)
  | 'FORMAT_BAD_HEADER' // header is not valid JSON/UTF-8 or has the wrong structure
  | 'FORMAT_BAD_DTYPE' // an unknown or unsupported dtype
  | 'FORMAT_BAD_SHAPE' // a negative, non-integer or overflowing shape
  | 'FORMAT_BAD_OFFSETS' // offsets negative, out of order, overlapping, or not matching the shape
  | 'FORMAT_UNSAFE' // content that would need code execution (a pickle global outside the allow-list)
  | 'FORMAT_UNSUPPORTED' // valid but not supported (a legacy variant)
  | 'FORMAT_UNKNOWN' // no format module recognises the bytes
  | 'MANIFEST_INVALID'; // a manifest line does not parse or validate

/** An object is missing from, or corrupt in, the store. */
export type StoreErrorCode = 'STORE_MISSING' | 'STORE_CORRUPT' | 'STORE_IO';

/** Talking to git failed. */
export type GitErrorCode = 'GIT_FAILED' | 'GIT_PROTOCOL' | 'GIT_NOT_A_REPO';

/** Moving objects to or from a remote failed; `retryable` says whether trying again may help. */
export type RemoteErrorCode =
  | 'REMOTE_UNREACHABLE' // no answer, or a 5xx/429/timeout (retryable)
  | 'REMOTE_AUTH' // 401/403, no credentials
  | 'REMOTE_REJECTED' // the remote refused the request or answered nonsense
  | 'REMOTE_MISSING' // the remote does not hold an object
  | 'REMOTE_CORRUPT'; // the remote sent bytes that are not the object asked for (wrong hash or bad header)

/** The user asked for something that cannot be done as asked. */
export type UsageErrorCode = 'USAGE' | 'USAGE_NOT_FOUND' | 'CONFIG_INVALID' | 'EVALUATOR_FAILED';

export type ErrorCode = FormatErrorCode | StoreErrorCode | GitErrorCode | RemoteErrorCode | UsageErrorCode;

/** Where an error happened: named in the message, and kept as data for `--json`. */
export interface ErrorContext {
  file?: string;
  tensor?: string;
  cause?: unknown;
}

/** Base of every error Weft throws on purpose. `message` is one line, ready for a user. */
export class WeftError extends Error {
  readonly code: ErrorCode;
  readonly file: string | undefined;
  readonly tensor: string | undefined;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.file = context.file;
    this.tensor = context.tensor;
  }
}

export class FormatError extends WeftError {
  override readonly name = 'FormatError';
  declare readonly code: FormatErrorCode;
  constructor(code: FormatErrorCode, message: string, context?: ErrorContext) {
    super(code, message, context);
  }
}

export class StoreError extends WeftError {
  override readonly name = 'StoreError';
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, context?: ErrorContext) {
    super(code, message, context);
  }
}

export class GitError extends WeftError {
  override readonly name = 'GitError';
  declare readonly code: GitErrorCode;
  constructor(code: GitErrorCode, message: string, context?: ErrorContext) {
    super(code, message, context);
  }
}

export class RemoteError extends WeftError {
  override readonly name = 'RemoteError';
  declare readonly code: RemoteErrorCode;
  readonly retryable: boolean;
  constructor(code: RemoteErrorCode, message: string, context: ErrorContext & { retryable?: boolean } = {}) {
    super(code, message, context);
    this.retryable = context.retryable ?? false;
  }
}

export class UsageError extends WeftError {
  override readonly name = 'UsageError';
  declare readonly code: UsageErrorCode;
  constructor(code: UsageErrorCode, message: string, context?: ErrorContext) {
    super(code, message, context);
  }
}

/** Exit codes of every surface: 0 done, 1 "no", 2 bad input or usage, 3 internal bug. */
export const EXIT_OK = 0;
export const EXIT_NO = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERNAL = 3;

/** The exit code for an error: bad input/usage/missing data → 2, anything unplanned → 3. */
export function exitCodeOf(error: unknown): number {
  return error instanceof WeftError ? EXIT_BAD_INPUT : EXIT_INTERNAL;
}
