// Running a user's evaluator on one batch (the protocol of README "Evaluators"): `sh -c <command>` in the repo's
// top level with WEFT_MODEL and WEFT_EXAMPLES set, one JSON line `{"id": …, "score": …}` per example back.

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { SuiteConfig } from '../eval/gate-config.js';

/** An evaluator printing more than this per batch is stopped (a runaway loop must not exhaust memory). */
const MAX_EVALUATOR_OUTPUT_BYTES = 64 * 1024 * 1024;
/** How much of the evaluator's stderr is kept for the error message. */
const STDERR_TAIL_BYTES = 4096;

export interface EvaluatorBatch {
  suite: SuiteConfig;
  /** 1-based number of this evaluator call for the suite, for messages. */
  batchNumber: number;
  ids: readonly string[];
  /** Value of WEFT_MODEL. */
  modelPath: string;
  /** The repository's top level: the command's working directory. */
  cwd: string;
  /** A private folder for the ids file. */
  tempDir: string;
  env: Record<string, string | undefined>;
  /** Receives the evaluator's stderr as it arrives (for `--verbose`); it is otherwise kept only for errors. */
  onStderr?: ((text: string) => void) | undefined;
}

function failure(batch: EvaluatorBatch, message: string): UsageError {
  return new UsageError(
    'EVALUATOR_FAILED',
    `suite ${batch.suite.name}, batch ${batch.batchNumber} (${batch.ids.length} examples): ${message}`,
  );
}

/**
 * Runs the suite's command on one batch and returns the scores in the order of `ids`. Throws UsageError
 * EVALUATOR_FAILED naming the suite, the batch and the output line for: a non-zero exit or a signal, a timeout
 * (the whole process group is killed), a line that is not `{"id": …, "score": …}`, an unknown, repeated or
 * missing id, or a score that is not a number inside score_range.
 *
 * @example const scores = await runEvaluatorBatch({ suite, batchNumber: 1, ids, modelPath, cwd, tempDir, env });
 */
export async function runEvaluatorBatch(batch: EvaluatorBatch): Promise<number[]> {
  const { suite, ids } = batch;
  const examplesFile = join(batch.tempDir, `${suite.name}-${batch.batchNumber}.ids`);
  await writeFile(examplesFile, `${ids.join('\n')}\n`);
  const child = spawn('sh', ['-c', suite.command], {
    cwd: batch.cwd,
    env: { ...batch.env, WEFT_MODEL: batch.modelPath, WEFT_EXAMPLES: examplesFile, WEFT_SUITE: suite.name },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a timeout kills the evaluator's children too
  });
  const out: Buffer[] = [];
  let outBytes = 0;
  let overflow = false;
  let stderrTail = '';
  let timedOut = false;
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    outBytes += chunk.length;
    if (outBytes > MAX_EVALUATOR_OUTPUT_BYTES) {
      overflow = true;
      killGroup();
    } else out.push(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    batch.onStderr?.(chunk.toString('utf8'));
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
  });
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, suite.timeoutSeconds * 1000);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  }).finally(() => clearTimeout(timer));
  const lastStderr = stderrTail.trim().split('\n').at(-1) ?? '';
  const said = lastStderr ? `; its last stderr line: ${lastStderr}` : '';
  if (timedOut)
    throw failure(batch, `timed out after ${suite.timeoutSeconds} s (the suite's timeout) and was killed${said}`);
  if (overflow) throw failure(batch, `printed more than ${MAX_EVALUATOR_OUTPUT_BYTES} bytes and was stopped`);
  if (exit.code !== 0) {
    const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    throw failure(batch, `the command ${JSON.stringify(suite.command)} ${how}${said}`);
  }
  return parseEvaluatorOutput(batch, Buffer.concat(out).toString('utf8'));
}

function parseEvaluatorOutput(batch: EvaluatorBatch, text: string): number[] {
  const { ids, suite } = batch;
  const [lo, hi] = suite.scoreRange;
  const position = new Map(ids.map((id, i) => [id, i]));
  const scores = new Array<number | undefined>(ids.length).fill(undefined);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const at = (message: string) => failure(batch, `output line ${i + 1}: ${message}`);
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw at(
        `not a JSON line {"id": …, "score": …}: ${JSON.stringify(line.slice(0, 80))} (log to stderr, not stdout)`,
      );
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw at(`expected {"id": …, "score": …}, got ${JSON.stringify(line.slice(0, 80))}`);
    }
    const { id, score } = value as { id?: unknown; score?: unknown };
    if (typeof id !== 'string' && typeof id !== 'number')
      throw at(`"id" must be a string or a number, got ${JSON.stringify(id)}`);
    const key = String(id);
    const index = position.get(key);
    if (index === undefined) throw at(`id ${JSON.stringify(key)} was not asked for in this batch`);
    if (scores[index] !== undefined) throw at(`id ${JSON.stringify(key)} is scored twice`);
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      throw at(`id ${JSON.stringify(key)}: score ${JSON.stringify(score)} is not a finite number`);
    }
    if (score < lo || score > hi)
      throw at(`id ${JSON.stringify(key)}: score ${score} is outside score_range [${lo}, ${hi}]`);
    scores[index] = score;
  }
  const missing = ids.filter((_, i) => scores[i] === undefined);
  if (missing.length > 0) {
    const shown = missing
      .slice(0, 5)
      .map((m) => JSON.stringify(m))
      .join(', ');
    throw failure(
      batch,
      `no score for ${missing.length} of ${ids.length} ids (${shown}${missing.length > 5 ? ', …' : ''})`,
    );
  }
  return scores as number[];
}
