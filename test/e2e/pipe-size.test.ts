// The filter enlarges git's pipes (Linux, with perl): checked on a real pipe with the built module.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const hasPerl = spawnSync('perl', ['-v']).status === 0;

describe('pipe size', () => {
  it.runIf(process.platform === 'linux' && hasPerl)('grows stdin and stdout pipes to 1 MiB', () => {
    const mod = pathToFileURL(join(ROOT, 'dist', 'git', 'pipe-size.js')).href;
    const script = `import(${JSON.stringify(mod)}).then((m) => { const before = m.readPipeSize(0); m.growPipes().then((ran) => process.stderr.write(JSON.stringify({ before, ran, after: m.readPipeSize(0) }))); });`;
    // Node gives children socket pairs, not pipes: let the shell make a real pipe, as git does.
    const r = spawnSync('sh', ['-c', 'printf x | "$0" -e "$1"', process.execPath, script], { encoding: 'utf8' });
    expect(JSON.parse(r.stderr)).toEqual({ before: 65536, ran: true, after: 1048576 });
  });
});
