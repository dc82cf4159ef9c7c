// `weft merge-files`: merge checkpoint files outside a repository with one method, or a mergekit YAML config.
// Parses flags and renders; the work is mergeFiles in src/ops/merge-files.ts.

import { resolve } from 'node:path';
import {
  type Dtype,
  MERGE_METHOD_NAMES,
  type MergeFilesOptions,
  mergeFiles,
  parseParamArgs,
  readMergekitConfig,
  UsageError,
} from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { formatBytes, progressReporter } from './render.js';

export const mergeFilesCommand: CommandSpec = {
  name: 'merge-files',
  summary: 'merge checkpoint files with a merge method (or a mergekit YAML config) into safetensors',
  usage: '--method <m> [--base <file>] <file>… -o <out> [--param k=v]…  |  --config <mergekit.yml> -o <out>',
  details:
    `Methods: ${MERGE_METHOD_NAMES.join(', ')}.\n` +
    'Parameters: --param weight=1 --param density=0.5 (a JSON list is a layer gradient, a JSON list of\n' +
    '{"filter","value"} objects a per-tensor rule list). Everything is checked before any tensor is read.\n' +
    'Outputs over --max-shard-size bytes are written as a folder of shards with model.safetensors.index.json.',
  options: {
    method: { type: 'string', short: 'm', description: '<name> the merge method' },
    base: { type: 'string', description: '<file> the base model (a file or a folder of shards)' },
    output: { type: 'string', short: 'o', description: '<out> the merged safetensors file' },
    param: { type: 'string', multiple: true, description: '<k=v> a merge parameter (repeatable)' },
    config: { type: 'string', description: '<file> a mergekit YAML config instead of --method and files' },
    seed: { type: 'string', description: '<n> seed of the random sparsifiers (default 0)' },
    'out-dtype': { type: 'string', description: '<dtype> output dtype (F32, F16, BF16); default: the base’s' },
    'max-shard-size': { type: 'string', description: '<bytes> shard outputs bigger than this (default 5e9)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values, positionals }) {
    const output = values.output;
    if (typeof output !== 'string') throw new UsageError('USAGE', 'merge-files needs -o <out>');
    const at = (p: string) => resolve(io.cwd, p);
    let options: MergeFilesOptions;
    if (typeof values.config === 'string') {
      if (values.method !== undefined || values.base !== undefined || positionals.length > 0 || values.param) {
        throw new UsageError('USAGE', 'merge-files --config takes no --method, --base, --param or model files');
      }
      options = await readMergekitConfig({ path: at(values.config), output: at(output), cwd: io.cwd });
    } else {
      if (typeof values.method !== 'string')
        throw new UsageError('USAGE', 'merge-files needs --method <m> or --config <file>');
      if (positionals.length === 0) throw new UsageError('USAGE', 'merge-files needs at least one model file');
      options = {
        method: values.method,
        models: positionals.map(at),
        output: at(output),
        params: parseParamArgs((values.param as string[] | undefined) ?? []),
      };
      if (typeof values.base === 'string') options.base = at(values.base);
    }
    if (typeof values.seed === 'string') {
      const seed = Number(values.seed);
      if (!Number.isSafeInteger(seed) || seed < 0)
        throw new UsageError('USAGE', `--seed ${values.seed} must be a non-negative integer`);
      options.seed = seed;
    }
    if (typeof values['out-dtype'] === 'string') options.outDtype = values['out-dtype'].toUpperCase() as Dtype;
    if (typeof values['max-shard-size'] === 'string') {
      const n = Number(values['max-shard-size']);
      if (!Number.isSafeInteger(n) || n <= 0) {
        throw new UsageError(
          'USAGE',
          `--max-shard-size ${values['max-shard-size']} must be a positive whole number of bytes`,
        );
      }
      options.maxShardBytes = n;
    }
    const warnings: string[] = [];
    options.onWarning = (message) => warnings.push(message);
    const progress = progressReporter(io, 'merging');
    options.onProgress = (done, total) => progress.update(done, total);
    const result = await mergeFiles(options);
    progress.end();
    for (const w of warnings) await writeOut(io.stderr, `weft: warning: ${w}\n`);
    if (values.json) await printJson(io, result);
    else {
      await writeOut(
        io.stdout,
        `merged ${result.tensors} tensors with ${result.method} into ${result.files.join(', ')} (${formatBytes(result.totalBytes)})\n`,
      );
    }
    return 0;
  },
};
