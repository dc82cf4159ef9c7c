// `npm run build` (and so `npm ci`): builds the native byte-plane kernels and, on Linux, the filter client
// (native/) with node-gyp against Node's installed headers, never downloading anything. A failed build is one
// warning and exit 0: Weft then runs its JavaScript kernels and starts its filter without the client.
// `node scripts/build-native.mjs --verbose` shows node-gyp's own output.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addon = join(nativeDir, 'build', 'Release', 'weft_kernels.node');
const verbose = process.argv.includes('--verbose');
/** A compile takes about a second; a node-gyp that hangs (on a download it should never start) is cut off. */
const BUILD_TIMEOUT_MS = 5 * 60 * 1000;

function warn(reason) {
  console.warn(
    `weft: warning: native byte-plane kernels not built (${reason}); Weft will use its JavaScript kernels` +
      (verbose ? '' : ' (details: node scripts/build-native.mjs --verbose)'),
  );
  process.exit(0);
}

/** How to run node-gyp: npm's own (npm sets npm_config_node_gyp), else one on PATH, else the one bundled with npm. */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const onPath = (process.env.PATH ?? '').split(delimiter).find((dir) => dir && existsSync(join(dir, 'node-gyp')));
  if (onPath) return [join(onPath, 'node-gyp')];
  const npmClis = [process.env.npm_execpath, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm')];
  const npmOnPath = (process.env.PATH ?? '').split(delimiter).find((dir) => dir && existsSync(join(dir, 'npm')));
  if (npmOnPath) npmClis.push(realpathSync(join(npmOnPath, 'npm')));
  for (const cli of npmClis) {
    if (!cli || !existsSync(cli)) continue;
    // npm_execpath and the npm on PATH are <npm>/bin/npm-cli.js; the other candidate is <npm> itself.
    for (const npmDir of [cli, dirname(dirname(cli))]) {
      const script = join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
      if (existsSync(script)) return [process.execPath, script];
    }
  }
  return undefined;
}

/**
 * node-gyp's option for local headers: the `nodedir` npm is configured with (npm passes it on), else the prefix
 * this node is installed in when it ships its headers (Debian's /usr/include/node, the official tarballs'
 * include/node), else none when node-gyp's header cache already holds them. Undefined: they would be downloaded.
 */
function headersOption() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  const cacheRoot =
    process.env.npm_config_devdir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'node-gyp');
  const version = process.version.slice(1);
  if (existsSync(join(cacheRoot, version, 'include', 'node', 'node_api.h'))) return [];
  return undefined;
}

const gyp = nodeGyp();
if (!gyp) warn('node-gyp not found');
const headers = headersOption();
if (!headers) warn(`no local headers for Node ${process.version} (node-gyp would download them)`);

const [command, ...prefixArgs] = gyp;
const result = spawnSync(command, [...prefixArgs, 'rebuild', ...headers], {
  cwd: nativeDir,
  stdio: verbose ? 'inherit' : 'pipe',
  encoding: 'utf8',
  timeout: BUILD_TIMEOUT_MS,
});
if (result.error) warn(`node-gyp did not run: ${result.error.message}`);
if (result.status !== 0) {
  const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`;
  const lines = output.split('\n').map((line) => line.trim());
  const firstError =
    lines.find((line) => /not found|error:/i.test(line) && !line.startsWith('gyp ERR!')) ??
    lines.find((line) => /\berror\b/i.test(line) && !line.startsWith('gyp ERR!')) ??
    lines.find((line) => line.startsWith('gyp ERR! stack Error:')) ??
    `node-gyp exited with ${result.status ?? result.signal}`;
  warn(firstError.replace(/^gyp ERR! stack /, ''));
}

// A built addon that cannot load (wrong architecture, missing symbol) is worth knowing about now, not at run time.
try {
  const kernels = createRequire(import.meta.url)(addon);
  const out = new Uint8Array(4);
  kernels.join([Uint8Array.of(1, 3), Uint8Array.of(2, 4)], 2, out);
  if (out.join() !== '1,2,3,4') throw new Error(`join gave ${out.join()}`);
} catch (error) {
  // Removed, so that Weft's loader does not find it and use it.
  rmSync(join(nativeDir, 'build'), { recursive: true, force: true });
  warn(`the built addon does not work: ${error instanceof Error ? error.message : error}`);
}
const client = join(nativeDir, 'build', 'Release', 'weft_filter_client');
console.log(
  existsSync(client)
    ? 'weft: native byte-plane kernels and filter client built (native/build/Release/)'
    : 'weft: native byte-plane kernels built (native/build/Release/weft_kernels.node)',
);
