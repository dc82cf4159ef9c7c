// Tests for eval-runner.ts: the evaluator protocol with tiny `node -e` evaluators — every failure names the
// suite, the batch and the output line.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import type { SuiteConfig } from '../eval/gate-config.js';
import { runEvaluatorBatch } from './eval-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-eval-runner-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An evaluator that prints `body(id)` for every id of the batch; `body` is JavaScript with double quotes only. */
function nodeEvaluator(perId: string, after = ''): string {
  return `node -e 'const ids = require("fs").readFileSync(process.env.WEFT_EXAMPLES, "utf8").split("\\n").filter(Boolean); for (const id of ids) { ${perId} } ${after}'`;
}

function run(
  command: string,
  options: {
    ids?: string[];
    timeoutSeconds?: number;
    scoreRange?: [number, number];
    env?: Record<string, string>;
  } = {},
) {
  const suite: SuiteConfig = {
    name: 'toy',
    command,
    examples: { count: 3 },
    scoreRange: options.scoreRange ?? [0, 1],
    role: 'target',
    minImprovement: 0,
    tolerance: 0,
    timeoutSeconds: options.timeoutSeconds ?? 20,
    modules: [],
  };
  return runEvaluatorBatch({
    suite,
    batchNumber: 4,
    ids: options.ids ?? ['0', '1', '2'],
    modelPath: '/models/m.safetensors',
    cwd: dir,
    tempDir: dir,
    env: { ...process.env, ...options.env },
  });
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const e = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(e).toBeInstanceOf(UsageError);
  expect((e as UsageError).code).toBe('EVALUATOR_FAILED');
  return (e as Error).message;
}

describe('runEvaluatorBatch', () => {
  it('returns scores in the order asked, whatever the output order; ids may be numbers', async () => {
    const cmd = `node -e 'console.log(JSON.stringify({id: 2, score: 0.5})); console.log(""); console.log(JSON.stringify({id: "0", score: 1})); console.log(JSON.stringify({id: "1", score: 0}))'`;
    expect(await run(cmd)).toEqual([1, 0, 0.5]);
  });

  it('passes WEFT_MODEL and WEFT_EXAMPLES and runs in the repo top level', async () => {
    const cmd = nodeEvaluator(
      'console.log(JSON.stringify({ id, score: process.env.WEFT_MODEL === "/models/m.safetensors" && process.cwd() === process.env.EXPECT_CWD ? 1 : 0 }));',
    );
    expect(await run(cmd, { env: { EXPECT_CWD: dir } })).toEqual([1, 1, 1]);
  });

  it('names the batch and the exit code when the evaluator crashes', async () => {
    const message = await failure(run(`node -e 'console.error("CUDA out of memory"); process.exit(7)'`));
    expect(message).toMatch(
      /^suite toy, batch 4 \(3 examples\): .*exited with code 7; its last stderr line: CUDA out of memory/,
    );
  });

  it('names the line of an id that was not asked for, and of a duplicate', async () => {
    expect(await failure(run(nodeEvaluator('console.log(JSON.stringify({ id: id + "x", score: 1 }));')))).toMatch(
      /batch 4 .*output line 1: id "0x" was not asked for/,
    );
    expect(await failure(run(nodeEvaluator('console.log(JSON.stringify({ id: "0", score: 1 }));')))).toMatch(
      /output line 2: id "0" is scored twice/,
    );
  });

  it('names the missing ids', async () => {
    expect(await failure(run(nodeEvaluator('if (id !== "1") console.log(JSON.stringify({ id, score: 1 }));')))).toMatch(
      /no score for 1 of 3 ids \("1"\)/,
    );
  });

  it('refuses NaN (JSON null or a bare NaN), non-numbers, and scores outside score_range', async () => {
    expect(await failure(run(nodeEvaluator('console.log(JSON.stringify({ id, score: NaN }));')))).toMatch(
      /output line 1: id "0": score null is not a finite number/,
    );
    expect(await failure(run(nodeEvaluator('console.log("{\\"id\\": \\"" + id + "\\", \\"score\\": NaN}");')))).toMatch(
      /output line 1: not a JSON line/,
    );
    expect(await failure(run(nodeEvaluator('console.log(JSON.stringify({ id, score: "1" }));')))).toMatch(
      /score "1" is not a finite number/,
    );
    expect(
      await failure(
        run(nodeEvaluator('console.log(JSON.stringify({ id, score: id === "2" ? 3 : 1 }));'), { scoreRange: [0, 2] }),
      ),
    ).toMatch(/output line 3: id "2": score 3 is outside score_range \[0, 2\]/);
  });

  it('refuses log lines on stdout', async () => {
    expect(await failure(run(`node -e 'console.log("loading model...")'`))).toMatch(
      /output line 1: not a JSON line .*log to stderr/,
    );
  });

  it('kills the whole process group on timeout and says so', async () => {
    const started = Date.now();
    const message = await failure(run(`node -e 'setTimeout(() => {}, 60000)' & wait`, { timeoutSeconds: 0.5 }));
    expect(message).toMatch(/batch 4 .*timed out after 0.5 s/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
