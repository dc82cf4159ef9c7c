// `weft filter-process`: git's long-running clean/smudge filter (run by git, not by people).

import { runFilterProcess } from '../filter.js';
import type { CommandSpec } from './command.js';

// For the tests: what the built filter (its one-file bundle included) finds at run time.
export { filterRuntime } from '../filter.js';

export const filterProcessCommand: CommandSpec = {
  name: 'filter-process',
  summary: "git's clean/smudge filter process (configured by weft init)",
  usage: '',
  hidden: true,
  options: {},
  async run({ io }) {
    await runFilterProcess({
      cwd: io.cwd,
      // git's pipe is read straight from fd 0 into reused buffers (no stream, no garbage per 64 KiB read).
      input: io.processStdio ? { fd: 0 } : io.stdin,
      // With this process's stdio the filter writes fd 1 itself: process.stdout is never built (see main.ts).
      ...(io.processStdio ? {} : { output: io.stdout }),
      growStdioPipes: io.processStdio,
      env: io.env,
      warn: (message) => io.stderr.write(`weft: ${message.split('\n')[0]}\n`),
    });
    return 0;
  },
};
