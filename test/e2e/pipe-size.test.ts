// The filter enlarges git's pipes (Linux): with the native addon's fcntl, and with perl where the addon is absent
// (WEFT_NO_NATIVE=1); checked on a real pipe with the built module.
import { spawn, spawnSync } from 'node:child_process';
import { constants, createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from './helpers.js';

const hasPerl = spawnSync('perl', ['-v']).status === 0;

function grow(env: Record<string, string>): unknown {
  const mod = pathToFileURL(join(ROOT, 'dist', 'git', 'pipe-size.js')).href;
  const native = pathToFileURL(join(ROOT, 'dist', 'store', 'native-kernels.js')).href;
  const script = `Promise.all([import(${JSON.stringify(mod)}), import(${JSON.stringify(native)})]).then(([m, n]) => { const before = m.readPipeSize(0); m.growPipes().then((ran) => process.stderr.write(JSON.stringify({ native: typeof n.nativeKernels()?.pipeSize === 'function', before, ran, after: m.readPipeSize(0) }))); });`;
  // Node gives children socket pairs, not pipes: let the shell make a real pipe, as git does.
  const r = spawnSync('sh', ['-c', 'printf x | "$0" -e "$1"', process.execPath, script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return JSON.parse(r.stderr);
}

describe('pipe size', () => {
  it.runIf(process.platform === 'linux' && process.env.WEFT_REQUIRE_NATIVE === '1')(
    'grows stdin and stdout pipes to 1 MiB with the native addon (no process started)',
    () => {
      expect(grow({})).toEqual({ native: true, before: 65536, ran: true, after: 1048576 });
    },
  );

  it.runIf(process.platform === 'linux' && hasPerl)('grows them with perl where the addon is absent', () => {
    expect(grow({ WEFT_NO_NATIVE: '1' })).toEqual({ native: false, before: 65536, ran: true, after: 1048576 });
  });
});

describe("the filter's stdin", () => {
  // The filter reads git's pipe with blocking reads (stream-reader.ts). Building process.stdin (which importing
  // node:process does, through its ESM facade) makes the pipe non-blocking: the reads are refused and every byte
  // goes through libuv and a copy — ~15% slower re-cleans, silently. Loading the filter must not do that.
  it.runIf(process.platform === 'linux')('stays blocking when the filter code is loaded, bundled or not', () => {
    const modules = ['filter.bundle.js', 'cli/filter-process.js', 'ops/clean.js', 'ops/smudge.js', 'ops/fetch.js'].map(
      (m) => pathToFileURL(join(ROOT, 'dist', m)).href,
    );
    const flags =
      "Number.parseInt(/flags:\\s*(\\d+)/.exec(require('fs').readFileSync('/proc/self/fdinfo/0', 'utf8'))[1], 8)";
    const script = `const before = ${flags}; Promise.all(${JSON.stringify(modules)}.map((m) => import(m))).then(() => setTimeout(() => process.stderr.write(JSON.stringify({ before: (before & 0o4000) !== 0, after: (${flags} & 0o4000) !== 0 })), 50));`;
    const r = spawnSync('sh', ['-c', 'printf x | "$0" -e "$1"', process.execPath, script], { encoding: 'utf8' });
    expect(JSON.parse(r.stderr)).toEqual({ before: false, after: false });
  });
});

describe("the filter's pipes while it serves git", () => {
  // Node makes the descriptors it builds streams on non-blocking (process.stdin, process.stdout, and a Worker builds
  // process.stdout to pass its output on), and the flag belongs to the pipe git shares: the filter's blocking reads
  // would be refused and its writes to fd 1 fail with EAGAIN (a checkout then hangs).
  it.runIf(process.platform === 'linux')(
    'are blocking after the handshake, its threads started (the filter builds no stream on them)',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'weft-fdflags-'));
      try {
        spawnSync('git', ['init', '-q'], { cwd: dir });
        // Named pipes: what git gives a filter (Node would give a child socket pairs).
        const [input, output] = [join(dir, '.git', 'in'), join(dir, '.git', 'out')];
        spawnSync('mkfifo', [input, output]);
        const child = spawn(
          'sh',
          ['-c', 'exec "$0" "$1" filter-process < "$2" > "$3"', process.execPath, CLI, input, output],
          {
            cwd: dir,
            stdio: 'inherit',
          },
        );
        const toFilter = createWriteStream(input);
        const fromFilter = createReadStream(output);
        const pkt = (text: string) => `${(text.length + 4).toString(16).padStart(4, '0')}${text}`;
        toFilter.write(`${pkt('git-filter-client\n')}${pkt('version=2\n')}0000`);
        toFilter.write(`${pkt('capability=clean\n')}${pkt('capability=smudge\n')}0000`);
        let answer = '';
        await new Promise<void>((resolve, reject) => {
          fromFilter.on('data', (d: string | Buffer) => {
            answer += d.toString();
            if (answer.split('0000').length > 2) resolve();
          });
          child.on('exit', () => reject(new Error(`the filter exited: ${answer}`)));
        });
        expect(answer).toContain('capability=clean');
        await new Promise((resolve) => setTimeout(resolve, 200)); // its worker threads are up by now
        const nonBlocking = (fd: number) =>
          (Number.parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/${child.pid}/fdinfo/${fd}`, 'utf8'))![1]!, 8) &
            constants.O_NONBLOCK) !==
          0;
        expect({ 0: nonBlocking(0), 1: nonBlocking(1) }).toEqual({ 0: false, 1: false });
        toFilter.end();
        await new Promise((resolve) => child.once('exit', resolve));
        fromFilter.destroy();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
