// `weft filter-process`: git's long-running clean/smudge filter (run by git, not by people). With `--warm`, a warm
// filter process that waits for git's next command in this repository (ops/warm-filter.ts).

import { realpathSync } from 'node:fs';
import { runFilterProcess, serveWarm, startWarmFilter, warmFilterSupported, warmUpFilter } from '../filter.js';
import { type CliIO, type CommandSpec, describeFailure } from './command.js';

// For the tests: what the built filter (its one-file bundle included) finds at run time.
export { filterRuntime } from '../filter.js';

function runFilter(io: CliIO): Promise<void> {
  return runFilterProcess({
    cwd: io.cwd,
    // git's pipe is read straight from fd 0 into reused buffers (no stream, no garbage per 64 KiB read).
    input: io.processStdio ? { fd: 0 } : io.stdin,
    // With this process's stdio the filter writes fd 1 itself: process.stdout is never built (see main.ts).
    ...(io.processStdio ? {} : { output: io.stdout }),
    growStdioPipes: io.processStdio,
    env: io.env,
    warn: (message) => io.stderr.write(`weft: ${message.split('\n')[0]}\n`),
  });
}

export const filterProcessCommand: CommandSpec = {
  name: 'filter-process',
  summary: "git's clean/smudge filter process (configured by weft init)",
  usage: '[--warm [--listen-fd <fd>]]',
  details:
    'With --warm: wait (in the background, started by a filter run) for the next git command in this repository,' +
    ' handed over by the filter client; WEFT_WARM_FILTER=0 switches warm processes off.',
  hidden: true,
  options: {
    warm: { type: 'boolean', description: 'wait for git as a warm filter process' },
    'listen-fd': { type: 'string', description: '<fd> the socket to accept on (from the previous warm process)' },
  },
  async run({ io, values }) {
    const mainScript = process.argv[1] ? realpathSync(process.argv[1]) : '';
    if (values.warm === true) {
      if (!io.processStdio) return 0;
      const listenFd = typeof values['listen-fd'] === 'string' ? Number(values['listen-fd']) : undefined;
      return serveWarm({
        mainScript,
        ...(listenFd !== undefined && Number.isInteger(listenFd) && listenFd > 2 ? { listenFd } : {}),
        warmUp: warmUpFilter,
        // Benchmarks read a filter's peak memory from git's stderr (main.ts writes it at exit, by then to nowhere).
        served: () => {
          if (io.env.WEFT_REPORT_MAXRSS)
            io.stderr.write(`weft: max-rss-bytes ${process.resourceUsage().maxRSS * 1024}\n`);
        },
        serve: async () => {
          try {
            await runFilter(io);
            return 0;
          } catch (error) {
            const { text, code } = describeFailure(error);
            io.stderr.write(text);
            return code;
          }
        },
      });
    }
    await runFilter(io);
    // Started by the filter client (native/weft_filter_client.c) and no warm process took this command: start
    // one for the next.
    if (io.processStdio && io.env.WEFT_FILTER_CLIENT === '1' && warmFilterSupported(io.env)) {
      startWarmFilter({ cwd: io.cwd, env: io.env, mainScript });
    }
    return 0;
  },
};
