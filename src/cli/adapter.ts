// `weft adapter apply|extract`: PEFT adapters (LoRA, IA3) into the tracked model with a storage hint, and a
// change between two revisions out as a LoRA adapter.

import { applyAdapter, extractAdapter, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { renderTable } from './render.js';

export const adapterCommand: CommandSpec = {
  name: 'adapter',
  summary: 'apply a PEFT adapter to the tracked model, or extract a change as a LoRA adapter',
  usage: 'apply <adapter-dir> [--model <file>] [--json] | extract <rev-a> <rev-b> --rank <r> -o <dir> [--json]',
  details:
    'apply: merges a PEFT LoRA (W + B·A·alpha/r, alpha/√r with use_rslora) or IA3 adapter into the model file in the\n' +
    'work tree (replaced atomically) and leaves a hint so the next `git add` stores each changed tensor as the\n' +
    "adapter's factors (about the adapter's size) instead of a new copy.\n" +
    'extract: writes adapter_config.json + adapter_model.safetensors approximating, by a rank-r truncated SVD, the\n' +
    'change of every 2-D float tensor <module>.weight between two revisions, and reports the error per tensor.',
  options: {
    model: { type: 'string', description: '<file> the model to change (default: the only tracked file)' },
    rank: { type: 'string', description: '<r> rank of the extracted adapter' },
    output: { type: 'string', short: 'o', description: '<dir> folder for the extracted adapter' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ io, values, positionals }) {
    const [action, ...args] = positionals;
    if (action === 'apply') {
      if (args.length !== 1) throw new UsageError('USAGE', 'adapter apply takes one adapter folder');
      const result = await applyAdapter({
        cwd: io.cwd,
        adapterDir: args[0]!,
        ...(typeof values.model === 'string' ? { model: values.model } : {}),
      });
      if (values.json) await printJson(io, result);
      else {
        const hinted = result.tensors.filter((t) => t.hinted).length;
        await writeOut(
          io.stdout,
          `${result.model}: applied to ${result.tensors.length} tensors (${result.tensors
            .map((t) => `${t.tensor}${t.rank === undefined ? ' (ia3)' : ` r=${t.rank}`}`)
            .join(', ')})\n` +
            (hinted === result.tensors.length
              ? "the next `git add` stores them as the adapter's factors\n"
              : `${result.tensors.length - hinted} of them will be stored as ordinary changes (the model was not committed, or its history is at max_chain)\n`),
        );
      }
      return 0;
    }
    if (action === 'extract') {
      if (args.length !== 2) throw new UsageError('USAGE', 'adapter extract takes two revisions');
      if (typeof values.rank !== 'string' || !/^[1-9][0-9]*$/.test(values.rank)) {
        throw new UsageError('USAGE', 'adapter extract needs --rank <r> (a positive whole number)');
      }
      if (typeof values.output !== 'string') throw new UsageError('USAGE', 'adapter extract needs -o <dir>');
      const result = await extractAdapter({
        cwd: io.cwd,
        from: args[0]!,
        to: args[1]!,
        rank: Number(values.rank),
        outDir: values.output,
      });
      if (values.json) await printJson(io, result);
      else {
        await writeOut(
          io.stdout,
          `wrote ${result.outDir}\n\n${renderTable(
            ['file', 'tensor', '>rank', '>relative error'],
            result.tensors.map((t) => [t.path, t.tensor, String(t.rank), t.relativeError.toExponential(2)]),
          )}`,
        );
      }
      return 0;
    }
    throw new UsageError('USAGE', 'adapter needs apply or extract (see weft adapter --help)');
  },
};
