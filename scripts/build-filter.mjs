// `npm run build` (after tsc): bundles the filter process — `weft filter-process`, which git starts for every
// `git add` and `git checkout` of a tracked file — into one file, dist/filter.bundle.js. Node loads one file of
// ~430 KB in a fraction of the time it takes to load the ~64 modules it is made of (a re-clean of 1 GiB: 0.90 s ->
// 0.85 s; docs/benchmarks.md). dist/cli/main.js runs it when it is there and not older than
// dist/cli/filter-process.js: a `tsc` run alone leaves the modules running (so does WEFT_NO_FILTER_BUNDLE=1).
//
// - Input is tsc's output (dist/**/*.js), so the bundle is exactly the code the tests build and check.
// - errors.js stays a module of its own, shared with dist/cli/main.js: one WeftError class in the process.
// - The bundle lives in dist/ itself, where src/build-root.ts points every module, bundled or not, for the files
//   beside them (the codec worker script, the native addon).
// - Nothing is downloaded: esbuild's binary comes in its platform package from the npm registry. Without esbuild
//   (or if bundling fails) this prints one warning, removes any old bundle and exits 0: the modules then run.
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const entry = join(dist, 'cli', 'filter-process.js');
const outfile = join(dist, 'filter.bundle.js');

function skip(reason) {
  rmSync(outfile, { force: true });
  console.warn(`weft: warning: filter bundle not built (${reason}); the filter will load its modules one by one`);
  process.exit(0);
}

if (!existsSync(entry)) skip(`${entry} is missing: run tsc first`);
let esbuild;
try {
  esbuild = await import('esbuild');
} catch (error) {
  skip(`esbuild is not installed: ${String(error).split('\n')[0]}`);
}

/** Every import of errors.js resolves to dist/errors.js, left out of the bundle. */
const sharedErrors = {
  name: 'weft-shared-errors',
  setup(build) {
    build.onResolve({ filter: /(^|\/)errors\.js$/ }, (args) =>
      args.kind === 'entry-point' ? undefined : { path: './errors.js', external: true },
    );
  },
};

try {
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [sharedErrors],
    legalComments: 'none',
    logLevel: 'silent',
  });
} catch (error) {
  skip(String(error).split('\n')[0]);
}
