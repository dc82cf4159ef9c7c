// The shape of a CLI command: a declarative spec (name, summary, options) that drives parsing and --help, and a
// run function that parses nothing itself. Commands touch the world only through CliIO.

import type { Readable, Writable } from 'node:stream';
import { EXIT_BAD_INPUT, EXIT_INTERNAL, WeftError } from '../errors.js';

export interface CliIO {
  cwd: string;
  env: Record<string, string | undefined>;
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** True when stdin/stdout are this process's file descriptors 0 and 1. */
  processStdio: boolean;
  /** True when stderr is a terminal: progress is shown only then. */
  stderrIsTTY: boolean;
  /** The command line that runs this same Weft installation (node + script), for git config and hooks. */
  selfCommand: string;
}

export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
  multiple?: boolean;
  /** Shown in --help; for string options, the placeholder comes first: "<n> number of …". */
  description: string;
  default?: string | boolean;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  io: CliIO;
  values: OptionValues;
  positionals: string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Usage line after `weft <name>`, e.g. "<path> [--json] [--hash]". */
  usage: string;
  /** Longer help text shown after the usage line. */
  details?: string;
  options: Record<string, OptionSpec>;
  /** Hidden commands (plumbing run by git) are left out of `weft --help`. */
  hidden?: boolean;
  /** Returns the exit code: 0 done, 1 "no". Errors are thrown and mapped in main. */
  run(ctx: CommandContext): Promise<number>;
}

/** Writes text to a stream and waits until it is flushed to the OS when the stream asks to. */
export function writeOut(stream: Writable, text: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

/** Prints a value as one JSON document on stdout. */
export function printJson(io: CliIO, value: unknown): Promise<void> {
  return writeOut(io.stdout, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * How a command's failure is reported: one line for a WeftError (exit 2), a stack for anything else (an internal
 * error, exit 3). The text ends with a newline.
 */
export function describeFailure(error: unknown): { text: string; code: number } {
  if (error instanceof WeftError) return { text: `weft: ${error.message.split('\n')[0]}\n`, code: EXIT_BAD_INPUT };
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { text: `weft: internal error (please report): ${detail}\n`, code: EXIT_INTERNAL };
}
