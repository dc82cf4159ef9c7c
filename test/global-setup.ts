// Builds dist/ once before the tests: end-to-end tests run the real CLI the way git does (node dist/cli/main.js).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  // Set by people running a few unit tests while dist/ is being rebuilt elsewhere (it skips the build).
  if (process.env.WEFT_SKIP_BUILD === '1') return;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
}
