#!/usr/bin/env node
// The only file that touches `process`: parses argv against the command table, runs the command, and maps
// errors to exit codes (0 ok, 1 "no", 2 bad input or usage with one line, 3 internal with a stack).

import { realpathSync, statSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { EXIT_BAD_INPUT, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { type CliIO, type CommandSpec, describeFailure } from './command.js';

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function commandHelp(c: CommandSpec): string {
  const lines = [`usage: weft ${c.name} ${c.usage}`.trimEnd(), '', `${c.summary}.`];
  if (c.details) lines.push('', c.details);
  const opts = Object.entries(c.options);
  opts.push(['help', { type: 'boolean', short: 'h', description: 'show this help' }]);
  lines.push('', 'options:');
  const rows = opts.map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' <value>' : ''}`;
    return [flag, o.description];
  });
  const w = Math.max(...rows.map((r) => r[0]!.length));
  for (const [f, d] of rows) lines.push(`  ${f!.padEnd(w)}  ${d}`);
  return `${lines.join('\n')}\n`;
}

function mainHelp(COMMANDS: readonly CommandSpec[]): string {
  const visible = COMMANDS.filter((c) => !c.hidden);
  const w = Math.max(...visible.map((c) => c.name.length));
  return [
    'usage: weft <command> [options]',
    '',
    'Weft: version control for model checkpoints (git-native, exact, cheap updates).',
    '',
    'commands:',
    ...visible.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    "Run 'weft <command> --help' for a command's options.",
    '',
  ].join('\n');
}

/**
 * dist/filter.bundle.js when the build made it from the modules that are there now: tsc rewrites every module it
 * emits, so a bundle older than the filter's entry module is from an earlier build (a `tsc` run alone), and the
 * modules run instead of stale code.
 */
function freshFilterBundle(): URL | undefined {
  const bundle = new URL('../filter.bundle.js', import.meta.url);
  const built = statSync(bundle, { throwIfNoEntry: false });
  const entry = statSync(new URL('./filter-process.js', import.meta.url), { throwIfNoEntry: false });
  return built && entry && built.mtimeMs >= entry.mtimeMs ? bundle : undefined;
}

async function main(argv: string[]): Promise<number> {
  const script = process.argv[1] ? realpathSync(process.argv[1]) : '';
  const io: CliIO = {
    cwd: process.cwd(),
    env: process.env,
    // A getter: touching process.stdin makes fd 0 non-blocking, and the filter process reads fd 0 directly.
    get stdin() {
      return process.stdin;
    },
    // Lazily too: building process.stdout makes fd 1 non-blocking, and the filter process writes fd 1 itself.
    get stdout() {
      return process.stdout;
    },
    stderr: process.stderr,
    processStdio: true,
    stderrIsTTY: process.stderr.isTTY === true,
    selfCommand: `${shellQuote(process.execPath)} ${shellQuote(script)}`,
  };
  const [name, ...rest] = argv;
  // git starts the filter for every add and checkout: load its module alone (half the start-up of the whole CLI),
  // from the one-file bundle when the build made it (scripts/build-filter.mjs: faster still).
  // `--warm [--listen-fd <fd>]`: a warm filter process (ops/warm-filter.ts), the same code.
  const warm = rest[0] === '--warm' && (rest.length === 1 || (rest.length === 3 && rest[1] === '--listen-fd'));
  if (name === 'filter-process' && (rest.length === 0 || warm)) {
    const bundle = process.env.WEFT_NO_FILTER_BUNDLE === '1' ? undefined : freshFilterBundle();
    const { filterProcessCommand } = (
      bundle ? await import(bundle.href) : await import('./filter-process.js')
    ) as typeof import('./filter-process.js');
    const values = warm ? { warm: true, ...(rest[2] === undefined ? {} : { 'listen-fd': rest[2] }) } : {};
    return filterProcessCommand.run({ io, values, positionals: [] });
  }
  // `weft log | head`: a closed stdout ends the command quietly. (Not for the filter: building process.stdout makes
  // fd 1 non-blocking.)
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  const { COMMANDS } = await import('./commands.js');
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(target ? commandHelp(target) : mainHelp(COMMANDS));
    return name === undefined ? EXIT_BAD_INPUT : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`weft ${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError('USAGE', `'${name}' is not a weft command; see 'weft --help'`);
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const [k, o] of Object.entries(command.options)) {
    options[k] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError('USAGE', `${name}: ${(e as Error).message.split('\n')[0]}; see 'weft ${name} --help'`);
  }
  if (parsed.values.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
  for (const [k, o] of Object.entries(command.options))
    if (values[k] === undefined && o.default !== undefined) values[k] = o.default;
  return command.run({ io, values, positionals: parsed.positionals });
}

// Benchmarks read the peak memory of a real CLI run (including filter processes started by git) from here.
if (process.env.WEFT_REPORT_MAXRSS) {
  process.on('exit', () => process.stderr.write(`weft: max-rss-bytes ${process.resourceUsage().maxRSS * 1024}\n`));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const { text, code } = describeFailure(error);
    process.stderr.write(text);
    process.exitCode = code;
  },
);
