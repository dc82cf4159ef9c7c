// `weft inspect <path>`: format, metadata and a table of tensors of a checkpoint file or sharded folder.

import { inspectCheckpoint, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';
import { formatBytes, progressReporter, renderTable } from './render.js';

export const inspectCommand: CommandSpec = {
  name: 'inspect',
  summary: 'show the format, metadata and tensors of a checkpoint',
  usage: '<path> [--json] [--hash]',
  details: 'PATH is a checkpoint file or a folder of shards (model.safetensors.index.json).',
  options: {
    json: { type: 'boolean', description: 'print {"format","metadata","tensors","totalBytes"} as JSON' },
    hash: { type: 'boolean', description: 'add the SHA-256 of each tensor’s values (little-endian, row-major)' },
  },
  async run({ io, values, positionals }) {
    const path = positionals[0];
    if (path === undefined || positionals.length > 1) throw new UsageError('USAGE', 'inspect takes exactly one path');
    const progress = progressReporter(io, 'hashing');
    const result = await inspectCheckpoint({
      path,
      hash: values.hash === true,
      onProgress: (done, total) => progress.update(done, total),
    });
    progress.end();
    if (values.json) {
      await printJson(io, {
        format: result.format,
        metadata: result.metadata,
        files: result.files,
        tensors: result.tensors,
        totalBytes: result.totalBytes,
      });
      return 0;
    }
    const lines = [
      `${result.path}: ${result.format}, ${result.tensors.length} tensors, ${formatBytes(result.totalBytes)}`,
    ];
    if (result.files.length > 1) lines.push(`shards: ${result.files.join(', ')}`);
    for (const [k, v] of Object.entries(result.metadata))
      lines.push(`metadata ${k}: ${v.length > 200 ? `${v.slice(0, 200)}…` : v}`);
    const headers = ['name', 'dtype', 'shape', '>size'];
    if (values.hash) headers.push('sha256');
    const rows = result.tensors.map((t) => {
      const row = [
        t.name,
        t.storedType ? `${t.storedType} (as ${t.dtype})` : t.dtype,
        `[${(t.storedShape ?? t.shape).join(', ')}]`,
        formatBytes(t.sizeBytes),
      ];
      if (values.hash) row.push(t.sha256 ?? '');
      return row;
    });
    await writeOut(io.stdout, `${lines.join('\n')}\n\n${renderTable(headers, rows)}`);
    return 0;
  },
};
