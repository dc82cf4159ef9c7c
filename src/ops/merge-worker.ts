// Worker thread body for merge-files: merges one tensor with a registered method. It receives float32 arrays and
// answers with the merged array (moved, not copied); it touches no files.

import { parentPort } from 'node:worker_threads';
import { WeftError } from '../errors.js';
import type { MergeInputs } from '../merge/method.js';
import { getMergeMethod, runMerge } from '../merge/registry.js';

/** A message from mergeFiles. */
export interface MergeRequest {
  seq: number;
  method: string;
  inputs: MergeInputs;
}

/** The answer: the merged values, or an error described well enough to be rebuilt on the other side. */
export type MergeReply =
  | { seq: number; values: Float32Array }
  | { seq: number; error: { message: string; code?: string; tensor?: string } };

parentPort?.on('message', (request: MergeRequest) => {
  try {
    const method = getMergeMethod(request.method);
    if (!method) throw new Error(`unknown merge method ${request.method}`);
    const values = runMerge(method, request.inputs);
    parentPort!.postMessage({ seq: request.seq, values } satisfies MergeReply, [values.buffer as ArrayBuffer]);
  } catch (e) {
    const error: { message: string; code?: string; tensor?: string } = { message: (e as Error).message };
    if (e instanceof WeftError) {
      error.code = e.code;
      if (e.tensor !== undefined) error.tensor = e.tensor;
    }
    parentPort!.postMessage({ seq: request.seq, error } satisfies MergeReply);
  }
});
