// `weft init`: configure git (this repository, or the user with --global) to run this Weft installation.

import { initRepo, UsageError } from '../index.js';
import { type CommandSpec, printJson, writeOut } from './command.js';

export const initCommand: CommandSpec = {
  name: 'init',
  summary: 'configure git to version model files with Weft (filter, merge and diff drivers, pre-push hook)',
  usage: '[--global] [--json]',
  details:
    'Sets filter.weft, merge.weft and diff.weft to run this Weft installation (by absolute path, so it works\n' +
    'whether or not weft is on PATH) and installs a pre-push hook, chained after any hook already there.\n' +
    'Idempotent. Then choose files with `weft track <pattern>`.',
  options: {
    global: { type: 'boolean', description: "configure the user's global git config (no hook, no store)" },
    json: { type: 'boolean', description: 'print what changed as JSON' },
  },
  async run({ io, values, positionals }) {
    if (positionals.length > 0) throw new UsageError('USAGE', 'init takes no arguments');
    const result = await initRepo({ cwd: io.cwd, selfCommand: io.selfCommand, global: values.global === true });
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
