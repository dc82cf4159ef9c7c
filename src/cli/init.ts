// `weft init`: configure git (this repository, or the user with --global) to run this Weft installation.

import { warmFilterClient } from '../filter.js';
import { initRepo, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';

export const initCommand: CommandSpec = {
  name: 'init',
  summary: 'configure git to version model files with Weft (filter, merge and diff drivers, pre-push hook)',
  usage: '[--global] [--json]',
  details:
    'Sets filter.weft, merge.weft and diff.weft to run this Weft installation (by absolute path, so it works\n' +
    'whether or not weft is on PATH) and installs a pre-push hook, chained after any hook already there.\n' +
    'Where the filter client is built (Linux), git starts the filter through it: it hands each git command to a\n' +
    'warm filter process of the repository when one is waiting (WEFT_WARM_FILTER=0 switches that off).\n' +
    'Idempotent. Then choose files with `weft track <pattern>`.',
  options: {
    global: { type: 'boolean', description: "configure the user's global git config (no hook, no store)" },
    json: { type: 'boolean', description: 'print what changed as JSON' },
  },
  async run({ io, values, positionals }) {
    if (positionals.length > 0) throw new UsageError('USAGE', 'init takes no arguments');
    const client = filterClientCommand();
    const result = await initRepo({
      cwd: io.cwd,
      selfCommand: io.selfCommand,
      global: values.global === true,
      ...(client ? { filterClient: client } : {}),
    });
    if (values.json) {
      await printJson(io, result);
      return 0;
    }
    const lines = [
      result.changedKeys.length > 0
        ? `Weft configured (${result.scope}): ${result.changedKeys.join(', ')}`
        : `Weft already configured (${result.scope})`,
    ];
    if (result.hook?.changed) {
      lines.push(
        `installed pre-push hook ${result.hook.path}${result.hook.chainedPath ? ` (runs ${result.hook.chainedPath} first)` : ''}`,
      );
    }
    await writeOut(io.stdout, `${lines.join('\n')}\n`);
    return 0;
  },
};

/** The filter client, shell-quoted, when it is built (Linux). */
function filterClientCommand(): string | undefined {
  const client = warmFilterClient();
  return client === undefined ? undefined : `'${client.replace(/'/g, `'\\''`)}'`;
}
