// `weft stats combine|id|show`: statistics files for the data-aware merges (fisher, regmean). Parses flags and
// renders; the work is in src/ops/stats.ts.

import { resolve } from 'node:path';
import {
  checkpointContentIdOfFile,
  combineStatistics,
  openCheckpointFile,
  readStatisticsInfo,
  STATS_METADATA,
  UsageError,
} from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';

export const statsCommand: CommandSpec = {
  name: 'stats',
  summary: 'statistics for fisher/regmean merges: combine contributors’ sums, print a checkpoint’s content id',
  usage: 'combine <a> <b>… -o <out> | id <model> | show <file> [--json]',
  details:
    'A statistics file (<model stem>.fisher.safetensors or .gram.safetensors beside the model) holds per-tensor\n' +
    `sums and, in __metadata__, ${STATS_METADATA.kind} (fisher|gram), ${STATS_METADATA.checkpoint} (the id 'weft stats id'\n` +
    `prints for the weights they were computed on), ${STATS_METADATA.data} and ${STATS_METADATA.examples} (examples summed).\n` +
    'Merges divide sums by the count and refuse statistics computed for other weights. combine adds the sums and\n' +
    'the counts of several contributors’ files for the same weights.',
  options: {
    output: { type: 'string', short: 'o', description: '<out> the combined statistics file' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values, positionals }) {
    const [action, ...args] = positionals;
    const at = (p: string) => resolve(io.cwd, p);
    if (action === 'combine') {
      if (typeof values.output !== 'string') throw new UsageError('USAGE', 'stats combine needs -o <out>');
      const info = await combineStatistics({ inputs: args.map(at), output: at(values.output) });
      if (values.json) await printJson(io, { output: values.output, ...info });
      else
        await writeOut(
          io.stdout,
          `wrote ${values.output}: ${info.kind} sums of ${info.examples} examples (${info.data}) for checkpoint ${info.checkpoint}\n`,
        );
      return 0;
    }
    if (action === 'id') {
      if (args.length !== 1) throw new UsageError('USAGE', 'usage: weft stats id <model>');
      const id = await checkpointContentIdOfFile({ path: at(args[0]!) });
      if (values.json) await printJson(io, { checkpoint: id });
      else await writeOut(io.stdout, `${id}\n`);
      return 0;
    }
    if (action === 'show') {
      if (args.length !== 1) throw new UsageError('USAGE', 'usage: weft stats show <file>');
      const file = await openCheckpointFile(at(args[0]!));
      try {
        const info = readStatisticsInfo(file.checkpoint.metadata, args[0]!);
        const tensors = file.checkpoint.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
        if (values.json) await printJson(io, { ...(info ?? {}), tensors });
        else
          await writeOut(
            io.stdout,
            info
              ? `${info.kind} sums of ${info.examples} examples (${info.data})\ncheckpoint ${info.checkpoint}\n${tensors.length} tensors\n`
              : `no Weft statistics metadata (values are used as given)\n${tensors.length} tensors\n`,
          );
      } finally {
        await file.source.close();
      }
      return 0;
    }
    throw new UsageError('USAGE', `stats ${action ?? ''}: expected combine, id or show`.replace('  ', ' '));
  },
};
