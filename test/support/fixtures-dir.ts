// Where the shared fixtures are: $WEFT_FIXTURES, else ../shared/fixtures beside the project, else beside the
// repository this one was cloned from (a fresh clone in a temp folder, as the acceptance checks make). Test-only.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function fromOrigin(): string | undefined {
  try {
    const url = execFileSync('git', ['-C', ROOT, 'remote', 'get-url', 'origin'], { encoding: 'utf8' }).trim();
    const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
    if (!isAbsolute(path)) return undefined;
    const candidate = join(dirname(resolve(path)), 'shared', 'fixtures');
    return existsSync(candidate) ? candidate : undefined;
  } catch {
    return undefined;
  }
}

/** The fixtures folder (without a trailing slash). Tests that need it fail with ENOENT naming this path. */
export const FIXTURES_ROOT: string =
  process.env.WEFT_FIXTURES ??
  (existsSync(join(ROOT, '..', 'shared', 'fixtures')) ? join(ROOT, '..', 'shared', 'fixtures') : undefined) ??
  fromOrigin() ??
  join(ROOT, '..', 'shared', 'fixtures');
